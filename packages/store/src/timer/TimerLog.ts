import fs from "node:fs";
import { join } from "node:path";
import {
  close,
  fdatasync,
  fsyncDir,
  isOffsetFileName,
  offsetFileName,
  open,
  readAt,
  writeAt,
} from "../fsx.js";

/**
 * One timer-log entry (48 bytes, little-endian): prev f64 · dueMs f64 · commitLogOffset f64 ·
 * cqOffset f64 · size i32 · uniqHash i32 · kind i32 · magic i32.
 * `prev` is the position of the previous entry of the same wheel position (-1 at a chain's
 * start): a position's entries form a list from its newest entry backwards. Numbers are
 * stored as doubles: positions, offsets and due times are safe integers, so exact.
 */
export const ENTRY_BYTES = 48;
const ENTRY_MAGIC = 0x544d5232; // "TMR2"

export const TimerKind = {
  /** A timer message: deliver when due. */
  MESSAGE: 0,
  /** A recall marker: the message of the same slot with this UNIQ_KEY is never delivered. */
  RECALL: 1,
} as const;

export interface TimerEntry {
  dueMs: number;
  commitLogOffset: number;
  /** Its offset in the timer topic's consume queue (records are read in runs by it). */
  cqOffset: number;
  size: number;
  /** javaStringHashCode of the UNIQ_KEY (of the recalled message, for a marker). */
  uniqHash: number;
  kind: number;
}

/** Entries per 64 KiB-ish read page; a segment is a whole number of pages. */
const PAGE_ENTRIES = 1365;
const PAGE_BYTES = PAGE_ENTRIES * ENTRY_BYTES;
const CACHED_PAGES = 128;

/**
 * The append-only timer log: fixed-size entries in segment files named by their start
 * position. Appends go to memory at once (positions are known synchronously, which keeps
 * the wheel consistent with the log) and are written in order in the background; `sync`
 * makes everything appended so far durable. Reads of written entries go through a small
 * cache of full pages; reads of entries not yet written come from memory.
 */
export class TimerLog {
  private readonly segmentBytes: number;
  /** Logical end: the next entry's position. */
  private endPos: number;
  /** Everything below this is handed to the OS. */
  private writtenEnd: number;
  /** Entries not yet all written, in page-aligned buffers (the last one is being filled). */
  private chunks: Array<{ pos: number; buf: Buffer; used: number }> = [];
  private writing: Promise<void> | undefined;
  private writeError: Error | undefined;
  private readonly fds = new Map<number, Promise<number>>();
  private readonly pages = new Map<number, Buffer>();
  /** Lowest position still on disk (segments below were deleted). */
  private minPos: number;

  private constructor(
    private readonly dir: string,
    segmentEntries: number,
    end: number,
    minPos: number,
  ) {
    this.segmentBytes = Math.max(1, Math.round(segmentEntries / PAGE_ENTRIES)) * PAGE_BYTES;
    this.endPos = end;
    this.writtenEnd = end;
    this.minPos = minPos;
  }

  /**
   * Opens the log at `dir`, cut to `end` (what the snapshot vouches for: entries after it
   * are appended again by the replay of the timer topic) and without segments past it.
   */
  static async open(dir: string, end: number, segmentEntries = 1_048_320): Promise<TimerLog> {
    await fs.promises.mkdir(dir, { recursive: true });
    const names = (await fs.promises.readdir(dir)).filter(isOffsetFileName).sort();
    const segBytes = new TimerLog(dir, segmentEntries, end, 0).segmentBytes;
    const endSeg = end - (end % segBytes);
    let minPos = end;
    for (const name of names) {
      const start = Number(name);
      const path = join(dir, name);
      if (start > endSeg || (start === endSeg && end === endSeg)) {
        await fs.promises.rm(path, { force: true });
        continue;
      }
      minPos = Math.min(minPos, start);
      if (start === endSeg) await fs.promises.truncate(path, end - start);
    }
    await fsyncDir(dir);
    return new TimerLog(dir, segmentEntries, end, minPos);
  }

  get end(): number {
    return this.endPos;
  }

  get firstPos(): number {
    return this.minPos;
  }

  /** Bytes on disk and in memory between the oldest kept segment and the end. */
  get bytes(): number {
    return this.endPos - this.minPos;
  }

  /** Appends an entry chained after `prev`; returns its position. */
  append(prev: number, e: TimerEntry): number {
    if (this.writeError) throw this.writeError;
    const pos = this.endPos;
    let c = this.chunks[this.chunks.length - 1];
    // A chunk never spans a page (nor so a segment): chunks start where pages start, or at
    // the end the log was opened with.
    if (!c || c.used === c.buf.length) {
      const room = PAGE_BYTES - (pos % PAGE_BYTES);
      c = { pos, buf: Buffer.allocUnsafe(room), used: 0 };
      this.chunks.push(c);
    }
    const b = c.buf;
    const at = c.used;
    b.writeDoubleLE(prev, at);
    b.writeDoubleLE(e.dueMs, at + 8);
    b.writeDoubleLE(e.commitLogOffset, at + 16);
    b.writeDoubleLE(e.cqOffset, at + 24);
    b.writeInt32LE(e.size, at + 32);
    b.writeInt32LE(e.uniqHash | 0, at + 36);
    b.writeInt32LE(e.kind, at + 40);
    b.writeInt32LE(ENTRY_MAGIC, at + 44);
    c.used += ENTRY_BYTES;
    this.endPos += ENTRY_BYTES;
    this.kick();
    return pos;
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.writePending())
      .catch((err: Error) => {
        this.writeError = err;
      })
      .finally(() => {
        this.writing = undefined;
        if (this.writtenEnd < this.endPos && !this.writeError) this.kick();
      });
  }

  private async writePending(): Promise<void> {
    while (this.chunks.length > 0) {
      const c = this.chunks[0]!;
      const from = this.writtenEnd - c.pos;
      const upto = c.used;
      if (upto > from) {
        await this.writeChunk(this.writtenEnd, c.buf.subarray(from, upto));
        this.writtenEnd = c.pos + upto;
      }
      if (c.used === c.buf.length && this.writtenEnd === c.pos + c.used) this.chunks.shift();
      else if (this.writtenEnd === this.endPos) return;
    }
  }

  private async writeChunk(pos: number, chunk: Buffer): Promise<void> {
    const seg = pos - (pos % this.segmentBytes);
    const fd = await this.fd(seg, true);
    await writeAt(fd, chunk, 0, chunk.length, pos - seg);
  }

  private fd(seg: number, create: boolean): Promise<number> {
    let p = this.fds.get(seg);
    if (!p) {
      const path = join(this.dir, offsetFileName(seg));
      p = open(path, create ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR);
      this.fds.set(seg, p);
      p.catch(() => this.fds.delete(seg));
    }
    return p;
  }

  /** Reads the entry at `pos`: its fields and its `prev`. */
  async read(pos: number): Promise<{ prev: number; entry: TimerEntry }> {
    if (pos < this.minPos || pos >= this.endPos || pos % ENTRY_BYTES !== 0) {
      throw new Error(`timer log position ${pos} is outside [${this.minPos}, ${this.endPos})`);
    }
    const mem = this.fromMemory(pos);
    if (mem) return decodeEntry(mem.buf, mem.at, pos);
    const page = pos - (pos % PAGE_BYTES);
    let buf = this.pages.get(page);
    if (buf) {
      this.pages.delete(page);
      this.pages.set(page, buf);
    } else {
      const len = Math.min(PAGE_BYTES, (this.chunks[0]?.pos ?? this.writtenEnd) - page);
      buf = Buffer.allocUnsafe(len);
      const seg = page - (page % this.segmentBytes);
      const n = await readAt(await this.fd(seg, false), buf, 0, len, page - seg);
      if (n < len) throw new Error(`timer log short read at ${page}`);
      if (len === PAGE_BYTES) {
        this.pages.set(page, buf);
        if (this.pages.size > CACHED_PAGES) this.pages.delete(this.pages.keys().next().value as number);
      }
    }
    return decodeEntry(buf, pos - page, pos);
  }

  private fromMemory(pos: number): { buf: Buffer; at: number } | undefined {
    for (const c of this.chunks) {
      if (pos >= c.pos && pos < c.pos + c.used) return { buf: c.buf, at: pos - c.pos };
    }
    return undefined;
  }

  /** Makes every entry appended so far durable. */
  async sync(): Promise<void> {
    const target = this.endPos;
    while (this.writtenEnd < target) {
      if (this.writeError) throw this.writeError;
      this.kick();
      await this.writing;
    }
    if (this.writeError) throw this.writeError;
    for (const [seg, p] of this.fds) {
      if (seg + this.segmentBytes <= this.minPos) continue;
      await fdatasync(await p);
    }
  }

  /** Deletes the segments that end at or below `pos` (nothing live points there). */
  async deleteBelow(pos: number): Promise<number> {
    let deleted = 0;
    const names = (await fs.promises.readdir(this.dir)).filter(isOffsetFileName);
    for (const name of names) {
      const seg = Number(name);
      if (seg + this.segmentBytes > pos || seg + this.segmentBytes > this.writtenEnd) continue;
      const p = this.fds.get(seg);
      this.fds.delete(seg);
      if (p) await close(await p).catch(() => undefined);
      for (let page = seg; page < seg + this.segmentBytes; page += PAGE_BYTES) this.pages.delete(page);
      await fs.promises.rm(join(this.dir, name), { force: true });
      deleted++;
      this.minPos = Math.max(this.minPos, seg + this.segmentBytes);
    }
    return deleted;
  }

  async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    for (const p of this.fds.values()) await close(await p).catch(() => undefined);
    this.fds.clear();
  }
}

function decodeEntry(buf: Buffer, at: number, pos: number): { prev: number; entry: TimerEntry } {
  if (buf.readInt32LE(at + 44) !== ENTRY_MAGIC) throw new Error(`timer log entry at ${pos} is damaged`);
  return {
    prev: buf.readDoubleLE(at),
    entry: {
      dueMs: buf.readDoubleLE(at + 8),
      commitLogOffset: buf.readDoubleLE(at + 16),
      cqOffset: buf.readDoubleLE(at + 24),
      size: buf.readInt32LE(at + 32),
      uniqHash: buf.readInt32LE(at + 36),
      kind: buf.readInt32LE(at + 40),
    },
  };
}
