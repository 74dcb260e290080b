import fs from "node:fs";
import { join } from "node:path";
import {
  afterSyncRun,
  javaStringHashCode,
  MessageConst,
  MessageSysFlag,
  RecordLayout,
  readLong,
  tagsHashCode,
  toStorableIPv4,
  transactionType,
} from "@tidemq/protocol";
import { readCheckpoint, writeCheckpoint } from "./Checkpoint.js";
import { CommitLog, type Reservation, type ScannedRecord } from "./CommitLog.js";
import { ConsumeQueue, CQ_ENTRY_BYTES, CqChunkCache } from "./ConsumeQueue.js";
import { type MessageStoreConfig, parseDeleteWhen, type ResolvedConfig, resolveConfig } from "./config.js";
import { diskUsedRatio } from "./DiskSpace.js";
import { exists, ReadFdCache, writeFileDurable } from "./fsx.js";
import { IndexService } from "./IndexService.js";
import { hostBytes, ipv4Int, type RecordContext, recordSize, writeRecord } from "./RecordCodec.js";
import { retentionDecision, segmentExpired } from "./Retention.js";
import { messageIllegal, serviceNotAvailable } from "./StoreError.js";
import { acquireStoreLock } from "./StoreLock.js";

/** What the broker hands the store for one message. */
export interface MessageInput {
  topic: string;
  queueId: number;
  flag: number;
  body: Buffer;
  properties: Record<string, string>;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: { host: string; port: number };
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  /** Default tagsHashCode(properties.TAGS). */
  tagsCode?: number;
  /**
   * The properties exactly as the record stores them (name\u0001value\u0002 pairs, UTF-8
   * when a Buffer), built by the caller straight from request bytes so a send is not
   * parsed into an object and encoded again. When set, the record takes these and
   * `properties` is not read: `tagsCode`, `keys` and `uniqKey` then feed the consume queue and
   * the index. The caller vouches
   * that names and values hold no separator.
   */
  encodedProperties?: string | Buffer;
  /**
   * Bytes stored right after encodedProperties, as part of the properties (the caller puts
   * any \u0002 between them): pairs common to many messages, such as a batch request's own
   * properties, are kept once instead of being joined to every message's.
   */
  encodedPropertiesSuffix?: Buffer;
  /** With encodedProperties: the KEYS property (space-separated) and UNIQ_KEY, if any. */
  keys?: string;
  uniqKey?: string;
}

export interface PutResult {
  status: "PUT_OK" | "FLUSH_DISK_TIMEOUT";
  queueOffset: number;
  commitLogOffset: number;
  msgIds: string[];
  count: number;
  storeTimestamp: number;
}

export type GetMessageStatus =
  | "FOUND"
  | "NO_MATCHED_MESSAGE"
  | "NO_MESSAGE_IN_QUEUE"
  | "OFFSET_TOO_SMALL"
  | "OFFSET_OVERFLOW_ONE"
  | "OFFSET_OVERFLOW_BADLY"
  | "OFFSET_FOUND_NULL"
  | "NO_MATCHED_LOGIC_QUEUE"
  | "MESSAGE_WAS_REMOVING";

export interface GetMessageResult {
  status: GetMessageStatus;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  messageCount: number;
  /** Stored records, concatenated, ready to be a PULL response body. */
  body: Buffer;
  queueOffsets: number[];
}

export interface StoreStats {
  commitLogMinOffset: number;
  commitLogMaxOffset: number;
  flushedOffset: number;
  confirmedOffset: number;
  putMessageTimesTotal: number;
  putMessageSizeTotal: number;
  dispatchBehindBytes: number;
  earliestMessageTimeStamp: number;
  diskUsedRatio: number;
}

/** Per topic: its name as record bytes, its hash for the index, its queues' append state. */
interface TopicState {
  name: string;
  buf: Buffer;
  /** javaStringHashCode(name), the start of every index key hash of this topic. */
  hash: number;
  queues: Map<number, QueueState>;
  /** Set by deleteTopics: queued dispatches of the old topic look their queue up by name. */
  deleted: boolean;
}

interface QueueState {
  topic: TopicState;
  queueId: number;
  /** Next queue offset to hand out (ahead of the consume queue's max until dispatched). */
  next: number;
  cq: ConsumeQueue | undefined;
}

interface DispatchItem {
  q: QueueState;
  queueOffset: number;
  offset: number;
  size: number;
  tagsCode: number;
  storeTimestamp: number;
  /** The KEYS property (space-separated tokens) and UNIQ_KEY, for the index. */
  keys: string | undefined;
  uniq: string | undefined;
  /** PREPARED / ROLLBACK transaction records get no consume-queue entry (RocketMQ). */
  inQueue: boolean;
}

interface Waiter {
  end: number;
  deadline: number;
  /** One PutResult (putMessage/putMessages) or one per message (putMessagesBatch). */
  result: PutResult | PutResult[];
  resolve: (r: PutResult & PutResult[]) => void;
  reject: (e: Error) => void;
}

/** A FIFO over an array with a moving head (shift() is O(n) on big arrays). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

const DISPATCH_SLICE = 4096;
const NO_PROPERTIES: Record<string, string> = Object.freeze({});
/** Consume-queue entries scanned per pull when a filter drops messages (RocketMQ: 16000 bytes / 20). */
const MAX_FILTER_SCAN = 800;
const DEFAULT_MAX_PULL_BYTES = 4 * 1024 * 1024;
const MAX_QUERY_MESSAGES = 64;

/**
 * The storage engine: one CommitLog, a ConsumeQueue per topic/queue, an IndexService, a
 * checkpoint + abort marker for recovery, retention and disk guards. See README.md.
 */
export class MessageStore {
  private readonly cfg: ResolvedConfig;
  private readonly log: CommitLog;
  private readonly queues = new Map<string, Map<number, ConsumeQueue>>();
  private readonly topics = new Map<string, TopicState>();
  private readonly index: IndexService;
  private readonly readFds = new ReadFdCache(128);
  /** Frees the directory for another open (set by open, called once stopped). */
  private releaseLock: () => void = () => {};
  private readonly chunks = new CqChunkCache(512);
  private readonly pendingDispatch = new Fifo<DispatchItem>();
  private readonly waiters = new Fifo<Waiter>();
  private readonly arrivedListeners: ((topic: string, queueId: number, maxOffset: number) => void)[] = [];
  /** dispatchConfirmed's set of queues that got entries, reused (undefined while in use). */
  private arrivedScratch: Set<ConsumeQueue> | undefined = new Set();
  /** Scratch for the encoded properties of one append (reused: no array per put). */
  private propsScratch: (string | Buffer)[] = [];
  private propsBytesScratch: number[] = [];
  private bornIpScratch: number[] = [];
  private msgIdHi = -1;
  private msgIdHiPrefix = "";
  private readonly bornIps = new Map<string, number>();
  private readonly storeHostBytes: Buffer;
  private readonly storeIp: number;
  private readonly msgIdPrefix: string;
  private readonly deleteHours: Set<number>;
  private readonly timers: NodeJS.Timeout[] = [];
  private dispatched = 0;
  private dispatchScheduled = false;
  private pendingIndexBytes = 0;
  private persistRunning: Promise<void> | undefined;
  private writeFailure: string | undefined;
  private diskFull: string | undefined;
  private diskRatio = 0;
  private closed = false;
  private putTimes = 0;
  private putBytes = 0;
  private earliestTime = -1;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private readonly background = new Set<Promise<unknown>>();
  private stopping: Promise<void> | undefined;

  private constructor(cfg: ResolvedConfig) {
    this.cfg = cfg;
    this.log = new CommitLog({
      dir: cfg.storePathCommitLog,
      segmentSize: cfg.mappedFileSizeCommitLog,
      blockBytes: cfg.writeBlockBytes,
      maxTailBytes: cfg.maxTailCacheBytes,
      flushDiskType: cfg.flushDiskType,
      flushInterval: cfg.flushIntervalCommitLog,
      logger: cfg.logger,
    });
    this.index = new IndexService(
      join(cfg.storePathRootDir, "index"),
      cfg.maxIndexEntriesPerFile,
      cfg.indexHashSlotNum,
      this.readFds,
      cfg.logger,
    );
    this.storeHostBytes = hostBytes(cfg.storeHost.host, cfg.storeHost.port);
    this.msgIdPrefix = this.storeHostBytes.toString("hex").toUpperCase();
    this.storeIp = ipv4Int(cfg.storeHost.host);
    this.deleteHours = parseDeleteWhen(cfg.deleteWhen);
  }

  private get abortPath(): string {
    return join(this.cfg.storePathRootDir, "abort");
  }
  private get checkpointPath(): string {
    return join(this.cfg.storePathRootDir, "checkpoint");
  }
  private get cqRoot(): string {
    return join(this.cfg.storePathRootDir, "consumequeue");
  }

  /** Opens the store, recovering after a crash (abort marker present) or trusting a clean stop. */
  static async open(config: MessageStoreConfig): Promise<MessageStore> {
    const store = new MessageStore(resolveConfig(config));
    store.releaseLock = await acquireStoreLock(store.cfg.storePathRootDir, store.abortPath);
    try {
      await store.recover();
    } catch (err) {
      await store.log.close().catch(() => {});
      await store.readFds.closeAll();
      store.releaseLock();
      throw err;
    }
    store.startServices();
    return store;
  }

  private async recover(): Promise<void> {
    const { cfg, log } = this;
    const logger = cfg.logger;
    const t0 = Date.now();
    await fs.promises.mkdir(cfg.storePathRootDir, { recursive: true });
    const cp = await readCheckpoint(this.checkpointPath);
    const aborted = await exists(this.abortPath);
    const clean = !aborted && cp?.cleanEndOffset !== undefined;
    await log.load();
    if (clean) {
      log.setEndAfterCleanStop(cp!.cleanEndOffset!);
    } else {
      const log_ = log.segments.length > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
      log_(
        cp
          ? `store at ${cfg.storePathRootDir} was not shut down cleanly: recovering from the checkpoint (${cp.physicFlushedOffset})`
          : `store at ${cfg.storePathRootDir} has no checkpoint: scanning the whole commit log`,
      );
      await log.recoverAfterCrash(cp?.physicFlushedOffset ?? 0);
    }
    const logEnd = log.maxOffset;
    let dispatchFrom = clean ? logEnd : Math.max(log.minOffset, Math.min(cp?.logicsOffset ?? 0, logEnd));
    const cqExists = await exists(this.cqRoot);
    if (!cqExists && logEnd > log.minOffset) {
      logger.warn(`${this.cqRoot} is missing: rebuilding every consume queue from the commit log`);
      dispatchFrom = log.minOffset;
    }
    await fs.promises.mkdir(this.cqRoot, { recursive: true });
    await this.loadQueues(logEnd, clean && cqExists);
    const indexDir = join(cfg.storePathRootDir, "index");
    if (!(await exists(indexDir)) && logEnd > log.minOffset) {
      logger.warn(`${indexDir} is missing: rebuilding the index from the commit log`);
      dispatchFrom = log.minOffset;
    }
    await this.index.load(logEnd, clean);
    if (dispatchFrom < logEnd) {
      logger.info(`re-dispatching commit log [${dispatchFrom}, ${logEnd}) into consume queues and index`);
      // Rebuilding from the oldest segment left after retention: queues may start past 0.
      const fromMin = dispatchFrom === log.minOffset && log.minOffset > 0;
      await log.forEachRecord(dispatchFrom, logEnd, async (r) => {
        this.dispatchRecovered(r, fromMin);
        if (this.pendingIndexBytes > cfg.maxPendingIndexBytes) await this.persistQueuesAndIndex();
      });
    }
    this.dispatched = logEnd;
    for (const cq of this.consumeQueues()) {
      this.queueState(this.topicState(cq.topic), cq.queueId).next = cq.maxOffset;
      await cq.applyLogMin(log.minOffset);
    }
    await this.refreshEarliestTime();
    // Durable before any append: if the marker were lost while data survived, the next
    // start would trust the older clean checkpoint and skip recovery.
    await writeFileDurable(this.abortPath, String(process.pid));
    // Re-dispatched entries go to disk before a checkpoint claims them.
    await this.persistQueuesAndIndex();
    logger.info(
      `store opened (${clean ? "clean" : "recovered"}) in ${Date.now() - t0} ms: commit log [${log.minOffset}, ${logEnd}), ` +
        `${this.queueCount()} consume queues`,
    );
  }

  private queueCount(): number {
    let n = 0;
    for (const m of this.queues.values()) n += m.size;
    return n;
  }

  private *consumeQueues(): Generator<ConsumeQueue> {
    for (const byId of this.queues.values()) yield* byId.values();
  }

  private async loadQueues(logEnd: number, clean: boolean): Promise<void> {
    for (const topic of await fs.promises.readdir(this.cqRoot)) {
      const tdir = join(this.cqRoot, topic);
      if (!(await fs.promises.stat(tdir)).isDirectory()) continue;
      for (const q of await fs.promises.readdir(tdir)) {
        const queueId = Number(q);
        if (!/^\d+$/.test(q) || queueId > 0x7fffffff) {
          this.cfg.logger.warn(`ignoring ${join(tdir, q)}: not a queue id`);
          continue;
        }
        const cq = this.newQueue(topic, queueId);
        await cq.load(this.cfg.logger);
        await cq.truncateToLog(logEnd, clean, this.cfg.logger);
      }
    }
  }

  private newQueue(topic: string, queueId: number): ConsumeQueue {
    let byId = this.queues.get(topic);
    if (!byId) {
      byId = new Map();
      this.queues.set(topic, byId);
    }
    const cq = new ConsumeQueue(
      topic,
      queueId,
      join(this.cqRoot, topic, String(queueId)),
      this.cfg.consumeQueueEntriesPerFile,
      this.readFds,
      this.chunks,
    );
    byId.set(queueId, cq);
    const t = this.topics.get(topic);
    if (t) {
      const q = t.queues.get(queueId);
      if (q) q.cq = cq;
    }
    return cq;
  }

  /** A topic's append state; `topic` must be valid (checked by topicForPut or read from the log). */
  private topicState(topic: string): TopicState {
    let t = this.topics.get(topic);
    if (!t) {
      t = {
        name: topic,
        buf: Buffer.from(topic, "utf8"),
        hash: javaStringHashCode(topic),
        queues: new Map(),
        deleted: false,
      };
      this.topics.set(topic, t);
    }
    return t;
  }

  private queueState(t: TopicState, queueId: number): QueueState {
    let q = t.queues.get(queueId);
    if (!q) {
      const cq = this.queue(t.name, queueId);
      q = { topic: t, queueId, next: cq?.maxOffset ?? 0, cq };
      t.queues.set(queueId, q);
    }
    return q;
  }

  private queue(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.queues.get(topic)?.get(queueId);
  }

  private dispatchRecovered(r: ScannedRecord, mayStartLater: boolean): void {
    const m = r.message;
    const q = this.queueState(this.topicState(m.topic), m.queueId);
    this.dispatchOne(
      {
        q,
        queueOffset: m.queueOffset,
        offset: r.offset,
        size: r.size,
        tagsCode: this.cfg.tagsCodeOf
          ? this.cfg.tagsCodeOf(m.topic, m.properties)
          : tagsHashCode(m.properties.TAGS),
        storeTimestamp: m.storeTimestamp,
        keys: m.properties[MessageConst.KEYS],
        uniq: m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX],
        inQueue: takesQueueEntry(m.sysFlag),
      },
      mayStartLater,
    );
  }

  /** Adds one record's consume-queue and index entries; returns its queue if it got an entry. */
  private dispatchOne(d: DispatchItem, mayStartLater = false): ConsumeQueue | undefined {
    let added: ConsumeQueue | undefined;
    const q = d.q;
    const t = q.topic;
    if (d.inQueue) {
      let cq = q.cq;
      if (!cq || t.deleted) {
        cq = this.queue(t.name, q.queueId) ?? this.newQueue(t.name, q.queueId);
        if (!t.deleted) q.cq = cq;
      }
      if (cq.append(d.queueOffset, d.offset, d.size, d.tagsCode, mayStartLater)) {
        this.pendingIndexBytes += CQ_ENTRY_BYTES;
        added = cq;
      }
    }
    if ((d.keys || d.uniq) && d.offset > this.index.lastPhy) {
      if (d.keys) {
        for (const k of d.keys.split(" ")) {
          if (k.length === 0) continue;
          this.index.put(t.name, k, d.offset, d.storeTimestamp, t.hash);
          this.pendingIndexBytes += 24;
        }
      }
      if (d.uniq) {
        this.index.put(t.name, d.uniq, d.offset, d.storeTimestamp, t.hash);
        this.pendingIndexBytes += 24;
      }
    }
    return added;
  }

  private startServices(): void {
    const { cfg } = this;
    this.log.onProgress((err) => {
      if (err) this.onWriteFailure(err);
      else this.scheduleDispatch();
    });
    this.log.startFlushTimer();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      let running = false;
      const t = setInterval(() => {
        if (running || this.closed) return;
        running = true;
        const p = fn()
          .catch((err: Error) => cfg.logger.error(`store background task failed: ${err.message}`))
          .finally(() => {
            running = false;
            this.background.delete(p);
          });
        this.background.add(p);
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(cfg.flushIntervalConsumeQueue, () => this.persistQueuesAndIndex());
    every(cfg.diskCheckInterval, () => this.checkDisk());
    every(cfg.cleanResourceInterval, () => this.deleteExpiredFiles());
    void this.checkDisk().catch(() => {});
  }

  // ------------------------------------------------------------------ puts

  putMessage(msg: MessageInput): Promise<PutResult> {
    try {
      this.checkWritable();
      return this.appendGroup(msg, undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** One batch: same topic and queue, contiguous records with consecutive queue offsets. */
  putMessages(msgs: MessageInput[]): Promise<PutResult> {
    try {
      this.checkWritable();
      if (!Array.isArray(msgs) || msgs.length === 0) throw messageIllegal("empty message batch");
      return this.appendGroup(msgs[0]!, msgs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Many independent messages at once (any topics and queues, e.g. every send frame of one
   * socket read): one reservation, one write, one waiter and one promise for all of them.
   * Results come in input order, one per message, as putMessage would give them; messages
   * of the same queue get consecutive queue offsets in input order. Every message is
   * checked before anything is stored: one bad message (MESSAGE_ILLEGAL) refuses the whole
   * call and stores nothing. The promise resolves when the last record is confirmed
   * (under SYNC_FLUSH: flushed), so every result has the same status.
   */
  putMessagesBatch(msgs: readonly MessageInput[]): Promise<PutResult[]> {
    try {
      this.checkWritable();
      if (!Array.isArray(msgs)) throw messageIllegal("message batch is not an array");
      if (msgs.length === 0) return Promise.resolve([]);
      return this.appendIndependent(msgs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private checkWritable(): void {
    if (this.closed) throw serviceNotAvailable("message store is shut down");
    if (this.writeFailure) throw serviceNotAvailable(this.writeFailure);
    if (this.diskFull) throw serviceNotAvailable(this.diskFull);
  }

  /** The topic's state for an append, refusing names that could not be stored. */
  private topicForPut(topic: string): TopicState {
    const t = this.topics.get(topic);
    if (t) return t;
    if (typeof topic !== "string" || topic.length === 0) throw messageIllegal("topic is empty");
    // The topic names a consume-queue directory: nothing that could leave it.
    if (topic === "." || topic === ".." || /[/\\\u0000]/.test(topic)) {
      throw messageIllegal(`topic ${JSON.stringify(topic)} is not allowed`);
    }
    const bytes = Buffer.byteLength(topic, "utf8");
    if (bytes > 127) throw messageIllegal(`topic of ${bytes} bytes exceeds 127`);
    return this.topicState(topic);
  }

  private queueForPut(t: TopicState, queueId: number): QueueState {
    const q = t.queues.get(queueId);
    if (q) return q;
    if (!Number.isInteger(queueId) || queueId < 0 || queueId > 0x7fffffff) {
      throw messageIllegal(`queue id ${queueId} is not a non-negative int`);
    }
    return this.queueState(t, queueId);
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
    this.pendingDispatch.push({
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

  /** putMessage (msgs undefined: just `first`) and putMessages (one topic and queue). */
  private appendGroup(first: MessageInput, msgs: MessageInput[] | undefined): Promise<PutResult> {
    const n = msgs ? msgs.length : 1;
    const t = this.topicForPut(first.topic);
    const q = this.queueForPut(t, first.queueId);
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
    const r = this.log.reserve(total);
    const ctx = this.recordContext();
    let firstQo = -1;
    const msgIds: string[] = new Array(n);
    let pos = r.pos;
    let offset = r.offset;
    for (let i = 0; i < n; i++) {
      const m = msgs ? msgs[i]! : first;
      const size = sizes ? sizes[i]! : size0;
      const qo = this.writeOne(r, pos, m, q, i, size, offset, ctx);
      if (firstQo < 0) firstQo = qo;
      msgIds[i] = this.msgId(offset);
      pos += size;
      offset += size;
    }
    this.publish(n, total);
    return this.waitFor(r.offset + total, ctx.storeTimestamp, {
      status: "PUT_OK",
      queueOffset: firstQo,
      commitLogOffset: r.offset,
      msgIds,
      count: n,
      storeTimestamp: ctx.storeTimestamp,
    });
  }

  private appendIndependent(msgs: readonly MessageInput[]): Promise<PutResult[]> {
    const n = msgs.length;
    const qs: QueueState[] = new Array(n);
    const sizes: number[] = new Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const m = msgs[i]!;
      if (m === null || typeof m !== "object") throw messageIllegal("message is not an object");
      const t = this.topicForPut(m.topic);
      qs[i] = this.queueForPut(t, m.queueId);
      const size = this.prepare(m, t, i);
      sizes[i] = size;
      total += size;
    }
    const r = this.log.reserve(total);
    const ctx = this.recordContext();
    const results: PutResult[] = new Array(n);
    let pos = r.pos;
    let offset = r.offset;
    for (let i = 0; i < n; i++) {
      const size = sizes[i]!;
      const qo = this.writeOne(r, pos, msgs[i]!, qs[i]!, i, size, offset, ctx);
      results[i] = {
        status: "PUT_OK",
        queueOffset: qo,
        commitLogOffset: offset,
        msgIds: [this.msgId(offset)],
        count: 1,
        storeTimestamp: ctx.storeTimestamp,
      };
      pos += size;
      offset += size;
    }
    this.publish(n, total);
    return this.waitFor(r.offset + total, ctx.storeTimestamp, results);
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
  private msgId(offset: number): string {
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
  }

  /** A promise answered once the log is confirmed (and dispatched) up to `end`. */
  private waitFor<R extends PutResult | PutResult[]>(end: number, now: number, result: R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiters.push({
        end,
        deadline: now + this.cfg.syncFlushTimeout,
        result,
        resolve: resolve as (r: PutResult & PutResult[]) => void,
        reject,
      });
      if (!this.timeoutTimer) this.armTimeoutCheck();
    });
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

  /** One timer checks the oldest waiter; puts past syncFlushTimeout answer FLUSH_DISK_TIMEOUT. */
  private armTimeoutCheck(): void {
    if (this.timeoutTimer) return;
    const period = Math.max(10, Math.min(200, this.cfg.syncFlushTimeout / 4));
    this.timeoutTimer = setTimeout(() => {
      this.timeoutTimer = undefined;
      const now = Date.now();
      for (let w = this.waiters.peek(); w && w.deadline <= now; w = this.waiters.peek()) {
        this.waiters.shift();
        const r = w.result;
        w.resolve(
          (Array.isArray(r)
            ? r.map((x) => ({ ...x, status: "FLUSH_DISK_TIMEOUT" }))
            : { ...r, status: "FLUSH_DISK_TIMEOUT" }) as PutResult & PutResult[],
        );
      }
      if (this.waiters.size > 0) this.armTimeoutCheck();
    }, period);
    this.timeoutTimer.unref();
  }

  private onWriteFailure(err: Error): void {
    this.writeFailure = writeFailureText("commit log", err);
    const e = serviceNotAvailable(this.writeFailure, err);
    for (const w of this.waiters.drain()) w.reject(e);
  }

  // ------------------------------------------------------------------ dispatch

  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    afterSyncRun(this.runScheduledDispatch);
  }

  private readonly runScheduledDispatch = (): void => {
    this.dispatchScheduled = false;
    this.dispatchConfirmed();
  };

  /**
   * Moves records below the confirmed offset into consume queues and index (visible from
   * then on), answers their puts and tells listeners. Works in slices so a large backlog
   * never holds the event loop for long.
   */
  private dispatchConfirmed(): void {
    const confirmed = this.log.confirmedOffset;
    // Queues that got entries: a Set kept between calls (one allocation less per append when
    // each message is its own append), taken out while in use in case a listener re-enters.
    const arrived = this.arrivedScratch ?? new Set<ConsumeQueue>();
    this.arrivedScratch = undefined;
    let n = 0;
    for (
      let d = this.pendingDispatch.peek();
      d && d.offset < confirmed && n < DISPATCH_SLICE;
      d = this.pendingDispatch.peek()
    ) {
      this.pendingDispatch.shift();
      const cq = this.dispatchOne(d);
      if (cq) arrived.add(cq);
      this.dispatched = d.offset + d.size;
      n++;
    }
    for (let w = this.waiters.peek(); w && w.end <= this.dispatched; w = this.waiters.peek()) {
      this.waiters.shift();
      w.resolve(w.result as PutResult & PutResult[]);
    }
    if (this.earliestTime < 0 && n > 0) void this.refreshEarliestTime();
    if (this.arrivedListeners.length > 0) {
      for (const cq of arrived) {
        for (const l of this.arrivedListeners) {
          try {
            l(cq.topic, cq.queueId, cq.maxOffset);
          } catch (err) {
            this.cfg.logger.error(`onMessageArrived listener threw: ${(err as Error).message}`);
          }
        }
      }
    }
    arrived.clear();
    this.arrivedScratch = arrived;
    if (this.pendingIndexBytes > this.cfg.maxPendingIndexBytes)
      void this.persistQueuesAndIndex().catch(() => {});
    const next = this.pendingDispatch.peek();
    if (next && next.offset < this.log.confirmedOffset) setImmediate(() => this.dispatchConfirmed());
  }

  onMessageArrived(listener: (topic: string, queueId: number, maxOffset: number) => void): void {
    this.arrivedListeners.push(listener);
  }

  // ------------------------------------------------------------------ persistence

  /** Writes consume-queue and index entries, then a checkpoint that covers them. */
  private persistQueuesAndIndex(): Promise<void> {
    if (this.persistRunning) return this.persistRunning;
    this.persistRunning = (async () => {
      try {
        const logicsOffset = this.dispatched;
        this.pendingIndexBytes = 0;
        const dirty: ConsumeQueue[] = [];
        for (const cq of this.consumeQueues()) if (cq.unpersistedBytes > 0) dirty.push(cq);
        for (let i = 0; i < dirty.length; i += 16)
          await Promise.all(dirty.slice(i, i + 16).map((cq) => cq.persist()));
        await this.index.persist();
        await this.writeCheckpointNow(false, logicsOffset);
      } catch (err) {
        this.cfg.logger.error(`persisting consume queues/index failed: ${(err as Error).message}`);
        if (!this.writeFailure) {
          this.writeFailure = writeFailureText("consume queue/index", err as Error);
        }
        throw err;
      } finally {
        this.persistRunning = undefined;
      }
    })();
    return this.persistRunning;
  }

  private writeCheckpointNow(clean: boolean, logicsOffset = this.dispatched): Promise<void> {
    return writeCheckpoint(this.checkpointPath, {
      version: 1,
      physicFlushedOffset: clean ? this.log.maxOffset : this.log.flushedOffset,
      logicsOffset,
      physicMsgTimestamp: Date.now(),
      logicsMsgTimestamp: Date.now(),
      indexMsgTimestamp: this.index.lastTs,
      ...(clean ? { cleanEndOffset: this.log.maxOffset } : {}),
    });
  }

  private async checkDisk(): Promise<void> {
    const ratio = await diskUsedRatio(this.cfg.storePathRootDir);
    this.diskRatio = ratio;
    const limit = this.cfg.diskSpaceWarningLevelRatio;
    if (ratio > limit) {
      if (!this.diskFull) this.cfg.logger.error(`disk ${ratio.toFixed(1)}% used: refusing appends`);
      this.diskFull =
        `disk full: ${ratio.toFixed(1)}% of the file system holding ${this.cfg.storePathRootDir} is used, ` +
        `above diskSpaceWarningLevelRatio ${limit}%; appends are refused until space is freed`;
    } else if (this.diskFull) {
      this.cfg.logger.info(`disk ${ratio.toFixed(1)}% used: taking appends again`);
      this.diskFull = undefined;
    }
  }

  /** Re-reads disk usage now (normally every diskCheckInterval ms). */
  refreshDiskUsage(): Promise<void> {
    return this.checkDisk();
  }

  // ------------------------------------------------------------------ retention

  /**
   * One retention pass: at a deleteWhen hour (or `manual`), segments older than
   * fileReservedTime; when the disk is fuller than diskMaxUsedSpaceRatio, the oldest ones
   * regardless of age. Consume-queue and index entries pointing into them go too.
   * Returns the number of segments deleted.
   */
  async deleteExpiredFiles(options: { manual?: boolean; now?: number } = {}): Promise<number> {
    const now = options.now ?? Date.now();
    const d = retentionDecision({
      now,
      deleteHours: this.deleteHours,
      fileReservedHours: this.cfg.fileReservedTime,
      diskUsedRatio: this.diskRatio,
      diskMaxUsedSpaceRatio: this.cfg.diskMaxUsedSpaceRatio,
      manual: options.manual,
    });
    if (!d.run) return 0;
    let deleted = 0;
    while (deleted < this.cfg.deleteFilesBatchMax && this.log.segments.length > 1) {
      const seg = this.log.segments[0]!;
      if (seg.start + seg.size > this.dispatched) break;
      const st = await fs.promises.stat(seg.path);
      if (!d.force && !segmentExpired(st.mtimeMs, now, this.cfg.fileReservedTime)) break;
      if (!(await this.log.deleteFirstSegment())) break;
      this.cfg.logger.info(
        `retention: deleted ${seg.path}${d.force ? " (disk above diskMaxUsedSpaceRatio)" : ""}`,
      );
      deleted++;
    }
    if (deleted > 0) {
      const min = this.log.minOffset;
      for (const cq of this.consumeQueues()) await cq.applyLogMin(min);
      await this.index.applyLogMin(min);
      await this.refreshEarliestTime();
    }
    return deleted;
  }

  private async refreshEarliestTime(): Promise<void> {
    const off = this.log.minOffset;
    this.earliestTime = off < this.log.confirmedOffset ? await this.storeTimeAt(off).catch(() => -1) : -1;
  }

  async deleteTopics(topics: string[]): Promise<void> {
    for (const t of topics) {
      const byId = this.queues.get(t);
      this.queues.delete(t);
      const state = this.topics.get(t);
      if (state) state.deleted = true;
      this.topics.delete(t);
      if (byId) for (const cq of byId.values()) await cq.destroy();
      await fs.promises.rm(join(this.cqRoot, t), { recursive: true, force: true });
    }
  }

  // ------------------------------------------------------------------ reads

  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.queue(topic, queueId)?.maxOffset ?? 0;
  }

  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.queue(topic, queueId)?.minOffset ?? 0;
  }

  async getMessage(
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: (tagsCode: number) => boolean,
    maxBytes = DEFAULT_MAX_PULL_BYTES,
  ): Promise<GetMessageResult> {
    const cq = this.queue(topic, queueId);
    const minOffset = cq?.minOffset ?? 0;
    const maxOffset = cq?.maxOffset ?? 0;
    const empty = (status: GetMessageStatus, nextBeginOffset: number): GetMessageResult => ({
      status,
      nextBeginOffset,
      minOffset,
      maxOffset,
      messageCount: 0,
      body: Buffer.alloc(0),
      queueOffsets: [],
    });
    if (this.closed) throw serviceNotAvailable("message store is shut down");
    if (!cq || maxOffset === 0) return empty("NO_MESSAGE_IN_QUEUE", 0);
    if (offset < minOffset) return empty("OFFSET_TOO_SMALL", minOffset);
    if (offset === maxOffset) return empty("OFFSET_OVERFLOW_ONE", offset);
    if (offset > maxOffset) return empty("OFFSET_OVERFLOW_BADLY", minOffset === 0 ? minOffset : maxOffset);
    const want = Math.max(1, Math.min(maxMsgNums | 0, 10_000));
    const scan = filter ? Math.max(want, MAX_FILTER_SCAN) : want;
    const entries = await cq.read(offset, scan);
    const logMin = this.log.minOffset;
    // Entries are read in place (no object per message) and merged into log ranges that are
    // contiguous within one segment: a pull of N sequential messages is one log read.
    const runs: number[] = []; // flat [start, length] pairs
    const queueOffsets: number[] = [];
    let runEnd = -1;
    let runSegmentEnd = -1;
    let bytes = 0;
    let scanned = 0;
    let removed = 0;
    const n = entries.length / CQ_ENTRY_BYTES;
    for (let i = 0; i < n && queueOffsets.length < want; i++) {
      const at = i * CQ_ENTRY_BYTES;
      const phys = readLong(entries, at);
      const size = entries.readInt32BE(at + 8);
      scanned = i + 1;
      if (phys < logMin) {
        removed++;
        continue;
      }
      if (filter && !filter(readLong(entries, at + 12))) continue;
      if (queueOffsets.length > 0 && bytes + size > maxBytes) {
        scanned = i;
        break;
      }
      if (phys === runEnd && phys + size <= runSegmentEnd) {
        runs[runs.length - 1]! += size;
      } else {
        runs.push(phys, size);
        runSegmentEnd = this.segmentEndOf(phys);
      }
      runEnd = phys + size;
      queueOffsets.push(offset + i);
      bytes += size;
    }
    if (queueOffsets.length === 0) {
      return empty(
        removed > 0 ? "MESSAGE_WAS_REMOVING" : filter ? "NO_MATCHED_MESSAGE" : "OFFSET_FOUND_NULL",
        offset + scanned,
      );
    }
    const body = await this.readRuns(runs, bytes);
    return {
      status: "FOUND",
      nextBeginOffset: offset + scanned,
      minOffset,
      maxOffset,
      messageCount: queueOffsets.length,
      body,
      queueOffsets,
    };
  }

  /** End of the commit-log segment holding `offset` (a read never crosses a segment). */
  private segmentEndOf(offset: number): number {
    const seg = this.log.segments[this.log.segmentIndexFor(offset)];
    return seg ? seg.start + seg.size : offset;
  }

  /** Reads log ranges ([start, length] pairs) into one buffer: a memcpy from the in-memory tail, else a positioned read each. */
  private async readRuns(runs: number[], bytes: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(bytes);
    const reads: Promise<void>[] = [];
    let pos = 0;
    for (let i = 0; i < runs.length; i += 2) {
      reads.push(this.log.read(runs[i]!, runs[i + 1]!, out, pos));
      pos += runs[i + 1]!;
    }
    await Promise.all(reads);
    return out;
  }

  private async storeTimeAt(offset: number): Promise<number> {
    const b = Buffer.allocUnsafe(8);
    await this.log.read(offset + RecordLayout.STORE_TIMESTAMP, 8, b, 0);
    return readLong(b, 0);
  }

  /**
   * Calls `onRecord` for the records stored since `timestamp`, in log order (state rebuilt
   * from the recent log at start-up, e.g. duplicate detection). Reading starts at the
   * smallest commit-log offset among the consume queues' first entries stored at or after
   * `timestamp` (a binary search per queue), so only about the window is read; a few older
   * records interleaved with it may be included (callers check storeTimestamp). With
   * `maxBytes`, at most about that much of the log's tail is read (bounded start-up time).
   */
  async forEachRecordSince(
    timestamp: number,
    onRecord: (r: ScannedRecord) => void | Promise<void>,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<{ from: number; to: number }> {
    const to = this.log.confirmedOffset;
    // At most maxBytes of log: per queue, the first entry at or after both bounds.
    const floor = to - maxBytes;
    let from = to;
    for (const cq of [...this.consumeQueues()]) {
      let n = await this.getOffsetInQueueByTime(cq.topic, cq.queueId, timestamp);
      if (n >= cq.maxOffset) continue;
      if ((await cq.entry(n)).offset < floor) {
        let lo = n;
        let hi = cq.maxOffset;
        while (lo < hi) {
          const mid = Math.floor((lo + hi) / 2);
          if ((await cq.entry(mid)).offset >= floor) hi = mid;
          else lo = mid + 1;
        }
        n = lo;
        if (n >= cq.maxOffset) continue;
      }
      const e = await cq.entry(n);
      if (e.offset < from) from = e.offset;
    }
    from = Math.max(from, this.log.minOffset);
    if (from < to) await this.log.forEachRecord(from, to, onRecord);
    return { from, to };
  }

  async getOffsetInQueueByTime(topic: string, queueId: number, timestamp: number): Promise<number> {
    const cq = this.queue(topic, queueId);
    if (!cq || cq.maxOffset === cq.minOffset) return cq?.maxOffset ?? 0;
    let lo = cq.minOffset;
    let hi = cq.maxOffset;
    const logMin = this.log.minOffset;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await cq.entry(mid);
      const t = e.offset < logMin ? Number.NEGATIVE_INFINITY : await this.storeTimeAt(e.offset);
      if (t >= timestamp) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  async getEarliestMessageTime(topic: string, queueId: number): Promise<number> {
    const cq = this.queue(topic, queueId);
    if (!cq || cq.maxOffset === cq.minOffset) return -1;
    return this.getMessageStoreTimestamp(topic, queueId, cq.minOffset);
  }

  async getMessageStoreTimestamp(topic: string, queueId: number, queueOffset: number): Promise<number> {
    const cq = this.queue(topic, queueId);
    if (!cq || queueOffset < cq.minOffset || queueOffset >= cq.maxOffset) return -1;
    const e = await cq.entry(queueOffset);
    if (e.offset < this.log.minOffset) return -1;
    return this.storeTimeAt(e.offset);
  }

  /** One stored record at a physical offset (offsetMsgId look-ups); only confirmed data. */
  async lookMessageByOffset(commitLogOffset: number): Promise<Buffer | undefined> {
    if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < this.log.minOffset) return undefined;
    if (commitLogOffset + 8 > this.log.confirmedOffset) return undefined;
    const rec = await this.log.readRecord(commitLogOffset);
    if (!rec || commitLogOffset + rec.length > this.log.confirmedOffset) return undefined;
    return rec;
  }

  /** Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored in [begin, end]. */
  async queryMessage(
    topic: string,
    key: string,
    maxNum: number,
    begin: number,
    end: number,
  ): Promise<{ messages: Buffer[]; indexLastUpdateTimestamp: number; indexLastUpdatePhyoffset: number }> {
    const max = Math.max(1, Math.min(maxNum | 0, MAX_QUERY_MESSAGES));
    const phys = await this.index.query(topic, key, begin, end, max * 4);
    const messages: Buffer[] = [];
    for (const phy of phys) {
      if (messages.length >= max) break;
      const rec = await this.lookMessageByOffset(phy);
      if (rec && recordMatchesKey(rec, topic, key)) messages.push(rec);
    }
    return {
      messages,
      indexLastUpdateTimestamp: this.index.lastTs,
      indexLastUpdatePhyoffset: Math.max(0, this.index.lastPhy),
    };
  }

  get stats(): StoreStats {
    return {
      commitLogMinOffset: this.log.minOffset,
      commitLogMaxOffset: this.log.confirmedOffset,
      flushedOffset: this.log.flushedOffset,
      confirmedOffset: this.log.confirmedOffset,
      putMessageTimesTotal: this.putTimes,
      putMessageSizeTotal: this.putBytes,
      dispatchBehindBytes: Math.max(0, this.log.confirmedOffset - this.dispatched),
      earliestMessageTimeStamp: this.earliestTime,
      diskUsedRatio: this.diskRatio,
    };
  }

  /**
   * Stops like a killed process would: no flush, no checkpoint, abort marker left behind,
   * unacknowledged puts dropped. Writes already handed to the OS complete (as they would in
   * the page cache). For tests and for giving up on a store after a fatal error.
   */
  halt(): Promise<void> {
    this.stopping ??= (async () => {
      this.closed = true;
      for (const t of this.timers) clearInterval(t);
      if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
      await Promise.allSettled([...this.background]);
      while (this.persistRunning) await this.persistRunning.catch(() => {});
      await this.log.halt();
      const e = serviceNotAvailable("message store halted before the message was confirmed");
      for (const w of this.waiters.drain()) w.reject(e);
      await this.readFds.closeAll();
      // The marker stays (the next open must recover) but no longer names a live user.
      await fs.promises.writeFile(this.abortPath, "halted").catch(() => {});
      this.releaseLock();
    })();
    return this.stopping;
  }

  /** Clean stop: flush, persist consume queues and index, write a clean checkpoint, remove the abort marker. */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.background]);
    await this.log.flushAll();
    for (let i = 0; i < 1_000_000 && this.pendingDispatch.size > 0; i++) {
      const before = this.pendingDispatch.size;
      this.dispatchConfirmed();
      if (this.pendingDispatch.size === before) break;
    }
    for (const w of this.waiters.drain()) {
      if (w.end <= this.dispatched) w.resolve(w.result as PutResult & PutResult[]);
      else w.reject(serviceNotAvailable("message store shut down before the message was stored"));
    }
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    let clean = !this.log.writeFailure;
    try {
      while (this.persistRunning) await this.persistRunning.catch(() => {});
      await this.persistQueuesAndIndex();
      await this.index.close();
      if (clean) await this.writeCheckpointNow(true);
    } catch (err) {
      clean = false;
      this.cfg.logger.error(
        `shutdown could not persist everything (${(err as Error).message}); next start recovers`,
      );
    }
    await this.log.close();
    await this.readFds.closeAll();
    if (clean) await fs.promises.rm(this.abortPath, { force: true });
    this.releaseLock();
  }
}

function writeFailureText(what: string, err: Error): string {
  const cause = (err as NodeJS.ErrnoException).code ?? err.message;
  return `${what} write failed (${cause}); the store takes no more writes until it is restarted`;
}

/** PREPARED / ROLLBACK transaction records take no queue offset and no consume-queue entry (RocketMQ). */
function takesQueueEntry(sysFlag: number): boolean {
  const tt = transactionType(sysFlag);
  return tt !== MessageSysFlag.TRANSACTION_PREPARED_TYPE && tt !== MessageSysFlag.TRANSACTION_ROLLBACK_TYPE;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));

/** 8 uppercase hex digits of an unsigned 32-bit word (half of an offsetMsgId's offset). */
function hex32(w: number): string {
  return HEX[w >>> 24]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

/**
 * The protocol's encodeProperties (name\u0001value\u0002 …), refusing separators inside
 * names and values: they would split the pair and change other properties when parsed.
 */
function encodeProps(props: Record<string, string>): string {
  if (!props) return "";
  let s = "";
  for (const k in props) {
    const v = props[k];
    if (v === undefined || v === null || k.length === 0) continue;
    const sv = typeof v === "string" ? v : String(v);
    if (
      k.indexOf("\u0001") >= 0 ||
      k.indexOf("\u0002") >= 0 ||
      sv.indexOf("\u0001") >= 0 ||
      sv.indexOf("\u0002") >= 0
    ) {
      throw messageIllegal(`property ${JSON.stringify(k)} contains a \\u0001 or \\u0002 separator`);
    }
    s += `${k}\u0001${sv}\u0002`;
  }
  return s;
}

function recordMatchesKey(rec: Buffer, topic: string, key: string): boolean {
  try {
    const bodyLen = rec.readInt32BE(RecordLayout.BODY_LENGTH);
    let p = RecordLayout.BODY + bodyLen;
    const tlen = rec.readUInt8(p);
    p += 1;
    if (rec.toString("utf8", p, p + tlen) !== topic) return false;
    p += tlen;
    const plen = rec.readInt16BE(p);
    const props = rec.toString("utf8", p + 2, p + 2 + plen);
    for (const pair of props.split("\u0002")) {
      const i = pair.indexOf("\u0001");
      if (i <= 0) continue;
      const name = pair.slice(0, i);
      const value = pair.slice(i + 1);
      if (name === MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX && value === key) return true;
      if (name === MessageConst.KEYS && value.split(" ").includes(key)) return true;
    }
    return false;
  } catch {
    return false;
  }
}
