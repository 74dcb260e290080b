import fs from "node:fs";
import { dirname, join } from "node:path";
import {
  atEndOfTurn,
  decodeMessage,
  MAGIC_BLANK,
  MAGIC_V1,
  MAGIC_V2,
  type MessageExt,
  MIN_RECORD_BYTES,
} from "@tidemq/protocol";
import type { FlushDiskType } from "./config.js";
import { DurationBuckets } from "./DurationBuckets.js";
import {
  close,
  fdatasync,
  fsyncDir,
  ftruncate,
  isOffsetFileName,
  offsetFileName,
  open,
  ReadFdCache,
  readAt,
  writeAt,
  writeDurableAt,
} from "./fsx.js";
import type { Logger } from "./Logger.js";
import { BLANK_HEADER_BYTES, writeBlank } from "./RecordCodec.js";
import { StoreCorruptionError } from "./StoreError.js";

/**
 * The contract a log under the MessageStore fulfils. The store reserves room, fills the
 * records in place, publishes them, and treats everything below `confirmedOffset` as
 * durable and visible. Today CommitLog confirms after the write (ASYNC_FLUSH) or after the
 * covering fdatasync (SYNC_FLUSH); a Raft log would confirm at its commit index instead.
 */
export interface AppendLog {
  readonly minOffset: number;
  /** End of everything reserved (the next record's physical offset). */
  readonly maxOffset: number;
  readonly writtenOffset: number;
  readonly flushedOffset: number;
  readonly confirmedOffset: number;
  /** Room for `bytes` of records in one segment, contiguous; fill it synchronously, then publish(). */
  reserve(bytes: number): Reservation;
  /**
   * Room for already-encoded records copied from another replica, at exactly `offset` (the
   * replica's physical offset, so offsets and offsetMsgIds are the same everywhere).
   */
  reserveAt(offset: number, bytes: number, segmentSize: number, endsSegment?: boolean): Reservation;
  publish(): void;
  /** Called whenever written/flushed/confirmed offsets move, or with an error once writes fail. */
  onProgress(listener: (error?: Error) => void): void;
  read(offset: number, length: number, into: Buffer, intoPos: number): Promise<void>;
  flushAll(): Promise<void>;
}

export interface Reservation {
  buf: Buffer;
  /** DataView over `buf`. */
  view: DataView;
  pos: number;
  offset: number;
}

export interface Segment {
  start: number;
  size: number;
  path: string;
  /** Write fd, open while the segment is current or holds unflushed bytes. */
  fd: number | undefined;
  /** True once the file exists at its full size. */
  ready: boolean;
  opening?: Promise<number>;
}

interface InflightWrite {
  from: number;
  to: number;
  /** Where the log continues after this write (past a blank record's tail). */
  next: number;
  done: boolean;
}

const MAX_WRITES_IN_FLIGHT = 4;
/**
 * Larger writes go to the thread pool: copying them into the page cache (≈ 0.27 µs per KiB
 * measured here, 0.14 over zero-filled blocks: ~70 µs for 256 KiB) would cost the event loop
 * more than the hand-off, and on another core it overlaps with encoding the next appends.
 */
const DIRECT_WRITE_MAX_BYTES = 256 * 1024;
/** A direct (synchronous) write slower than this sends writes to the thread pool for a while. */
const SLOW_DIRECT_WRITE_MS = 10;
const SLOW_WRITES_TO_SWITCH = 3;
const SLOW_WRITES_WINDOW_MS = 1000;
const THREAD_POOL_WRITES_MS = 5000;
/**
 * SYNC_FLUSH writes into blocks that already hold zeros, this far ahead of the log's end, in
 * chunks of ZERO_FILL_CHUNK. Writing into a hole allocates blocks when the pages are written
 * back, and the group commit's fdatasync must then also write the inode synchronously (a
 * second I/O round trip); over blocks that exist, fdatasync writes the data alone (measured
 * here: 0.33 -> 0.20 ms and 45 µs less CPU per fdatasync of 40 KiB). The zeros cost a second
 * write of each byte, in the thread pool and off the acknowledgement path (RocketMQ's
 * warmMappedFile does the same for a whole segment).
 */
const ZERO_FILL_AHEAD = 4 * 1024 * 1024;
const ZERO_FILL_CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(ZERO_FILL_CHUNK);
/** Read-ahead for old data: chunks of 1 MiB, at most 16 cached (bounded memory). */
const READ_AHEAD_BYTES = 1024 * 1024;
const READ_AHEAD_CHUNKS = 16;

/** A run of recent log bytes in memory: log [start, start + used). */
interface Block {
  start: number;
  buf: Buffer;
  view: DataView;
  used: number;
  segment: Segment;
  /** No more appends; after its bytes, the log continues at `logicalEnd` (past a blank record). */
  closed: boolean;
  logicalEnd: number;
}

export interface CommitLogOptions {
  dir: string;
  segmentSize: number;
  blockBytes: number;
  maxTailBytes: number;
  flushDiskType: FlushDiskType;
  flushInterval: number;
  logger: Logger;
}

export interface ScannedRecord {
  offset: number;
  size: number;
  message: MessageExt;
}

const SCAN_CHUNK = 8 * 1024 * 1024;

/** Flush latency bucket bounds, ms (an SSD fdatasync is ~0.2-2 ms, a busy disk far more). */
export const FLUSH_BOUNDS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

export class CommitLog implements AppendLog {
  readonly segments: Segment[] = [];
  private _maxOffset = 0;
  private _written = 0;
  private _flushed = 0;
  private blocks: Block[] = [];
  private tailBytes = 0;
  private writeScheduled = false;
  private issued = 0;
  private ioInFlight = 0;
  private readonly inflight: InflightWrite[] = [];
  private readonly freeBlocks: Buffer[] = [];
  private flushing = false;
  private flushAgain = false;
  /** ms per group-commit fdatasync round (all dirty segments), read by the broker's metrics. */
  readonly flushTimes = new DurationBuckets(FLUSH_BOUNDS_MS);
  private flushDone: Promise<void> | undefined;
  private dirty: Segment[] = [];
  private failure: Error | undefined;
  private readonly listeners: ((error?: Error) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly readFds = new ReadFdCache(64);
  private readonly chunks = new Map<number, Promise<Buffer>>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Log offset up to which the current segment holds written zeros (or data). */
  private zeroedTo = 0;
  /** The zero fill in flight: data writes into [from, to) wait for it. */
  private zeroing: { from: number; to: number; done: Promise<void> } | undefined;
  /** Set once closing, or after a zero fill failed (data writes then report their own errors). */
  private zeroFillOff = false;
  /** performance.now() from which direct writes are used again (after a slow one). */
  private directWritesFrom = 0;
  private slowDirectWrites: number[] = [];

  constructor(private readonly opt: CommitLogOptions) {}

  get minOffset(): number {
    return this.segments[0]?.start ?? this._maxOffset;
  }
  get maxOffset(): number {
    return this._maxOffset;
  }
  get writtenOffset(): number {
    return this._written;
  }
  get flushedOffset(): number {
    return this._flushed;
  }
  get confirmedOffset(): number {
    return this.opt.flushDiskType === "SYNC_FLUSH" ? this._flushed : this._written;
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
    await fs.promises.mkdir(this.opt.dir, { recursive: true });
    const names = (await fs.promises.readdir(this.opt.dir)).sort();
    for (const name of names) {
      const path = join(this.opt.dir, name);
      if (!isOffsetFileName(name)) {
        this.opt.logger.warn(`ignoring ${path}: not a commit log segment name`);
        continue;
      }
      const st = await fs.promises.stat(path);
      this.segments.push({ start: Number(name), size: st.size, path, fd: undefined, ready: true });
    }
    // Empty files at the end: a crash between creating a segment and its size reaching the
    // disk. Several can be left when segments rolled before any flush (ASYNC_FLUSH); none of
    // them holds data that was ever flushed, so they count as unsized segments and crash
    // recovery drops them.
    for (let i = this.segments.length - 1; i >= 0 && this.segments[i]!.size === 0; i--) {
      this.segments[i]!.size = this.opt.segmentSize;
      this.segments[i]!.ready = false;
    }
    for (let i = 0; i + 1 < this.segments.length; i++) {
      const a = this.segments[i]!;
      const b = this.segments[i + 1]!;
      if (a.start + a.size !== b.start) {
        const missing = join(this.opt.dir, offsetFileName(a.start + a.size));
        const truncated = a.size < this.opt.segmentSize || a.start + a.size > b.start;
        throw new StoreCorruptionError(
          truncated ? a.path : missing,
          `commit log segments do not follow each other: ${a.path} (${a.size} bytes) ends at ${a.start + a.size} ` +
            `but the next file is ${b.path}; a segment is missing or truncated, refusing to start`,
        );
      }
    }
  }

  /** After a clean stop: the checkpoint's end offset is trusted, no scan. */
  setEndAfterCleanStop(end: number): void {
    const last = this.segments.at(-1);
    if (!last) {
      if (end > 0) {
        throw new StoreCorruptionError(
          join(this.opt.dir, offsetFileName(end)),
          `checkpoint says the commit log ends at ${end} but there is no segment file`,
        );
      }
    } else if (end < last.start || end > last.start + last.size) {
      throw new StoreCorruptionError(
        last.path,
        `checkpoint says the commit log ends at ${end} but the last segment covers [${last.start}, ${last.start + last.size})`,
      );
    }
    this.setEnd(end);
  }

  private setEnd(end: number): void {
    this.issued = end;
    this._maxOffset = end;
    this._written = end;
    this._flushed = end;
  }

  /**
   * After a crash: validate every record from `from` (a record boundary known durable),
   * cut a torn tail, return the new end. Data after an invalid record in a *later*
   * segment is not a torn tail but damage, and stops the start.
   */
  async recoverAfterCrash(from: number): Promise<number> {
    const log = this.opt.logger;
    if (this.segments.length === 0) {
      if (from > 0) {
        throw new StoreCorruptionError(
          join(this.opt.dir, offsetFileName(0)),
          `checkpoint says the commit log was flushed up to ${from} but there is no segment file`,
        );
      }
      this.setEnd(0);
      return 0;
    }
    const first = this.segments[0]!;
    const last = this.segments.at(-1)!;
    let pos = Math.max(from, first.start);
    if (pos > last.start + last.size) {
      throw new StoreCorruptionError(
        join(this.opt.dir, offsetFileName(last.start + last.size)),
        `checkpoint says the commit log was flushed up to ${from} but the segments end at ${last.start + last.size}`,
      );
    }
    let idx = this.segmentIndexFor(pos);
    if (idx < 0) idx = this.segments.length; // exactly at the end of the last segment
    let reason: string | undefined;
    let scanned = 0;
    for (; idx < this.segments.length; idx++) {
      const seg = this.segments[idx]!;
      const r = await this.validateSegment(seg, Math.max(pos, seg.start));
      scanned += r.end - Math.max(pos, seg.start);
      pos = r.end;
      reason = r.reason;
      if (reason !== undefined || pos < seg.start + seg.size) break; // damage, or zeros = end of data
    }
    const k = this.segmentIndexFor(pos);
    if (k >= 0) {
      await this.refuseDataAfter(k, pos, reason);
      if (reason !== undefined) {
        log.warn(
          `commit log: truncated a torn tail at offset ${pos} in ${this.segments[k]!.path} (${reason}); ` +
            `${scanned} valid bytes scanned from ${Math.max(from, first.start)}`,
        );
      }
      await this.cutTail(k, pos);
    }
    log.info(
      `commit log: crash recovery scanned ${scanned} bytes from ${Math.max(from, first.start)}, end ${pos}`,
    );
    this.setEnd(pos);
    return pos;
  }

  /** Segments after the end segment `k` must be empty: data there means damage, not a torn tail. */
  private async refuseDataAfter(k: number, pos: number, reason: string | undefined): Promise<void> {
    for (let j = k + 1; j < this.segments.length; j++) {
      const s = this.segments[j]!;
      if (await this.hasData(s)) {
        throw new StoreCorruptionError(
          s.path,
          `commit log record at offset ${pos} in ${this.segments[k]!.path} is invalid (${reason ?? "zeros"}) ` +
            "but a later segment holds data; refusing to truncate (restore the file or move the later segments away)",
        );
      }
    }
  }

  /** Makes `pos` (in segment `k`) the end: zeros past it and removes the (empty) later segments. */
  private async cutTail(k: number, pos: number): Promise<void> {
    const endSeg = this.segments[k]!;
    // Zero everything past the end, so no stale bytes can pass for records in a later scan.
    const fd = await open(endSeg.path, "r+");
    try {
      await ftruncate(fd, pos - endSeg.start);
      await ftruncate(fd, endSeg.size);
      await fdatasync(fd);
      endSeg.ready = true;
    } finally {
      await close(fd);
    }
    while (this.segments.length > k + 1) {
      const s = this.segments.pop()!;
      this.opt.logger.warn(`commit log: removing empty segment ${s.path} past the recovered end ${pos}`);
      await fs.promises.rm(s.path, { force: true });
    }
  }

  private async hasData(seg: Segment): Promise<boolean> {
    const fd = await open(seg.path, "r");
    try {
      const b = Buffer.alloc(8);
      const n = await readAt(fd, b, 0, 8, 0);
      return n > 0 && (b.readInt32BE(0) !== 0 || b.readInt32BE(4) !== 0);
    } finally {
      await close(fd);
    }
  }

  /** Walks the records of one segment from `from`; stops at zeros, the segment end or an invalid record. */
  private async validateSegment(seg: Segment, from: number): Promise<{ end: number; reason?: string }> {
    const end = seg.start + seg.size;
    let pos = from;
    // What recovery accepts becomes the flushed offset: make it durable (after a kill -9 it
    // may still be only in the page cache).
    const fd = await open(seg.path, "r");
    try {
      await fdatasync(fd);
    } finally {
      await close(fd);
    }
    const r = await this.scanFile(seg, from, end, (offset, buf, p, size, magic) => {
      if (size === 0 && magic === 0) return "stop";
      if (magic === MAGIC_BLANK) {
        if (offset + size !== end) return `blank record of ${size} bytes does not end the segment`;
        pos = end;
        return "stop";
      }
      if (magic !== MAGIC_V1 && magic !== MAGIC_V2) return `bad magic 0x${(magic >>> 0).toString(16)}`;
      if (size < MIN_RECORD_BYTES - 1 || offset + size > end) return `bad size ${size}`;
      if (buf === undefined) return "need";
      try {
        const m = decodeMessage(buf, p, { verifyCrc: true, headersOnly: true });
        if (m.commitLogOffset !== offset) return `physical offset field ${m.commitLogOffset} != position`;
      } catch (err) {
        return (err as Error).message;
      }
      pos = offset + size;
      return "next";
    });
    return r.reason === undefined ? { end: pos } : { end: pos, reason: r.reason };
  }

  /**
   * Reads [from, to) of a segment in large chunks and calls `visit` per record header.
   * `visit` returns "next" (advance by size), "stop", "need" (call again with the record's
   * bytes in `buf`) or a string reason (invalid record).
   */
  private async scanFile(
    seg: Segment,
    from: number,
    to: number,
    visit: (offset: number, buf: Buffer | undefined, p: number, size: number, magic: number) => string,
    /** Called before the chunk buffer is reused, so views into it can be consumed first. */
    drain?: () => Promise<void>,
  ): Promise<{ reason?: string }> {
    const fd = await open(seg.path, "r");
    try {
      let chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, Math.max(4096, to - from)));
      let chunkStart = from;
      let chunkLen = 0;
      let pos = from;
      const load = async (at: number, need: number) => {
        if (drain) await drain();
        if (need > chunk.length) chunk = Buffer.allocUnsafe(need);
        chunkStart = at;
        chunkLen = await readAt(fd, chunk, 0, Math.min(chunk.length, to - at), at - seg.start);
      };
      while (pos < to) {
        if (pos + 8 > chunkStart + chunkLen) {
          await load(pos, 8);
          if (chunkLen < 8) return { reason: chunkLen === 0 ? undefined : "truncated header" };
        }
        const p = pos - chunkStart;
        const size = chunk.readInt32BE(p);
        const magic = chunk.readInt32BE(p + 4);
        let verdict = visit(pos, undefined, p, size, magic);
        if (verdict === "need") {
          if (pos + size > chunkStart + chunkLen) {
            await load(pos, size);
            if (chunkLen < size) return { reason: `record of ${size} bytes cut by the end of file` };
          }
          verdict = visit(pos, chunk, pos - chunkStart, size, magic);
        }
        if (verdict === "next") pos += size;
        else if (verdict === "stop") return {};
        else return { reason: verdict };
      }
      return {};
    } finally {
      await close(fd);
    }
  }

  /** Calls `onRecord` for every record in [from, to), in order (dispatch rebuild). */
  async forEachRecord(
    from: number,
    to: number,
    onRecord: (r: ScannedRecord) => void | Promise<void>,
  ): Promise<void> {
    let pos = Math.max(from, this.minOffset);
    while (pos < to) {
      const idx = this.segmentIndexFor(pos);
      if (idx < 0) break;
      const seg = this.segments[idx]!;
      const segEnd = Math.min(seg.start + seg.size, to);
      // Records are handed over chunk by chunk (memory stays bounded by one scan chunk).
      const pending: ScannedRecord[] = [];
      const drain = async () => {
        for (const rec of pending) await onRecord(rec);
        pending.length = 0;
      };
      const r = await this.scanFile(
        seg,
        pos,
        segEnd,
        (offset, buf, p, size, magic) => {
          if (size === 0 && magic === 0) return "stop";
          if (magic === MAGIC_BLANK) {
            pos = seg.start + seg.size;
            return "stop";
          }
          if (buf === undefined) return "need";
          try {
            pending.push({ offset, size, message: decodeMessage(buf, p) });
          } catch (err) {
            return (err as Error).message;
          }
          pos = offset + size;
          return "next";
        },
        drain,
      );
      await drain();
      if (r.reason !== undefined) {
        throw new StoreCorruptionError(seg.path, `commit log record at ${pos} does not decode: ${r.reason}`);
      }
      if (pos < seg.start + seg.size && pos < to) break;
    }
  }

  // ---------------------------------------------------------------- appends

  reserve(bytes: number): Reservation {
    let seg = this.segments.at(-1);
    let pos = this._maxOffset;
    if (!seg || pos + bytes + BLANK_HEADER_BYTES > seg.start + seg.size) {
      if (seg && pos < seg.start + seg.size) {
        // RocketMQ's end-of-file filler: TOTALSIZE = rest of the segment, MAGIC_BLANK.
        const b = this.blockFor(seg, pos, BLANK_HEADER_BYTES);
        writeBlank(b.buf, pos - b.start, seg.start + seg.size - pos);
        b.used += BLANK_HEADER_BYTES;
        b.closed = true;
        b.logicalEnd = seg.start + seg.size;
        pos = seg.start + seg.size;
      }
      const start = seg ? seg.start + seg.size : pos;
      // A record larger than a segment gets a segment of its own, rounded to 4 KiB.
      const size = Math.max(this.opt.segmentSize, Math.ceil((bytes + BLANK_HEADER_BYTES) / 4096) * 4096);
      seg = { start, size, path: join(this.opt.dir, offsetFileName(start)), fd: undefined, ready: false };
      this.segments.push(seg);
      pos = start;
    }
    const b = this.blockFor(seg, pos, bytes);
    const at = pos - b.start;
    b.used += bytes;
    b.logicalEnd = b.start + b.used;
    this._maxOffset = pos + bytes;
    return { buf: b.buf, view: b.view, pos: at, offset: pos };
  }

  /**
   * Room for replicated bytes at exactly `offset`: the end of the log (which is the next
   * segment's start after replicated bytes that ended with a blank filler, `endsSegment`), or
   * anywhere when the log is empty (a new replica starts at the source's oldest segment). `segmentSize` is the source's size for the segment holding `offset` (a record
   * larger than a segment has a segment of its own size). The bytes must not cross the
   * segment's end: the source sends no byte range that spans two of its segments.
   */
  reserveAt(offset: number, bytes: number, segmentSize: number, endsSegment = false): Reservation {
    let seg = this.segments.at(-1);
    if (!seg) {
      if (this._maxOffset !== 0 && offset !== this._maxOffset) {
        throw new RangeError(`replicated bytes at ${offset} but the empty log ends at ${this._maxOffset}`);
      }
      this.setEnd(offset);
      this.zeroedTo = offset;
    } else if (offset !== this._maxOffset) {
      throw new RangeError(`replicated bytes at ${offset} do not continue the log (end ${this._maxOffset})`);
    }
    if (!seg || offset >= seg.start + seg.size) {
      // The source's size as given (a replica's first segment may be the tail of one of the
      // source's: it then ends where the source's does); rounded only for an oversized record.
      const size = bytes <= segmentSize ? segmentSize : Math.ceil(bytes / 4096) * 4096;
      seg = {
        start: offset,
        size,
        path: join(this.opt.dir, offsetFileName(offset)),
        fd: undefined,
        ready: false,
      };
      this.segments.push(seg);
    }
    const segEnd = seg.start + seg.size;
    if (offset + bytes > segEnd) {
      throw new RangeError(
        `replicated bytes [${offset}, ${offset + bytes}) cross the end of the segment at ${segEnd}`,
      );
    }
    const b = this.blockFor(seg, offset, bytes);
    const at = offset - b.start;
    b.used += bytes;
    b.logicalEnd = b.start + b.used;
    this._maxOffset = offset + bytes;
    if (endsSegment) {
      // The bytes end with the source's blank filler: the log continues at the next segment,
      // exactly as after reserve()'s roll.
      b.closed = true;
      b.logicalEnd = segEnd;
      this._maxOffset = segEnd;
    }
    return { buf: b.buf, view: b.view, pos: at, offset };
  }

  /** The block that will hold [pos, pos+bytes), starting a new one when needed. */
  private blockFor(seg: Segment, pos: number, bytes: number): Block {
    const cur = this.blocks.at(-1);
    if (
      cur &&
      !cur.closed &&
      cur.segment === seg &&
      cur.start + cur.used === pos &&
      cur.used + bytes <= cur.buf.length
    ) {
      return cur;
    }
    if (cur && !cur.closed) {
      cur.closed = true;
      cur.logicalEnd = pos;
    }
    const cap = Math.max(this.opt.blockBytes, bytes);
    // Reusing evicted blocks keeps big external allocations (and the GCs they trigger) off the hot path.
    const buf =
      cap === this.opt.blockBytes && this.freeBlocks.length > 0
        ? this.freeBlocks.pop()!
        : Buffer.allocUnsafeSlow(cap);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const b: Block = { start: pos, buf, view, used: 0, segment: seg, closed: false, logicalEnd: pos };
    this.blocks.push(b);
    this.tailBytes += cap;
    return b;
  }

  publish(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    // Everything appended while handling this callback (one socket chunk's sends, made in
    // its promise chains) goes out in one write at the end of it.
    atEndOfTurn(this.runScheduledWrite);
  }

  private readonly runScheduledWrite = (): void => {
    this.writeScheduled = false;
    this.pump();
  };

  /**
   * Issues writes for reserved bytes. A small write (≤ DIRECT_WRITE_MAX_BYTES) to an open
   * segment is a direct `fs.writeSync` into the page cache (10–40 µs), because handing a
   * write to libuv's thread pool costs more than that on the event loop itself (a thread
   * wake-up and a completion wake-up, 30–140 µs on these VMs) and makes every group of
   * appenders wait for a round trip. If direct writes are slow (the kernel throttling dirty pages, a
   * stalled disk), writes go through the thread pool for a while, up to
   * MAX_WRITES_IN_FLIGHT at once (positioned writes to disjoint ranges), so the event loop is
   * never held for long. Either way the written offset only moves over a gap-free prefix.
   */
  private pump(): void {
    let direct = 0;
    while (!this.failure && this.issued < this._maxOffset) {
      const b = this.blockAt(this.issued);
      if (!b) {
        const closed = this.blocks.find((x) => x.closed && x.start + x.used === this.issued);
        if (closed && closed.logicalEnd > this.issued) {
          this.inflight.push({ from: this.issued, to: this.issued, next: closed.logicalEnd, done: true });
          this.issued = closed.logicalEnd;
          direct++;
          continue;
        }
        this.fail(new Error(`commit log: no block holds unwritten offset ${this.issued}`));
        return;
      }
      const from = this.issued;
      const to = b.start + b.used;
      const seg = b.segment;
      // A zero fill landing after these bytes would erase them: wait for it (it calls pump).
      if (this.zeroing && to > this.zeroing.from && from < this.zeroing.to) break;
      const w: InflightWrite = { from, to, next: b.closed ? b.logicalEnd : to, done: false };
      if (seg.fd !== undefined && to - from <= DIRECT_WRITE_MAX_BYTES && this.directWrites()) {
        if (!this.writeDirect(seg, seg.fd, b, from, to)) return;
        w.done = true;
        this.issued = w.next;
        this.inflight.push(w);
        direct++;
        continue;
      }
      if (this.inflight.length >= MAX_WRITES_IN_FLIGHT) break;
      this.issued = w.next;
      this.inflight.push(w);
      this.ioInFlight++;
      this.writeFd(seg)
        .then((fd) => writeAt(fd, b.buf, from - b.start, to - from, from - seg.start))
        .then(
          () => {
            this.markDirty(seg);
            w.done = true;
            this.onWriteDone();
          },
          (err: Error) => this.fail(err),
        )
        .finally(() => this.ioInFlight--);
    }
    if (direct > 0) this.onWriteDone();
    this.zeroFillAhead();
  }

  /** SYNC_FLUSH: keeps ZERO_FILL_AHEAD of written zeros past the log's end (see ZERO_FILL_AHEAD). */
  private zeroFillAhead(): void {
    const seg = this.segments.at(-1);
    if (this.opt.flushDiskType !== "SYNC_FLUSH" || this.zeroing || this.zeroFillOff || this.failure || !seg)
      return;
    const segEnd = seg.start + seg.size;
    // Never below the reserved end: reserved bytes may not be written yet.
    const from = Math.max(this.zeroedTo, this._maxOffset, seg.start);
    if (from >= segEnd || from - this._maxOffset >= ZERO_FILL_AHEAD - ZERO_FILL_CHUNK) return;
    const to = Math.min(segEnd, from + ZERO_FILL_CHUNK);
    // Its own fd (writeFd only makes sure the file exists at its size): the segment's write
    // fd may be closed by a flush meanwhile (segment roll).
    const done = this.writeFd(seg)
      .then(() => writeDurableAt(seg.path, ZEROS, 0, to - from, from - seg.start))
      .then(
        () => {
          this.zeroedTo = to;
        },
        (err: Error) => {
          this.zeroFillOff = true;
          this.opt.logger.warn(
            `commit log: zero fill of ${seg.path} failed, not trying again: ${err.message}`,
          );
        },
      )
      .finally(() => {
        this.zeroing = undefined;
        this.pump();
      });
    this.zeroing = { from, to, done };
  }

  private directWrites(): boolean {
    return this.directWritesFrom <= performance.now();
  }

  /** One synchronous positioned write into the page cache; false (and the log failed) on error. */
  private writeDirect(seg: Segment, fd: number, b: Block, from: number, to: number): boolean {
    const t0 = performance.now();
    try {
      let o = from - b.start;
      let l = to - from;
      let p = from - seg.start;
      for (let i = 0; l > 0 && i < 1000; i++) {
        const n = fs.writeSync(fd, b.buf, o, l, p);
        o += n;
        l -= n;
        p += n;
      }
      if (l > 0) throw new Error(`commit log: short writes to ${seg.path} at ${p}`);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
    const now = performance.now();
    if (now - t0 > SLOW_DIRECT_WRITE_MS) {
      // One slow write may be the VM preempting us; several in a row are the kernel
      // throttling writers (dirty pages over the limit, a saturated disk).
      const recent = this.slowDirectWrites.filter((t) => now - t < SLOW_WRITES_WINDOW_MS);
      recent.push(now);
      this.slowDirectWrites = recent;
      if (recent.length >= SLOW_WRITES_TO_SWITCH) {
        this.slowDirectWrites = [];
        this.directWritesFrom = now + THREAD_POOL_WRITES_MS;
        this.opt.logger.debug(
          `commit log: ${recent.length} direct writes over ${SLOW_DIRECT_WRITE_MS} ms within ${SLOW_WRITES_WINDOW_MS} ms ` +
            `(last: ${to - from} bytes in ${(now - t0).toFixed(1)} ms); writing through the thread pool for ${THREAD_POOL_WRITES_MS} ms`,
        );
      }
    }
    this.markDirty(seg);
    return true;
  }

  /** Remembers a segment with written, not yet fsynced bytes (checked newest first: usually the current one). */
  private markDirty(seg: Segment): void {
    if (this.dirty.at(-1) !== seg && !this.dirty.includes(seg)) this.dirty.push(seg);
  }

  private onWriteDone(): void {
    let moved = false;
    while (this.inflight.length > 0 && this.inflight[0]!.done) {
      this._written = this.inflight.shift()!.next;
      moved = true;
    }
    if (moved) {
      this.evictTail();
      this.notify();
      if (this.opt.flushDiskType === "SYNC_FLUSH") void this.requestFlush();
    }
    if (this.issued < this._maxOffset) this.pump();
    if (this._written >= this._maxOffset) for (const w of this.idleWaiters.splice(0)) w();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.idleWaiters.splice(0)) w();
    this.opt.logger.error(`commit log write failed, the store stops taking writes: ${err.message}`);
    for (const l of this.listeners) l(err);
  }

  private blockAt(offset: number): Block | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[i]!;
      if (b.start <= offset && offset < b.start + b.used) return b;
      if (b.start < offset) break;
    }
    return undefined;
  }

  private writeFd(seg: Segment): Promise<number> {
    if (seg.fd !== undefined) return Promise.resolve(seg.fd);
    seg.opening ??= (async () => {
      const fd = await open(seg.path, fs.constants.O_RDWR | fs.constants.O_CREAT);
      if (!seg.ready) {
        // Sized up front (sparse), like RocketMQ's pre-sized mapped files: the file length is
        // the segment length, so a scan knows where the segment ends and a gap shows.
        await ftruncate(fd, seg.size);
        // Make the size and the directory entry durable before any record lands in the
        // segment: recovery relies on segment sizes to find where each one ends.
        await fdatasync(fd);
        await fsyncDir(dirname(seg.path));
        seg.ready = true;
      }
      seg.fd = fd;
      seg.opening = undefined;
      return fd;
    })();
    return seg.opening;
  }

  private evictTail(): void {
    while (this.blocks.length > 1 && this.tailBytes > this.opt.maxTailBytes) {
      const b = this.blocks[0]!;
      if (!b.closed || b.logicalEnd > this._written) break;
      this.blocks.shift();
      this.tailBytes -= b.buf.length;
      if (b.buf.length === this.opt.blockBytes && this.freeBlocks.length < 1) this.freeBlocks.push(b.buf);
    }
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  /** Flushes what is written; concurrent requests coalesce into the next fsync (group commit). */
  requestFlush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushDone ?? Promise.resolve();
    }
    this.flushDone = this.runFlush();
    return this.flushDone;
  }

  private async runFlush(): Promise<void> {
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        const target = this._written;
        if (target <= this._flushed) break;
        const segs = this.dirty.slice();
        const t0 = performance.now();
        for (const s of segs) if (s.fd !== undefined) await fdatasync(s.fd);
        this.flushTimes.observe(performance.now() - t0);
        this._flushed = Math.max(this._flushed, target);
        for (const s of segs) {
          if (s.start + s.size <= this._flushed && s !== this.segments.at(-1)) {
            this.dirty.splice(this.dirty.indexOf(s), 1);
            if (s.fd !== undefined) {
              const fd = s.fd;
              s.fd = undefined;
              await close(fd);
            }
          }
        }
        this.notify();
      } while (this.flushAgain || (this.opt.flushDiskType === "SYNC_FLUSH" && this._written > this._flushed));
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.flushing = false;
    }
  }

  startFlushTimer(): void {
    if (this.opt.flushDiskType === "ASYNC_FLUSH") {
      this.flushTimer = setInterval(() => void this.requestFlush(), this.opt.flushInterval);
      this.flushTimer.unref();
    }
  }

  /** Waits until everything reserved is written, then fsyncs it. */
  async flushAll(): Promise<void> {
    if (this._written < this._maxOffset && !this.failure) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        this.pump();
      });
    }
    for (let i = 0; i < 100 && this.flushing; i++) await (this.flushDone ?? Promise.resolve());
    await this.requestFlush();
    for (let i = 0; i < 100 && this.flushing; i++) await (this.flushDone ?? Promise.resolve());
  }

  /** Stops taking writes, lets writes in flight land, closes files; no flush. */
  async halt(): Promise<void> {
    this.failure ??= new Error("halted");
    for (let i = 0; i < 10_000 && this.ioInFlight > 0; i++) await new Promise((r) => setTimeout(r, 1));
    for (let i = 0; i < 100 && this.flushing; i++) await (this.flushDone ?? Promise.resolve());
    await this.close();
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.zeroFillOff = true;
    await this.zeroing?.done;
    for (const s of this.segments) {
      if (s.fd !== undefined) {
        const fd = s.fd;
        s.fd = undefined;
        await close(fd);
      }
    }
    await this.readFds.closeAll();
    this.chunks.clear();
    this.blocks = [];
    this.tailBytes = 0;
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
    await this.zeroing?.done;
    if (this.failure) throw this.failure;
    const k = this.segmentIndexFor(offset);
    if (k < 0) throw new RangeError(`cannot truncate the commit log to ${offset}: no segment holds it`);
    for (let j = k; j < this.segments.length; j++) {
      const seg = this.segments[j]!;
      this.readFds.forget(seg.path);
      if (seg.fd !== undefined) {
        const fd = seg.fd;
        seg.fd = undefined;
        await close(fd);
      }
    }
    const removed = this.segments.slice(k + 1);
    await this.cutTail(k, offset);
    this.dirty = this.dirty.filter((seg) => !removed.includes(seg));
    for (const b of this.blocks) {
      if (b.buf.length === this.opt.blockBytes && this.freeBlocks.length < 1) this.freeBlocks.push(b.buf);
    }
    this.blocks = [];
    this.tailBytes = 0;
    this.chunks.clear();
    this.inflight.length = 0;
    this.setEnd(offset);
    this.zeroedTo = offset;
    this.opt.logger.info(`commit log truncated to ${offset}`);
  }

  // ---------------------------------------------------------------- reads

  segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid]!;
      if (offset < s.start) hi = mid - 1;
      else if (offset >= s.start + s.size) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /**
   * The bytes [offset, offset+length) if they are all in the in-memory tail: a view into a
   * block that is recycled later, so copy it before any await.
   */
  tailSlice(offset: number, length: number): Buffer | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[i]!;
      if (offset >= b.start && offset + length <= b.start + b.used) {
        return b.buf.subarray(offset - b.start, offset - b.start + length);
      }
      if (b.start <= offset) return undefined;
    }
    return undefined;
  }

  /** Copies [offset, offset+length) (within one segment, already written) into `into`. */
  async read(offset: number, length: number, into: Buffer, intoPos: number): Promise<void> {
    const t = this.tailSlice(offset, length);
    if (t) {
      t.copy(into, intoPos);
      return;
    }
    if (offset + length > this._written)
      throw new RangeError(`commit log range ends past the written offset ${this._written}`);
    const idx = this.segmentIndexFor(offset);
    const seg = this.segments[idx];
    if (!seg || offset + length > seg.start + seg.size) {
      throw new RangeError(`commit log range [${offset}, ${offset + length}) is not in one segment`);
    }
    if (length <= READ_AHEAD_BYTES / 4) {
      // Read-ahead: one 1 MiB read serves the next pulls of a sequential consumer.
      const chunkStart = seg.start + Math.floor((offset - seg.start) / READ_AHEAD_BYTES) * READ_AHEAD_BYTES;
      if (offset + length <= chunkStart + READ_AHEAD_BYTES) {
        const chunk = await this.readChunk(seg, chunkStart, offset + length);
        chunk.copy(into, intoPos, offset - chunkStart, offset - chunkStart + length);
        return;
      }
    }
    const fd = await this.readFds.get(seg.path);
    const n = await readAt(fd, into, intoPos, length, offset - seg.start);
    if (n < length) throw new RangeError(`short read of commit log at ${offset} in ${seg.path}`);
  }

  private async readChunk(seg: Segment, chunkStart: number, needEnd: number): Promise<Buffer> {
    const cached = this.chunks.get(chunkStart);
    if (cached) {
      this.chunks.delete(chunkStart);
      this.chunks.set(chunkStart, cached);
      const b = await cached;
      if (chunkStart + b.length >= needEnd) return b;
    }
    const p = (async () => {
      const end = Math.min(chunkStart + READ_AHEAD_BYTES, seg.start + seg.size, this._written);
      const buf = Buffer.allocUnsafe(end - chunkStart);
      const fd = await this.readFds.get(seg.path);
      const n = await readAt(fd, buf, 0, buf.length, chunkStart - seg.start);
      if (n < buf.length) throw new RangeError(`short read of commit log at ${chunkStart} in ${seg.path}`);
      return buf;
    })();
    this.chunks.set(chunkStart, p);
    p.catch(() => this.chunks.delete(chunkStart));
    while (this.chunks.size > READ_AHEAD_CHUNKS)
      this.chunks.delete(this.chunks.keys().next().value as number);
    const b = await p;
    if (chunkStart + b.length < needEnd)
      throw new RangeError(`commit log range ends past ${chunkStart + b.length}`);
    return b;
  }

  /** Reads one record (its size comes from its first 4 bytes); undefined if none starts there. */
  async readRecord(offset: number): Promise<Buffer | undefined> {
    if (offset < this.minOffset || offset + 8 > this._written) return undefined;
    const head = Buffer.allocUnsafe(8);
    await this.read(offset, 8, head, 0);
    const size = head.readInt32BE(0);
    const magic = head.readInt32BE(4);
    if (
      (magic !== MAGIC_V1 && magic !== MAGIC_V2) ||
      size < MIN_RECORD_BYTES - 1 ||
      offset + size > this._written
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
    if (s.start + s.size > this._written) return undefined; // writes still go there
    // An fsync in flight may use its fd: let it finish (bounded).
    for (let i = 0; i < 100 && this.flushing; i++) await (this.flushDone ?? Promise.resolve());
    if (this.flushing || this.segments[0] !== s) return undefined;
    this.segments.shift();
    for (const k of [...this.chunks.keys()]) if (k < s.start + s.size) this.chunks.delete(k);
    const d = this.dirty.indexOf(s);
    if (d >= 0) this.dirty.splice(d, 1);
    this.readFds.forget(s.path);
    if (s.fd !== undefined) {
      const fd = s.fd;
      s.fd = undefined;
      await close(fd);
    }
    await fs.promises.rm(s.path, { force: true });
    return s;
  }
}
