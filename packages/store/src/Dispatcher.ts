import { join } from "node:path";
import { afterSyncRun, MAGIC_BLANK, MessageConst, type MessageExt, tagsHashCode } from "@tidemq/protocol";
import { writeCheckpoint } from "./Checkpoint.js";
import type { CommitLog } from "./CommitLog.js";
import { type ConsumeQueue, CQ_ENTRY_BYTES } from "./ConsumeQueue.js";
import type { ResolvedConfig } from "./config.js";
import { DispatchFields } from "./DispatchFields.js";
import { Fifo } from "./Fifo.js";
import type { IndexService } from "./IndexService.js";
import type { PutWaiters } from "./PutWaiters.js";
import type { QueueTable } from "./QueueTable.js";
import { StoreCorruptionError } from "./StoreError.js";
import { type StoreHealth, writeFailureText } from "./StoreHealth.js";
import type { DispatchItem, QueueState } from "./StoreTypes.js";
import { takesQueueEntry } from "./storeRecords.js";

const DISPATCH_SLICE = 4096;
/**
 * Consume queues a persist writes (write + fdatasync) at once. Few: every fs call goes
 * through libuv's thread pool (4 threads), and a put's acknowledgement needs it too (the
 * commit log's group-commit fdatasync; on a Raft replica also the index fdatasync). With 16
 * at once, each second's persist took every thread for rounds of fsyncs and acks queued
 * behind them. TIDEMQ_CQ_PERSIST_CONCURRENCY overrides (for measurements).
 */
const PERSIST_CONCURRENCY = Number(process.env.TIDEMQ_CQ_PERSIST_CONCURRENCY) || 2;

/**
 * How far replication lets consumers read. Under a replicated log (Raft) appended records
 * are visible, and their puts answered, only once the group has committed them: a consumer
 * must never see what a failover can take back. Without a gate the log's own confirmed
 * offset rules (written, or flushed under SYNC_FLUSH).
 */
export interface CommitGate {
  /** Records that end at or below this offset are committed. */
  readonly committedOffset: number;
}

/**
 * Dispatch: moves records from the commit log into the consume queues and the index once
 * they are visible (below the log's confirmed offset and the commit gate's committed offset),
 * answers their puts, tells arrival listeners; persists queue and index entries with the
 * checkpoint that covers them. Records come from three places: the local append path
 * (items queued as they are written, no decode), recovery (records re-read from the log),
 * and replicated bytes (records read in place from what another replica sent: only the
 * fields dispatch needs, see DispatchFields).
 */
export class Dispatcher {
  private readonly pending = new Fifo<DispatchItem>();
  /** decodeReplicated's reader of what dispatch needs of a record (reused). */
  private readonly fields = new DispatchFields();
  private readonly arrivedListeners: ((topic: string, queueId: number, maxOffset: number) => void)[] = [];
  /** dispatchVisible's set of queues that got entries, reused (undefined while in use). */
  private arrivedScratch: Set<ConsumeQueue> | undefined = new Set();
  private scheduled = false;
  private pendingIndexBytes = 0;
  private persistRunning: Promise<void> | undefined;
  /** Queues refuseAfterGap already reported. */
  private readonly gapQueues = new Set<ConsumeQueue>();
  private gate: CommitGate | undefined;
  /** Everything below is in consume queues and index (in memory at least). */
  dispatched = 0;
  /**
   * While the log is cut back: checkpoints claim at most this as flushed, so a crash during
   * the cut never recovers from an offset past the new end.
   */
  flushedCap = Number.POSITIVE_INFINITY;
  /** Called after a slice that dispatched records (the store refreshes its earliest time). */
  onDispatched: () => void = () => {};

  constructor(
    private readonly cfg: ResolvedConfig,
    private readonly log: CommitLog,
    private readonly table: QueueTable,
    private readonly index: IndexService,
    private readonly waiters: PutWaiters,
    private readonly health: StoreHealth,
  ) {}

  /** Readers and dispatch stop here: the log's confirmed offset, capped by the commit gate. */
  get visibleOffset(): number {
    const confirmed = this.log.confirmedOffset;
    const gate = this.gate;
    return gate === undefined ? confirmed : Math.min(confirmed, gate.committedOffset);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  setCommitGate(gate: CommitGate | undefined): void {
    this.gate = gate;
    this.schedule();
  }

  onMessageArrived(listener: (topic: string, queueId: number, maxOffset: number) => void): void {
    this.arrivedListeners.push(listener);
  }

  /**
   * Forgets queued records at or past `offset` (a truncation) and hands their queue offsets
   * back. Refuses to cut below the visible offset: those records are readable, or about to be.
   */
  dropFrom(offset: number): void {
    if (offset < this.visibleOffset || offset < this.dispatched) {
      throw new RangeError(
        `cannot take back records from ${offset}: everything below ${Math.max(this.visibleOffset, this.dispatched)} is visible to readers`,
      );
    }
    const dropped = this.pending.popTailWhile((d) => d.offset >= offset);
    const first = dropped.at(-1);
    const kept = this.pending.peekTail();
    // With nothing queued the boundary is where dispatch stands — never below the log's start:
    // a replica begun at a snapshot's offset whose only entry so far is a segment's blank
    // filler (no record, so nothing dispatched) must be able to take that entry back.
    const boundary = first
      ? first.offset
      : kept
        ? kept.offset + kept.size
        : Math.max(this.dispatched, this.log.minOffset);
    if (boundary !== offset) {
      for (let i = dropped.length - 1; i >= 0; i--) this.pending.push(dropped[i]!);
      throw new RangeError(
        `cannot truncate at ${offset}: not a record boundary (the nearest is ${boundary})`,
      );
    }
    for (const d of dropped) if (d.inQueue && d.q.next > d.queueOffset) d.q.next = d.queueOffset;
  }

  /** A record the append path just wrote (hot path: no decode). */
  push(item: DispatchItem): void {
    this.pending.push(item);
  }

  /**
   * The dispatch items of replicated bytes [offset, offset + data.length): whole records,
   * maybe ending with a blank filler (`fillerEnd`: where it says the source's segment ends).
   * Throws (queuing nothing) on bytes that do not decode.
   */
  decodeReplicated(offset: number, data: Buffer): { items: DispatchItem[]; fillerEnd: number | undefined } {
    const items: DispatchItem[] = [];
    // Same queue record after record (a put's group): its state is looked up once.
    let q: QueueState | undefined;
    let p = 0;
    while (p + 8 <= data.length) {
      const size = data.readInt32BE(p);
      if (data.readInt32BE(p + 4) === MAGIC_BLANK) {
        if (p + 8 !== data.length)
          throw new RangeError(`replicated bytes at ${offset + p}: data after a blank filler`);
        return { items, fillerEnd: offset + p + size };
      }
      if (size <= 0 || p + size > data.length) {
        throw new RangeError(`replicated bytes at ${offset + p}: record of ${size} bytes overruns the chunk`);
      }
      const r = this.fields;
      r.read(data, p);
      if (q === undefined || r.topicChanged || r.queueId !== q.queueId)
        q = this.table.queueState(this.table.topicState(r.topic), r.queueId);
      items.push({
        q,
        queueOffset: r.queueOffset,
        offset: offset + p,
        size,
        tagsCode: this.cfg.tagsCodeOf ? this.cfg.tagsCodeOf(r.topic, r.property) : tagsHashCode(r.tags),
        storeTimestamp: r.storeTimestamp,
        keys: r.keys,
        uniq: r.uniq,
        inQueue: takesQueueEntry(r.sysFlag),
      });
      p += size;
    }
    if (p !== data.length) throw new RangeError(`replicated bytes at ${offset + p}: a partial record`);
    return { items, fillerEnd: undefined };
  }

  /** The commit gate's offset, if one is set. */
  get gateOffset(): number | undefined {
    return this.gate?.committedOffset;
  }

  /** Queues one record re-read at start-up that the commit gate still holds back. */
  pushRecovered(m: MessageExt, offset: number, size: number): DispatchItem {
    const item = this.itemOf(m, offset, size);
    this.pending.push(item);
    return item;
  }

  /** Dispatches one record re-read from the log at start-up (crash recovery, rebuilds). */
  dispatchRecovered(m: MessageExt, offset: number, size: number, mayStartLater: boolean): void {
    this.dispatchOne(this.itemOf(m, offset, size), mayStartLater);
  }

  /** Writes entries early when too many are only in memory (bounded memory during rebuilds). */
  async persistIfLarge(): Promise<void> {
    if (this.pendingIndexBytes > this.cfg.maxPendingIndexBytes) await this.persist();
  }

  private itemOf(m: MessageExt, offset: number, size: number): DispatchItem {
    return {
      q: this.table.queueState(this.table.topicState(m.topic), m.queueId),
      queueOffset: m.queueOffset,
      offset,
      size,
      tagsCode: this.cfg.tagsCodeOf
        ? this.cfg.tagsCodeOf(m.topic, (name) => m.properties[name])
        : tagsHashCode(m.properties.TAGS),
      storeTimestamp: m.storeTimestamp,
      keys: m.properties[MessageConst.KEYS],
      uniq: m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX],
      inQueue: takesQueueEntry(m.sysFlag),
    };
  }

  /** Adds one record's consume-queue and index entries; returns its queue if it got an entry. */
  private dispatchOne(d: DispatchItem, mayStartLater = false, live = false): ConsumeQueue | undefined {
    let added: ConsumeQueue | undefined;
    const q = d.q;
    const t = q.topic;
    if (d.inQueue) {
      let cq = q.cq;
      if (!cq || t.deleted) {
        cq = this.table.queue(t.name, q.queueId) ?? this.table.newQueue(t.name, q.queueId);
        if (!t.deleted) q.cq = cq;
      }
      // A log that does not hold its own beginning (retention deleted it, or a replica that
      // began at its source's oldest segment) may meet a queue's first record at any queue
      // offset: the queue starts there, as RocketMQ's does (its "pre-blank" fill).
      const startLater = mayStartLater || this.log.minOffset > 0;
      let appended: boolean;
      try {
        appended = cq.append(d.queueOffset, d.offset, d.size, d.tagsCode, startLater);
      } catch (err) {
        if (!(err instanceof StoreCorruptionError) || !live) throw err;
        this.refuseAfterGap(cq, err);
        appended = false;
      }
      if (appended) {
        this.pendingIndexBytes += CQ_ENTRY_BYTES;
        added = cq;
      }
      // A replicated record hands out its queue offset here (no local append did).
      if (q.next <= d.queueOffset) q.next = d.queueOffset + 1;
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

  /**
   * A live record whose queue offset leaves a gap in its consume queue (entries lost, or a
   * replica fed a log that does not continue its own): the record stays in the commit log
   * without a queue entry, the store takes no more writes, and the error is logged, once
   * per queue. Thrown from dispatch it would take the process down; a restart stops at the
   * same record with the recovery's StoreCorruptionError, which names the queue to rebuild.
   */
  private refuseAfterGap(cq: ConsumeQueue, err: StoreCorruptionError): void {
    if (this.gapQueues.has(cq)) return;
    this.gapQueues.add(cq);
    this.cfg.logger.error(err.message);
    if (!this.health.writeFailure) {
      this.health.writeFailure = `consume queue ${cq.topic}/${cq.queueId} has a gap (${err.message}); the store takes no more writes until it is restarted`;
    }
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    afterSyncRun(this.runScheduled);
  }

  private readonly runScheduled = (): void => {
    this.scheduled = false;
    this.dispatchVisible();
  };

  /**
   * Moves records below the visible offset into consume queues and index (readable from
   * then on), answers their puts and tells listeners. Works in slices so a large backlog
   * never holds the event loop for long.
   */
  dispatchVisible(): void {
    const visible = this.visibleOffset;
    // Queues that got entries: a Set kept between calls (one allocation less per append when
    // each message is its own append), taken out while in use in case a listener re-enters.
    const arrived = this.arrivedScratch ?? new Set<ConsumeQueue>();
    this.arrivedScratch = undefined;
    let n = 0;
    for (
      let d = this.pending.peek();
      d && d.offset < visible && n < DISPATCH_SLICE;
      d = this.pending.peek()
    ) {
      this.pending.shift();
      const cq = this.dispatchOne(d, false, true);
      if (cq) arrived.add(cq);
      this.dispatched = d.offset + d.size;
      n++;
    }
    this.waiters.resolveUpTo(this.dispatched);
    if (n > 0) this.onDispatched();
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
    if (this.pendingIndexBytes > this.cfg.maxPendingIndexBytes) void this.persist().catch(() => {});
    const next = this.pending.peek();
    if (next && next.offset < this.visibleOffset) setImmediate(() => this.dispatchVisible());
  }

  /** At shutdown: dispatches everything visible, synchronously (bounded). */
  drainVisible(): void {
    for (let i = 0; i < 1_000_000 && this.pending.size > 0; i++) {
      const before = this.pending.size;
      this.dispatchVisible();
      if (this.pending.size === before) break;
    }
  }

  /** Writes consume-queue and index entries, then a checkpoint that covers them. */
  persist(): Promise<void> {
    if (this.persistRunning) return this.persistRunning;
    this.persistRunning = (async () => {
      try {
        const logicsOffset = this.dispatched;
        this.pendingIndexBytes = 0;
        const dirty: ConsumeQueue[] = [];
        for (const cq of this.table.consumeQueues()) if (cq.unpersistedBytes > 0) dirty.push(cq);
        for (let i = 0; i < dirty.length; i += PERSIST_CONCURRENCY)
          await Promise.all(dirty.slice(i, i + PERSIST_CONCURRENCY).map((cq) => cq.persist()));
        await this.index.persist();
        await this.writeCheckpoint(false, logicsOffset);
      } catch (err) {
        this.cfg.logger.error(`persisting consume queues/index failed: ${(err as Error).message}`);
        if (!this.health.writeFailure) {
          this.health.writeFailure = writeFailureText("consume queue/index", err as Error);
        }
        throw err;
      } finally {
        this.persistRunning = undefined;
      }
    })();
    return this.persistRunning;
  }

  /** Waits for a persist in flight (errors ignored: it logged them). */
  async persistSettled(): Promise<void> {
    while (this.persistRunning) await this.persistRunning.catch(() => {});
  }

  writeCheckpoint(clean: boolean, logicsOffset = this.dispatched): Promise<void> {
    return writeCheckpoint(join(this.cfg.storePathRootDir, "checkpoint"), {
      version: 1,
      physicFlushedOffset: clean ? this.log.maxOffset : Math.min(this.log.flushedOffset, this.flushedCap),
      logicsOffset,
      physicMsgTimestamp: Date.now(),
      logicsMsgTimestamp: Date.now(),
      indexMsgTimestamp: this.index.lastTs,
      ...(clean ? { cleanEndOffset: this.log.maxOffset } : {}),
    });
  }
}
