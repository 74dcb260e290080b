import type { AppendPath } from "./AppendPath.js";
import type { CommitLog, ScannedRecord } from "./CommitLog.js";
import type { ConfirmWaiters } from "./ConfirmWaiters.js";
import { type MessageStoreConfig, type ResolvedConfig, resolveConfig } from "./config.js";
import type { CommitGate, Dispatcher } from "./Dispatcher.js";
import type { DispatchFields } from "./DispatchFields.js";
import type { DurationBuckets } from "./DurationBuckets.js";
import type { MessageQueries } from "./MessageQueries.js";
import type { PutWaiters } from "./PutWaiters.js";
import type { QueueTable } from "./QueueTable.js";
import type { RecordCopy } from "./RecordCopy.js";
import { type ReplicationChunk, readReplicationChunk } from "./ReplicationSource.js";
import type { RetentionService } from "./RetentionService.js";
import { messageIllegal, serviceNotAvailable } from "./StoreError.js";
import type { StoreHealth } from "./StoreHealth.js";
import { StoreLifecycle } from "./StoreLifecycle.js";
import { assembleStore } from "./StoreParts.js";
import type { GetMessageResult, MessageInput, PutResult, StoreStats } from "./StoreTypes.js";
import { takeBackUncommitted } from "./UncommittedTruncation.js";

export type { CommitGate } from "./Dispatcher.js";
export type { ReplicationChunk } from "./ReplicationSource.js";
export type {
  GetMessageResult,
  GetMessageStatus,
  MessageInput,
  PutResult,
  StoreStats,
} from "./StoreTypes.js";

/** Options of a put. */
export interface PutOptions {
  /**
   * A delivery of a parked message (timer, delay level, transaction decision): still taken
   * when the disk is above diskSpaceWarningLevelRatio, up to diskSpaceReserveRatio, because
   * it is what lets retention delete the segments pending records keep.
   */
  reserve?: boolean;
  /**
   * putMessagesBatch, putMessages: false when the caller never reads the result's msgIds
   * (they are then empty): no id string is made per record (transaction decisions store two
   * per transaction; SEND_HALF_BATCH writes its answer's ids from the records' offsets,
   * commitLogOffset and recordSizes, with offsetMsgIdPrefix).
   */
  msgIds?: boolean;
}

/**
 * The storage engine: one CommitLog, a ConsumeQueue per topic/queue, an IndexService, a
 * checkpoint + abort marker for recovery, retention and disk guards. See README.md.
 *
 * This class is the door: it wires the parts and keeps the public API. The work is in
 * AppendPath (puts, replicated appends), Dispatcher (log → consume queues + index, the
 * visible offset, persistence), StoreLifecycle (open + recovery, background services, stop),
 * RetentionService and MessageQueries.
 */
export class MessageStore {
  private readonly cfg: ResolvedConfig;
  private readonly log: CommitLog;
  private readonly table: QueueTable;
  private readonly health: StoreHealth;
  private readonly waiters: PutWaiters;
  private readonly dispatcher: Dispatcher;
  private readonly appender: AppendPath;
  private readonly retention: RetentionService;
  private readonly queries: MessageQueries;
  private readonly confirms: ConfirmWaiters;
  private readonly lifecycle: StoreLifecycle;

  private constructor(cfg: ResolvedConfig) {
    const p = assembleStore(cfg);
    this.cfg = cfg;
    this.log = p.log;
    this.table = p.table;
    this.health = p.health;
    this.waiters = p.waiters;
    this.dispatcher = p.dispatcher;
    this.appender = p.appender;
    this.retention = p.retention;
    this.queries = p.queries;
    this.confirms = p.confirms;
    this.lifecycle = new StoreLifecycle(p);
  }

  /** Opens the store, recovering after a crash (abort marker present) or trusting a clean stop. */
  static async open(config: MessageStoreConfig): Promise<MessageStore> {
    const store = new MessageStore(resolveConfig(config));
    await store.lifecycle.open(config.commitGate);
    return store;
  }

  /**
   * Resolves once the log's confirmed offset (written; flushed under SYNC_FLUSH) reaches
   * `offset`, whatever the commit gate says: what a Raft replica waits for before it
   * acknowledges entries. Rejects on a write failure or when the store stops.
   */
  whenConfirmed(offset: number): Promise<void> {
    if (this.log.confirmedOffset >= offset) return Promise.resolve();
    if (this.health.closed) return Promise.reject(serviceNotAvailable("message store is shut down"));
    return this.confirms.wait(offset);
  }

  /** See AppendPath.onLocalAppend: every local append's records, before they are written. */
  setLocalAppendListener(
    listener: ((prevEnd: number, offset: number, bytes: Buffer) => void) | undefined,
  ): void {
    this.appender.onLocalAppend = listener;
  }

  /**
   * The first 16 characters of every offset message id this store gives out (its host and
   * port in uppercase hex); the last 16 are the record's commit-log offset.
   */
  get offsetMsgIdPrefix(): string {
    return this.appender.msgIdPrefix;
  }

  /** The offset message id of the record at `commitLogOffset` (what a put's msgIds hold). */
  offsetMsgId(commitLogOffset: number): string {
    return this.appender.msgId(commitLogOffset);
  }

  /** The segment size records are placed by (replicas of one log must agree on it). */
  get segmentSize(): number {
    return this.cfg.mappedFileSizeCommitLog;
  }

  /** The commit-log directory (a Raft storage reads entries of lagging followers from it). */
  get commitLogDir(): string {
    return this.cfg.storePathCommitLog;
  }

  // ------------------------------------------------------------------ puts (AppendPath)

  /** `reserve`: a delivery of a parked message, taken on a full disk up to diskSpaceReserveRatio. */
  putMessage(msg: MessageInput, options?: PutOptions): Promise<PutResult> {
    try {
      this.health.checkWritable(options?.reserve);
      return this.appender.appendGroup(msg, undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * One batch: same topic and queue, contiguous records with consecutive queue offsets.
   * Only `msgIds` of the options counts here.
   */
  putMessages(msgs: MessageInput[], options?: PutOptions): Promise<PutResult> {
    try {
      this.health.checkWritable();
      if (!Array.isArray(msgs) || msgs.length === 0) throw messageIllegal("empty message batch");
      return this.appender.appendGroup(msgs[0]!, msgs, options?.msgIds !== false);
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
   * (under SYNC_FLUSH: flushed), so every result has the same status. A RecordCopy is stored
   * as a copy of a record in the in-memory tail, or as its fallback input (RecordCopy.ts).
   */
  putMessagesBatch(msgs: readonly (MessageInput | RecordCopy)[], options?: PutOptions): Promise<PutResult[]> {
    try {
      this.health.checkWritable(options?.reserve);
      if (!Array.isArray(msgs)) throw messageIllegal("message batch is not an array");
      if (msgs.length === 0) return Promise.resolve([]);
      return this.appender.appendIndependent(msgs, options?.msgIds !== false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ------------------------------------------------------------------ replication seam

  /**
   * Appends already-encoded records copied from another replica at exactly `offset` (see
   * AppendPath.appendReplicated). Resolves once confirmed and dispatched; `count` is the
   * number of records, `queueOffset` -1.
   */
  appendReplicated(offset: number, data: Buffer, segmentSize: number): Promise<PutResult> {
    try {
      this.health.checkReplicable();
      return this.appender.appendReplicated(offset, data, segmentSize);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Makes puts fail with SERVICE_NOT_AVAILABLE and `reason` (undefined: take them again), for
   * a replica whose log only grows by appendReplicated: a local append would fork it.
   */
  refuseLocalAppends(reason: string | undefined): void {
    this.health.localAppendsRefused = reason;
  }

  /**
   * Whole records from `from` for a replica, within one segment, at most `maxBytes` (one
   * record more if a single record is larger), only below the confirmed offset; undefined
   * when there is nothing new. Throws RangeError when `from` is not a record boundary of
   * this log (a diverged replica).
   */
  readReplicationChunk(from: number, maxBytes: number): Promise<ReplicationChunk | undefined> {
    return readReplicationChunk(this.log, from, maxBytes);
  }

  /**
   * Puts a commit gate over visibility: records become visible (dispatched, readable, their
   * puts answered) only below its committedOffset. Call commitAdvanced() when it moves.
   */
  setCommitGate(gate: CommitGate | undefined): void {
    this.dispatcher.setCommitGate(gate);
  }

  /**
   * Takes back the records at and past `offset` (a record boundary): only records the commit
   * gate still holds back — never anything visible. Their puts are refused
   * (SERVICE_NOT_AVAILABLE), their queue offsets handed out again, the log cut (see
   * CommitLog.truncateTo) and a checkpoint written that no longer claims them. What a Raft
   * follower (or a deposed leader) does with an uncommitted suffix.
   */
  truncateUncommitted(offset: number): Promise<void> {
    return takeBackUncommitted(this.log, this.dispatcher, this.waiters, this.health, offset);
  }

  /** The commit gate's offset moved: dispatch what became visible. */
  commitAdvanced(): void {
    this.dispatcher.schedule();
  }

  /** End of the commit log (everything reserved). */
  get maxPhysicalOffset(): number {
    return this.log.maxOffset;
  }

  /** Durable per the flush mode (written, or flushed under SYNC_FLUSH); what a replica acknowledges. */
  get confirmedPhysicalOffset(): number {
    return this.log.confirmedOffset;
  }

  /** Readers see records below this: the confirmed offset, capped by the commit gate. */
  get visibleOffset(): number {
    return this.dispatcher.visibleOffset;
  }

  onMessageArrived(listener: (topic: string, queueId: number, maxOffset: number) => void): void {
    this.dispatcher.onMessageArrived(listener);
  }

  // ------------------------------------------------------------------ retention

  /** Re-reads disk usage now (normally every diskCheckInterval ms). */
  refreshDiskUsage(): Promise<void> {
    return this.retention.checkDisk();
  }

  /**
   * One retention pass: at a deleteWhen hour (or `manual`), segments older than
   * fileReservedTime; when the disk is fuller than diskMaxUsedSpaceRatio, the oldest ones
   * regardless of age. Consume-queue and index entries pointing into them go too.
   * Returns the number of segments deleted.
   */
  deleteExpiredFiles(options: { manual?: boolean; now?: number } = {}): Promise<number> {
    return this.retention.deleteExpiredFiles(options);
  }

  /**
   * Keeps every commit-log segment at or above the offset `guard` returns from retention,
   * expired or not, disk full or not (records acknowledged for a later delivery: timers,
   * delay levels, unresolved halves). Asked at each retention pass.
   */
  addRetentionGuard(name: string, guard: () => number | Promise<number>): void {
    this.retention.guards.add(name, guard);
  }

  removeRetentionGuard(name: string): void {
    this.retention.guards.remove(name);
  }

  /**
   * Where the guards (`exclude` left out) say parked records start (`offset`, POSITIVE_INFINITY
   * when none is held, `by` the guard), and `seenUpTo`, what was dispatched before they were
   * asked: a record appended meanwhile was not seen by them and lies at or past that point.
   */
  async parkedRecordsFloor(exclude?: string): Promise<{ seenUpTo: number; offset: number; by?: string }> {
    const seenUpTo = this.dispatcher.dispatched;
    const f = await this.retention.guards.floor(exclude);
    return { seenUpTo, offset: f.offset, ...(f.by !== undefined ? { by: f.by } : {}) };
  }

  /** Set while a retention guard keeps a segment retention would delete (status lines, tests). */
  get retentionHeldBy(): { guard: string; offset: number } | undefined {
    return this.retention.heldBy;
  }

  /**
   * The commit-log offset of entry `queueOffset` of a queue, or POSITIVE_INFINITY when the
   * queue has no such entry yet (past its end; what a retention guard needs next). Entries
   * below the queue's start answer its first entry's offset.
   */
  commitLogOffsetInQueue(topic: string, queueId: number, queueOffset: number): Promise<number> {
    return this.queries.commitLogOffsetInQueue(topic, queueId, queueOffset);
  }

  deleteTopics(topics: string[]): Promise<void> {
    return this.table.deleteTopics(topics);
  }

  // ------------------------------------------------------------------ reads (MessageQueries)

  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.queries.getMaxOffsetInQueue(topic, queueId);
  }

  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.queries.getMinOffsetInQueue(topic, queueId);
  }

  getMessage(
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: (tagsCode: number, queueOffset: number) => boolean,
    maxBytes?: number,
  ): Promise<GetMessageResult> {
    return this.queries.getMessage(topic, queueId, offset, maxMsgNums, filter, maxBytes);
  }

  getOffsetInQueueByTime(topic: string, queueId: number, timestamp: number): Promise<number> {
    return this.queries.getOffsetInQueueByTime(topic, queueId, timestamp);
  }

  getEarliestMessageTime(topic: string, queueId: number): Promise<number> {
    return this.queries.getEarliestMessageTime(topic, queueId);
  }

  getMessageStoreTimestamp(topic: string, queueId: number, queueOffset: number): Promise<number> {
    return this.queries.getMessageStoreTimestamp(topic, queueId, queueOffset);
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
    const from = await this.offsetSince(timestamp, maxBytes);
    if (from < to) await this.log.forEachRecord(from, to, onRecord);
    return { from, to };
  }

  /**
   * Where the records stored since `timestamp` start in the commit log (see
   * forEachRecordSince), at most `maxBytes` before its confirmed end.
   */
  offsetSince(timestamp: number, maxBytes = Number.POSITIVE_INFINITY): Promise<number> {
    return this.queries.offsetSince(timestamp, maxBytes);
  }

  /**
   * Calls `onRecord(offset, fields)` for the records in [from, to) of the commit log's files,
   * reading in place only the dispatch fields (topic, queue, store time, TAGS, KEYS,
   * UNIQ_KEY): start-up state rebuilt from the log's tail without decoding whole records.
   * Start-up only (before appends): it reads the files, not the in-memory tail.
   */
  forEachRecordFields(
    from: number,
    to: number,
    onRecord: (offset: number, fields: DispatchFields) => void,
  ): Promise<void> {
    return this.log.forEachRecordFields(from, Math.min(to, this.log.confirmedOffset), onRecord);
  }

  /** One stored record at a physical offset (offsetMsgId look-ups); only confirmed data. */
  lookMessageByOffset(commitLogOffset: number): Promise<Buffer | undefined> {
    return this.queries.lookMessageByOffset(commitLogOffset);
  }

  /** Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored in [begin, end]. */
  queryMessage(
    topic: string,
    key: string,
    maxNum: number,
    begin: number,
    end: number,
  ): Promise<{ messages: Buffer[]; indexLastUpdateTimestamp: number; indexLastUpdatePhyoffset: number }> {
    return this.queries.queryMessage(topic, key, maxNum, begin, end);
  }

  /** Commit-log flush (fdatasync round) durations in ms, for the broker's metrics. */
  get flushTimes(): DurationBuckets {
    return this.log.flushTimes;
  }

  /**
   * Where the commit-log segment holding `offset` ends; a segment's size past it when no
   * segment holds it yet (the log's end, where the last segment ended). Below the log's start
   * it cannot be known (retention deleted that segment): callers must not ask.
   */
  segmentEndAt(offset: number): number {
    const seg = this.log.segments[this.log.segmentIndexFor(offset)];
    return seg ? seg.start + seg.size : offset + this.segmentSize;
  }

  /** The commit-log segment holding `offset` ([start, end)), if one does. */
  segmentHolding(offset: number): { start: number; end: number; path: string } | undefined {
    const seg = this.log.segments[this.log.segmentIndexFor(offset)];
    return seg ? { start: seg.start, end: seg.start + seg.size, path: seg.path } : undefined;
  }

  /** Why appends are refused for now because the disk is full (undefined: they are not). */
  get diskFullReason(): string | undefined {
    return this.health.diskFull;
  }

  /** The commit log's oldest offset (retention moves it up). */
  get commitLogMinOffset(): number {
    return this.log.minOffset;
  }

  get stats(): StoreStats {
    const visible = this.dispatcher.visibleOffset;
    return {
      commitLogMinOffset: this.log.minOffset,
      commitLogMaxOffset: visible,
      flushedOffset: this.log.flushedOffset,
      confirmedOffset: visible,
      putMessageTimesTotal: this.appender.putTimes,
      putMessageSizeTotal: this.appender.putBytes,
      dispatchBehindBytes: Math.max(0, visible - this.dispatcher.dispatched),
      earliestMessageTimeStamp: this.retention.earliestTime,
      diskUsedRatio: this.retention.diskRatio,
    };
  }

  // ------------------------------------------------------------------ stop

  /**
   * Stops like a killed process would: no flush, no checkpoint, abort marker left behind,
   * unacknowledged puts dropped. Writes already handed to the OS complete (as they would in
   * the page cache). For tests and for giving up on a store after a fatal error.
   */
  halt(): Promise<void> {
    return this.lifecycle.halt();
  }

  /** Clean stop: flush, persist consume queues and index, write a clean checkpoint, remove the abort marker. */
  shutdown(): Promise<void> {
    return this.lifecycle.shutdown();
  }
}
