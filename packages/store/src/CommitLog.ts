import fs from "node:fs";
import { MAGIC_V1, MAGIC_V2, MIN_RECORD_BYTES } from "@tidemq/protocol";
import type { AppendLog, Reservation } from "./AppendLog.js";
import { checkEndAfterCleanStop, recoverEndAfterCrash } from "./CommitLogRecovery.js";
import type { FlushDiskType } from "./config.js";
import type { DispatchFields } from "./DispatchFields.js";
import type { DurationBuckets } from "./DurationBuckets.js";
import { GroupCommit } from "./GroupCommit.js";
import type { Logger } from "./Logger.js";
import { LogWriter } from "./LogWriter.js";
import { BLANK_HEADER_BYTES, writeBlank } from "./RecordCodec.js";
import { closeWriteFd, cutTail, listSegments, newSegment, type Segment, segmentIndexFor } from "./Segment.js";
import { SegmentReader } from "./SegmentReader.js";
import { forEachRecord, forEachRecordFields, type ScannedRecord } from "./SegmentScan.js";
import { type Block, TailBlocks } from "./TailBlocks.js";

export type { AppendLog, Reservation } from "./AppendLog.js";
export { FLUSH_BOUNDS_MS } from "./GroupCommit.js";
export type { Segment } from "./Segment.js";
export type { ScannedRecord } from "./SegmentScan.js";

/**
 * The commit log: fixed-size segment files (Segment.ts) and the offsets that say what is
 * reserved, written, flushed and confirmed. This class places records in the in-memory tail
 * (TailBlocks.ts), cuts the log back, and serves reads; the parts it composes write the tail
 * out (LogWriter.ts, with DirectWriter.ts and ZeroFill.ts), fsync it (GroupCommit.ts), read
 * older data (SegmentReader.ts) and scan segments at start-up (SegmentScan.ts,
 * CommitLogRecovery.ts).
 */

export interface CommitLogOptions {
  dir: string;
  segmentSize: number;
  blockBytes: number;
  maxTailBytes: number;
  flushDiskType: FlushDiskType;
  flushInterval: number;
  logger: Logger;
}

export class CommitLog implements AppendLog {
  readonly segments: Segment[] = [];
  private _maxOffset = 0;
  private readonly tail: TailBlocks;
  private readonly writer: LogWriter;
  private readonly commit: GroupCommit;
  /** ms per group-commit fdatasync round (all dirty segments), read by the broker's metrics. */
  readonly flushTimes: DurationBuckets;
  private failure: Error | undefined;
  private readonly listeners: ((error?: Error) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly reader = new SegmentReader(() => this.writer.written);

  constructor(private readonly opt: CommitLogOptions) {
    this.tail = new TailBlocks(opt.blockBytes, opt.maxTailBytes);
    this.commit = new GroupCommit({
      syncFlush: opt.flushDiskType === "SYNC_FLUSH",
      written: () => this.writer.written,
      current: () => this.segments.at(-1),
      onFlushed: () => this.notify(),
      onError: (err) => this.fail(err),
    });
    this.flushTimes = this.commit.times;
    this.writer = new LogWriter(
      {
        syncFlush: opt.flushDiskType === "SYNC_FLUSH",
        tail: this.tail,
        reserved: () => this._maxOffset,
        current: () => this.segments.at(-1),
        failed: () => this.failure !== undefined,
        wrote: (seg) => this.commit.markDirty(seg),
        onWritten: () => {
          this.tail.evict(this.writer.written);
          this.notify();
          if (opt.flushDiskType === "SYNC_FLUSH") void this.commit.request();
        },
        onAllWritten: () => {
          for (const w of this.idleWaiters.splice(0)) w();
        },
        onError: (err) => this.fail(err),
      },
      opt.logger,
    );
  }

  get minOffset(): number {
    return this.segments[0]?.start ?? this._maxOffset;
  }
  get maxOffset(): number {
    return this._maxOffset;
  }
  get writtenOffset(): number {
    return this.writer.written;
  }
  get flushedOffset(): number {
    return this.commit.flushed;
  }
  get confirmedOffset(): number {
    return this.opt.flushDiskType === "SYNC_FLUSH" ? this.commit.flushed : this.writer.written;
  }
  get writeFailure(): Error | undefined {
    return this.failure;
  }

  onProgress(listener: (error?: Error) => void): void {
    this.listeners.push(listener);
  }

  // ---------------------------------------------------------------- start-up

  /** Lists the segment files and checks that they form one gap-free sequence. */
  async load(): Promise<void> {
    const { segments, emptyFrom } = await listSegments(this.opt.dir, this.opt.segmentSize, this.opt.logger);
    this.segments.push(...segments);
    this.emptyFrom = emptyFrom;
  }

  /** Where the empty segment files removed at load began (Segment.listSegments), if any. */
  private emptyFrom: number | undefined;

  /** After a clean stop: the checkpoint's end offset is trusted, no scan. */
  setEndAfterCleanStop(end: number): void {
    checkEndAfterCleanStop(this.segments, this.opt.dir, end, this.emptyFrom);
    this.setEnd(end);
  }

  private setEnd(end: number): void {
    this._maxOffset = end;
    this.writer.setEnd(end);
    this.commit.flushed = end;
  }

  /**
   * After a crash: validate every record from `from` (a record boundary known durable),
   * cut a torn tail, return the new end (CommitLogRecovery.ts).
   */
  async recoverAfterCrash(from: number): Promise<number> {
    const end = await recoverEndAfterCrash(
      this.segments,
      this.opt.dir,
      from,
      this.opt.logger,
      this.emptyFrom,
    );
    this.setEnd(end);
    return end;
  }

  /** Calls `onRecord` for every record in [from, to), in order (dispatch rebuild). */
  forEachRecord(
    from: number,
    to: number,
    onRecord: (r: ScannedRecord) => void | Promise<void>,
  ): Promise<void> {
    return forEachRecord(this.segments, Math.max(from, this.minOffset), to, onRecord);
  }

  /** Calls `onRecord` with the dispatch fields of every record in [from, to), in order (SegmentScan.forEachRecordFields). */
  forEachRecordFields(
    from: number,
    to: number,
    onRecord: (offset: number, fields: DispatchFields) => void,
  ): Promise<void> {
    return forEachRecordFields(this.segments, Math.max(from, this.minOffset), to, onRecord);
  }

  // ---------------------------------------------------------------- appends

  reserve(bytes: number): Reservation {
    let seg = this.segments.at(-1);
    let pos = this._maxOffset;
    if (!seg || pos + bytes + BLANK_HEADER_BYTES > seg.start + seg.size) {
      if (seg && pos < seg.start + seg.size) {
        // RocketMQ's end-of-file filler: TOTALSIZE = rest of the segment, MAGIC_BLANK.
        const b = this.tail.blockFor(seg, pos, BLANK_HEADER_BYTES);
        writeBlank(b.buf, pos - b.start, seg.start + seg.size - pos);
        b.used += BLANK_HEADER_BYTES;
        b.closed = true;
        b.logicalEnd = seg.start + seg.size;
        pos = seg.start + seg.size;
      }
      const start = seg ? seg.start + seg.size : pos;
      // A record larger than a segment gets a segment of its own, rounded to 4 KiB.
      const size = Math.max(this.opt.segmentSize, Math.ceil((bytes + BLANK_HEADER_BYTES) / 4096) * 4096);
      seg = newSegment(this.opt.dir, start, size);
      this.segments.push(seg);
      pos = start;
    }
    const b = this.tail.blockFor(seg, pos, bytes);
    const at = pos - b.start;
    b.used += bytes;
    b.logicalEnd = b.start + b.used;
    this._maxOffset = pos + bytes;
    return { buf: b.buf, view: b.view, pos: at, offset: pos };
  }

  /**
   * Room for replicated bytes at exactly `offset`: the end of the log (which is the next
   * segment's start after replicated bytes that ended with a blank filler), or anywhere when
   * the log is empty (a new replica starts at the source's oldest segment). `segmentSize` is
   * the source's size for the segment holding `offset` (a record larger than a segment has a
   * segment of its own size). The bytes must not cross the segment's end: the source sends no
   * byte range that spans two of its segments. `fillerEnd`: the bytes end with the source's
   * blank filler, which says where the source's segment ends — this log's must end there too,
   * or every later offset would be placed elsewhere than the source's (refused, nothing changed).
   */
  reserveAt(offset: number, bytes: number, segmentSize: number, fillerEnd?: number): Reservation {
    let seg = this.segments.at(-1);
    if (seg ? offset !== this._maxOffset : this._maxOffset !== 0 && offset !== this._maxOffset) {
      throw new RangeError(
        `replicated bytes at ${offset} do not continue the ${seg ? "" : "empty "}log (end ${this._maxOffset})`,
      );
    }
    const fresh = !seg || offset >= seg.start + seg.size;
    // The source's size as given (a replica's first segment may be the tail of one of the
    // source's: it then ends where the source's does); rounded only for an oversized record.
    const segEnd = fresh
      ? offset + (bytes <= segmentSize ? segmentSize : Math.ceil(bytes / 4096) * 4096)
      : seg!.start + seg!.size;
    if (offset + bytes > segEnd) {
      throw new RangeError(
        `replicated bytes [${offset}, ${offset + bytes}) cross the end of the segment at ${segEnd}`,
      );
    }
    if (fillerEnd !== undefined && fillerEnd !== segEnd) {
      throw new RangeError(
        `replicated bytes at ${offset} end with the source's blank filler, which ends its segment at ${fillerEnd}, but this log's segment ends at ${segEnd}: the segments do not line up with the source's`,
      );
    }
    if (!seg) {
      this.setEnd(offset);
      this.writer.zeroFill.restartAt(offset);
    }
    if (fresh) {
      seg = newSegment(this.opt.dir, offset, segEnd - offset);
      this.segments.push(seg);
    }
    const b = this.tail.blockFor(seg!, offset, bytes);
    const at = offset - b.start;
    b.used += bytes;
    b.logicalEnd = b.start + b.used;
    this._maxOffset = offset + bytes;
    if (fillerEnd !== undefined) {
      // The log continues at the next segment, exactly as after reserve()'s roll.
      b.closed = true;
      b.logicalEnd = segEnd;
      this._maxOffset = segEnd;
    }
    return { buf: b.buf, view: b.view, pos: at, offset };
  }

  publish(): void {
    this.writer.publish();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.idleWaiters.splice(0)) w();
    this.opt.logger.error(`commit log write failed, the store stops taking writes: ${err.message}`);
    for (const l of this.listeners) l(err);
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  // ---------------------------------------------------------------- flush and close

  /** Flushes what is written; concurrent requests coalesce into the next fsync (group commit). */
  requestFlush(): Promise<void> {
    return this.commit.request();
  }

  startFlushTimer(): void {
    if (this.opt.flushDiskType === "ASYNC_FLUSH") this.commit.startTimer(this.opt.flushInterval);
  }

  /** Waits until everything reserved is written, then fsyncs it. */
  async flushAll(): Promise<void> {
    if (this.writer.written < this._maxOffset && !this.failure) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        this.writer.pump();
      });
    }
    await this.commit.settle();
    await this.commit.request();
    await this.commit.settle();
  }

  /** Stops taking writes, lets writes in flight land, closes files; no flush. */
  async halt(): Promise<void> {
    this.failure ??= new Error("halted");
    for (let i = 0; i < 10_000 && this.writer.writesInFlight > 0; i++)
      await new Promise((r) => setTimeout(r, 1));
    await this.commit.settle();
    await this.close();
  }

  async close(): Promise<void> {
    this.commit.stopTimer();
    await this.writer.zeroFill.stop();
    for (const s of this.segments) await closeWriteFd(s);
    await this.reader.close();
    this.tail.clear();
  }

  /**
   * Cuts the log back to `offset` (a record boundary): what a Raft follower does with an
   * uncommitted suffix that conflicts with its leader. Lets writes in flight land and syncs
   * them, then zeros the segment past `offset` (ftruncate down and up: a later scan sees the
   * end there), removes later segments and drops the in-memory tail; the next append goes at
   * `offset`. The caller takes no appends meanwhile and has dispatched nothing past `offset`.
   */
  async truncateTo(offset: number): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < this.minOffset || offset > this._maxOffset) {
      throw new RangeError(
        `cannot truncate the commit log to ${offset}: it holds [${this.minOffset}, ${this._maxOffset})`,
      );
    }
    if (offset === this._maxOffset) return;
    await this.flushAll();
    await this.writer.zeroFill.inFlight;
    if (this.failure) throw this.failure;
    const k = segmentIndexFor(this.segments, offset);
    if (k < 0) throw new RangeError(`cannot truncate the commit log to ${offset}: no segment holds it`);
    for (let j = k; j < this.segments.length; j++) {
      const seg = this.segments[j]!;
      this.reader.forgetFile(seg);
      await closeWriteFd(seg);
    }
    const removed = this.segments.slice(k + 1);
    await cutTail(this.segments, k, offset, this.opt.logger);
    this.commit.forget(removed);
    this.tail.dropAll();
    this.reader.dropChunks();
    this.writer.dropIssued();
    this.setEnd(offset);
    this.writer.zeroFill.restartAt(offset);
    this.opt.logger.info(`commit log truncated to ${offset}`);
  }

  // ---------------------------------------------------------------- reads

  segmentIndexFor(offset: number): number {
    return segmentIndexFor(this.segments, offset);
  }

  /**
   * The bytes [offset, offset+length) if they are all in the in-memory tail: a view into a
   * block that is recycled later, so copy it before any await.
   */
  tailSlice(offset: number, length: number): Buffer | undefined {
    return this.tail.slice(offset, length);
  }

  /** The in-memory block holding the whole record at `offset`, if any (see TailBlocks.recordAt). */
  tailRecord(offset: number): Block | undefined {
    return this.tail.recordAt(offset);
  }

  /** Copies [offset, offset+length) (within one segment, already written) into `into`. */
  async read(offset: number, length: number, into: Buffer, intoPos: number): Promise<void> {
    const t = this.tail.slice(offset, length);
    if (t) {
      t.copy(into, intoPos);
      return;
    }
    if (offset + length > this.writer.written)
      throw new RangeError(`commit log range ends past the written offset ${this.writer.written}`);
    const idx = segmentIndexFor(this.segments, offset);
    const seg = this.segments[idx];
    if (!seg || offset + length > seg.start + seg.size) {
      throw new RangeError(`commit log range [${offset}, ${offset + length}) is not in one segment`);
    }
    await this.reader.read(seg, offset, length, into, intoPos);
  }

  /** Reads one record (its size comes from its first 4 bytes); undefined if none starts there. */
  async readRecord(offset: number): Promise<Buffer | undefined> {
    if (offset < this.minOffset || offset + 8 > this.writer.written) return undefined;
    const head = Buffer.allocUnsafe(8);
    await this.read(offset, 8, head, 0);
    const size = head.readInt32BE(0);
    const magic = head.readInt32BE(4);
    if (
      (magic !== MAGIC_V1 && magic !== MAGIC_V2) ||
      size < MIN_RECORD_BYTES - 1 ||
      offset + size > this.writer.written
    ) {
      return undefined;
    }
    const out = Buffer.allocUnsafe(size);
    await this.read(offset, size, out, 0);
    return out;
  }

  // ---------------------------------------------------------------- retention

  /** Removes the oldest segment (never the current one); returns it. */
  async deleteFirstSegment(): Promise<Segment | undefined> {
    if (this.segments.length <= 1) return undefined;
    const s = this.segments[0]!;
    if (s.start + s.size > this.writer.written) return undefined; // writes still go there
    // An fsync in flight may use its fd: let it finish (bounded).
    await this.commit.settle();
    if (this.commit.inProgress || this.segments[0] !== s) return undefined;
    this.segments.shift();
    this.reader.dropChunksBelow(s.start + s.size);
    this.commit.forget([s]);
    this.reader.forgetFile(s);
    await closeWriteFd(s);
    await fs.promises.rm(s.path, { force: true });
    return s;
  }
}
