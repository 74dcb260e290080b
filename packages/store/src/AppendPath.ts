import { MessageConst, RecordLayout, tagsHashCode, toStorableIPv4 } from "@tidemq/protocol";
import type { CommitLog, Reservation } from "./CommitLog.js";
import type { ResolvedConfig } from "./config.js";
import type { Dispatcher } from "./Dispatcher.js";
import type { PutWaiters } from "./PutWaiters.js";
import type { QueueTable } from "./QueueTable.js";
import { hostBytes, ipv4Int, type RecordContext, recordSize, writeRecord } from "./RecordCodec.js";
import { copyPropsBytes, RecordCopy, writeCopy } from "./RecordCopy.js";
import { messageIllegal } from "./StoreError.js";
import type { MessageInput, PutResult, QueueState, TopicState } from "./StoreTypes.js";
import { encodeProps, hex32, takesQueueEntry } from "./storeRecords.js";
import type { Block } from "./TailBlocks.js";

const NO_PROPERTIES: Record<string, string> = Object.freeze({});
/** msgIds of results whose caller asked for none (shared; never written to). */
const NO_IDS = Object.freeze([]) as unknown as string[];

/**
 * The append path: checks messages, reserves room in the commit log, encodes the records in
 * place, hands out queue offsets, queues each record's dispatch and returns a promise
 * answered once dispatch has passed the records (confirmed and visible). Also the entry for
 * replicated bytes: already-encoded records copied at the source's physical offsets.
 */
export class AppendPath {
  /** Scratch for the encoded properties of one append (reused: no array per put). */
  private propsScratch: (string | Buffer)[] = [];
  private propsBytesScratch: number[] = [];
  private bornIpScratch: number[] = [];
  /** Scratch for the source blocks of the copies of one append (cleared after it). */
  private copySources: (Block | undefined)[] = [];
  private msgIdHi = -1;
  private msgIdHiPrefix = "";
  private readonly bornIps = new Map<string, number>();
  private readonly storeIp: number;
  /** Store host and port in uppercase hex: every offsetMsgId starts with it. */
  readonly msgIdPrefix: string;
  putTimes = 0;
  putBytes = 0;
  /**
   * Told of every local append right after its records are encoded, before anything is
   * written or answered: where the log ended before (a gap up to `offset` is the previous
   * segment's blank filler) and the records' bytes (a view: copy to keep). A replicated log
   * (Raft) turns each call into one log entry.
   */
  onLocalAppend: ((prevEnd: number, offset: number, bytes: Buffer) => void) | undefined;

  constructor(
    private readonly cfg: ResolvedConfig,
    private readonly log: CommitLog,
    private readonly table: QueueTable,
    private readonly dispatcher: Dispatcher,
    private readonly waiters: PutWaiters,
  ) {
    this.msgIdPrefix = hostBytes(cfg.storeHost.host, cfg.storeHost.port).toString("hex").toUpperCase();
    this.storeIp = ipv4Int(cfg.storeHost.host);
  }

  /** Checks one message and encodes its properties into the scratch slot `i`; returns its record size. */
  private prepare(m: MessageInput, t: TopicState, i: number): number {
    if (!Buffer.isBuffer(m.body)) throw messageIllegal("message body is not a Buffer");
    if (m.body.length > this.cfg.maxMessageSize) {
      throw messageIllegal(
        `message body of ${m.body.length} bytes exceeds maxMessageSize ${this.cfg.maxMessageSize}`,
      );
    }
    const props = m.encodedProperties ?? encodeProps(m.properties);
    const ownBytes =
      typeof props !== "string" ? props.length : props.length === 0 ? 0 : Buffer.byteLength(props, "utf8");
    const propsBytes =
      m.encodedProperties === undefined ? ownBytes : ownBytes + (m.encodedPropertiesSuffix?.length ?? 0);
    if (propsBytes > 32767) throw messageIllegal(`properties of ${propsBytes} bytes exceed 32767`);
    // Resolved before the reservation: nothing may throw once records are being written.
    if (m.bornHost === null || typeof m.bornHost !== "object") throw messageIllegal("bornHost is missing");
    this.bornIpScratch[i] = this.bornIp(m.bornHost.host);
    this.propsScratch[i] = props;
    this.propsBytesScratch[i] = propsBytes;
    return recordSize(m.body.length, t.buf.length, propsBytes);
  }

  /**
   * Writes one record at `pos` of the reservation and queues its dispatch; returns its
   * queue offset (0 for PREPARED/ROLLBACK transaction records, which take none).
   */
  private writeOne(
    r: Reservation,
    pos: number,
    m: MessageInput,
    q: QueueState,
    i: number,
    size: number,
    offset: number,
    ctx: RecordContext,
  ): number {
    const inQueue = takesQueueEntry(m.sysFlag);
    const queueOffset = inQueue ? q.next++ : 0;
    writeRecord(
      r.buf,
      r.view,
      pos,
      size,
      m,
      q.queueId,
      q.topic.buf,
      this.propsScratch[i]!,
      this.propsBytesScratch[i]!,
      m.encodedProperties === undefined ? undefined : m.encodedPropertiesSuffix,
      queueOffset,
      offset,
      this.bornIpScratch[i]!,
      ctx,
    );
    const encoded = m.encodedProperties !== undefined;
    const props = encoded ? NO_PROPERTIES : (m.properties ?? NO_PROPERTIES);
    this.dispatcher.push({
      q,
      queueOffset,
      offset,
      size,
      tagsCode: m.tagsCode ?? tagsHashCode(props[MessageConst.TAGS]),
      storeTimestamp: ctx.storeTimestamp,
      keys: (encoded ? m.keys : props[MessageConst.KEYS]) || undefined,
      uniq: (encoded ? m.uniqKey : props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX]) || undefined,
      inQueue,
    });
    return queueOffset;
  }

  /**
   * putMessage (msgs undefined: just `first`) and putMessages (one topic and queue); `ids`
   * false: no msgIds (the caller knows the records' offsets from commitLogOffset and
   * recordSizes).
   */
  appendGroup(first: MessageInput, msgs: MessageInput[] | undefined, ids = true): Promise<PutResult> {
    const n = msgs ? msgs.length : 1;
    const t = this.table.topicForPut(first.topic);
    const q = this.table.queueForPut(t, first.queueId);
    let total = 0;
    const sizes = n === 1 ? undefined : new Array<number>(n);
    let size0 = 0;
    for (let i = 0; i < n; i++) {
      const m = msgs ? msgs[i]! : first;
      if (m.topic !== t.name || m.queueId !== q.queueId)
        throw messageIllegal("a batch must go to one topic and queue");
      const size = this.prepare(m, t, i);
      if (sizes) sizes[i] = size;
      else size0 = size;
      total += size;
    }
    const prevEnd = this.log.maxOffset;
    const r = this.log.reserve(total);
    const ctx = this.recordContext();
    let firstQo = -1;
    const msgIds: string[] = ids ? new Array(n) : NO_IDS;
    let pos = r.pos;
    let offset = r.offset;
    for (let i = 0; i < n; i++) {
      const m = msgs ? msgs[i]! : first;
      const size = sizes ? sizes[i]! : size0;
      const qo = this.writeOne(r, pos, m, q, i, size, offset, ctx);
      if (firstQo < 0) firstQo = qo;
      if (ids) msgIds[i] = this.msgId(offset);
      pos += size;
      offset += size;
    }
    this.onLocalAppend?.(prevEnd, r.offset, r.buf.subarray(r.pos, r.pos + total));
    this.publish(n, total);
    return this.waiters.add(r.offset + total, ctx.storeTimestamp, {
      status: "PUT_OK",
      queueOffset: firstQo,
      commitLogOffset: r.offset,
      msgIds,
      count: n,
      storeTimestamp: ctx.storeTimestamp,
      recordSizes: sizes,
    });
  }

  /**
   * putMessagesBatch: many independent messages, one reservation and one promise (`ids` false:
   * no msgIds). A RecordCopy whose source is in the in-memory tail is written as a splice of
   * the source's bytes (copy*), else as its fallback input; ordinary inputs go through
   * prepare/writeOne as single sends do (kept apart so those stay as they were).
   */
  appendIndependent(msgs: readonly (MessageInput | RecordCopy)[], ids = true): Promise<PutResult[]> {
    const n = msgs.length;
    let items = msgs;
    const qs: QueueState[] = new Array(n);
    const sizes: number[] = new Array(n);
    let total = 0;
    let copies = 0;
    for (let i = 0; i < n; i++) {
      let m = items[i]!;
      if (m === null || typeof m !== "object") throw messageIllegal("message is not an object");
      if (m instanceof RecordCopy) {
        const t = this.table.topicForPut(m.topic);
        qs[i] = this.table.queueForPut(t, m.queueId);
        const size = this.prepareCopy(m, t, i);
        if (size > 0) {
          sizes[i] = size;
          total += size;
          copies++;
          continue;
        }
        if (items === msgs) items = msgs.slice();
        m = (items as (MessageInput | RecordCopy)[])[i] = m.fallback();
      }
      const t = this.table.topicForPut(m.topic);
      qs[i] = this.table.queueForPut(t, m.queueId);
      const size = this.prepare(m, t, i);
      sizes[i] = size;
      total += size;
    }
    const prevEnd = this.log.maxOffset;
    const r = this.log.reserve(total);
    const ctx = this.recordContext();
    const results: PutResult[] = new Array(n);
    let pos = r.pos;
    let offset = r.offset;
    for (let i = 0; i < n; i++) {
      const size = sizes[i]!;
      const m = items[i]!;
      const qo =
        m instanceof RecordCopy
          ? this.writeCopyAt(r, pos, m, qs[i]!, i, size, offset, ctx)
          : this.writeOne(r, pos, m, qs[i]!, i, size, offset, ctx);
      results[i] = {
        status: "PUT_OK",
        queueOffset: qo,
        commitLogOffset: offset,
        msgIds: ids ? [this.msgId(offset)] : NO_IDS,
        count: 1,
        storeTimestamp: ctx.storeTimestamp,
      };
      pos += size;
      offset += size;
    }
    if (copies > 0) this.copySources.fill(undefined, 0, n);
    this.onLocalAppend?.(prevEnd, r.offset, r.buf.subarray(r.pos, r.pos + total));
    this.publish(n, total);
    return this.waiters.add(r.offset + total, ctx.storeTimestamp, results);
  }

  /**
   * A copy's record size, its source's block noted in the scratch slot `i`; 0 when the source
   * is not in the tail or not the record the copy describes (its fallback is stored then). The
   * block stays valid until the append's records are written: nothing is recycled within it.
   */
  private prepareCopy(c: RecordCopy, t: TopicState, i: number): number {
    const b = this.log.tailRecord(c.sourceOffset);
    if (!b) return 0;
    const at = c.sourceOffset - b.start;
    const propsBytes = copyPropsBytes(c, b.buf, b.view, at);
    if (propsBytes < 0) return 0;
    this.copySources[i] = b;
    this.propsBytesScratch[i] = propsBytes;
    return recordSize(b.view.getInt32(at + RecordLayout.BODY_LENGTH), t.buf.length, propsBytes);
  }

  /** writeOne for a copy prepared by prepareCopy (COMMIT or NOT type: it takes a queue entry). */
  private writeCopyAt(
    r: Reservation,
    pos: number,
    c: RecordCopy,
    q: QueueState,
    i: number,
    size: number,
    offset: number,
    ctx: RecordContext,
  ): number {
    const b = this.copySources[i]!;
    const inQueue = takesQueueEntry(c.sysFlag);
    const queueOffset = inQueue ? q.next++ : 0;
    writeCopy(
      r.buf,
      r.view,
      pos,
      size,
      c,
      b.buf,
      b.view,
      c.sourceOffset - b.start,
      q.queueId,
      q.topic.buf,
      this.propsBytesScratch[i]!,
      queueOffset,
      offset,
      ctx.storeTimestamp,
      ctx.storeIp,
      ctx.storePort,
    );
    // The same fields, in the same order, as writeOne's (one shape for the dispatcher).
    this.dispatcher.push({
      q,
      queueOffset,
      offset,
      size,
      tagsCode: c.tagsCode,
      storeTimestamp: ctx.storeTimestamp,
      keys: c.keys || undefined,
      uniq: c.uniqKey || undefined,
      inQueue,
    });
    return queueOffset;
  }

  /**
   * Appends already-encoded records at exactly `offset` (what a slave receives from its
   * master; what a Raft follower applies): copied verbatim, so physical offsets, queue
   * offsets and offsetMsgIds are the source's. `data` holds whole records (and maybe the
   * source's end-of-segment blank filler), within one source segment of `segmentSize`
   * bytes. The records are decoded for dispatch (consume queues, index) as recovery does.
   * Resolves once they are confirmed (written; flushed under SYNC_FLUSH) and dispatched;
   * FLUSH_DISK_TIMEOUT if that took longer than syncFlushTimeout.
   */
  appendReplicated(offset: number, data: Buffer, segmentSize: number): Promise<PutResult> {
    if (data.length === 0) return Promise.reject(new RangeError("no replicated bytes"));
    // Decoded (and so checked) before anything is reserved: a bad chunk changes nothing.
    const { items, fillerEnd } = this.dispatcher.decodeReplicated(offset, data);
    const r = this.log.reserveAt(offset, data.length, segmentSize, fillerEnd);
    data.copy(r.buf, r.pos);
    for (const item of items) this.dispatcher.push(item);
    this.publish(items.length, data.length);
    const now = Date.now();
    // Waits for the last record's dispatch (a trailing blank filler is never dispatched).
    const last = items.at(-1);
    return this.waiters.add(last ? last.offset + last.size : offset, now, {
      status: "PUT_OK",
      queueOffset: -1,
      commitLogOffset: offset,
      msgIds: [],
      count: items.length,
      storeTimestamp: now,
    });
  }

  private recordContext(): RecordContext {
    return { storeTimestamp: Date.now(), storeIp: this.storeIp, storePort: this.cfg.storeHost.port };
  }

  /** Hands the reserved records to the log's writer and counts them. */
  private publish(n: number, bytes: number): void {
    this.log.publish();
    this.putTimes += n;
    this.putBytes += bytes;
    if (n > 1024) this.trimScratch();
  }

  /** offsetMsgId: store host + offset in hex (the host and high offset word are cached). */
  msgId(offset: number): string {
    const hi = Math.floor(offset / 4294967296);
    if (hi !== this.msgIdHi) {
      this.msgIdHi = hi;
      this.msgIdHiPrefix = this.msgIdPrefix + hex32(hi);
    }
    return this.msgIdHiPrefix + hex32(offset >>> 0);
  }

  /** Drops what a big batch left in the scratch arrays (their strings stay alive otherwise). */
  private trimScratch(): void {
    this.propsScratch = [];
    this.propsBytesScratch = [];
    this.bornIpScratch = [];
    this.copySources = [];
  }

  private bornIp(host: string | undefined): number {
    let ip = this.bornIps.get(host as string);
    if (ip === undefined) {
      ip = ipv4Int(toStorableIPv4(host));
      if (this.bornIps.size > 4096) this.bornIps.clear();
      this.bornIps.set(host as string, ip);
    }
    return ip;
  }
}
