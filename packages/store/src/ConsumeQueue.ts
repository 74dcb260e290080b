import fs from "node:fs";
import { join } from "node:path";
import { readLong } from "@tidemq/protocol";
import { putInt, putLong } from "./BigEndian.js";
import {
  isOffsetFileName,
  offsetFileName,
  type ReadFdCache,
  readAt,
  truncateDurable,
  writeDurableAt,
} from "./fsx.js";
import type { Logger } from "./Logger.js";
import { StoreCorruptionError } from "./StoreError.js";

/** Consume-queue entry (spec §11.2): commit-log offset (8), size (4), tag hash code (8). */
export const CQ_ENTRY_BYTES = 20;
/** Entries kept in memory after they are on disk, so consumers at the tail read no file. */
const KEEP_IN_MEMORY = 256;
const CHUNK_ENTRIES = 1024;

export interface CqEntry {
  offset: number;
  size: number;
  tagsCode: number;
}

/**
 * Read-side cache of consume-queue chunks (1024 entries) shared by all queues, bounded in
 * count, so a consumer reading old data sequentially does one file read per 1024 messages.
 */
export class CqChunkCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max: number) {}
  get(key: string): Buffer | undefined {
    const b = this.map.get(key);
    if (b) {
      this.map.delete(key);
      this.map.set(key, b);
    }
    return b;
  }
  set(key: string, b: Buffer): void {
    this.map.set(key, b);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  dropPrefix(prefix: string): void {
    for (const k of [...this.map.keys()]) if (k.startsWith(prefix)) this.map.delete(k);
  }
}

let nextId = 1;

/**
 * One topic/queue's index into the commit log: entry n (queue offset n) at byte n × 20 of
 * the files named by their start byte offset. Entries are appended in memory by the
 * dispatcher and written out by persist() in batches; the newest ones stay in memory.
 */
export class ConsumeQueue {
  readonly id = nextId++;
  /** Start entry index of each file, ascending. */
  private files: number[] = [];
  private _min = 0;
  private _max = 0;
  private persisted = 0;
  private mem: Buffer = Buffer.alloc(0);
  private memStart = 0;
  private persisting = false;

  constructor(
    readonly topic: string,
    readonly queueId: number,
    readonly dir: string,
    private readonly perFile: number,
    private readonly fds: ReadFdCache,
    private readonly chunks: CqChunkCache,
  ) {}

  get minOffset(): number {
    return this._min;
  }
  get maxOffset(): number {
    return this._max;
  }
  get unpersistedBytes(): number {
    return (this._max - this.persisted) * CQ_ENTRY_BYTES;
  }

  private filePath(startEntry: number): string {
    return join(this.dir, offsetFileName(startEntry * CQ_ENTRY_BYTES));
  }

  /** Reads the files and checks they form a gap-free sequence; a torn last entry is cut. */
  async load(logger: Logger): Promise<void> {
    const names = (await fs.promises.readdir(this.dir)).sort();
    const fileBytes = this.perFile * CQ_ENTRY_BYTES;
    for (const name of names) {
      const path = join(this.dir, name);
      if (!isOffsetFileName(name)) {
        logger.warn(`ignoring ${path}: not a consume queue file name`);
        continue;
      }
      const startByte = Number(name);
      if (startByte % fileBytes !== 0) {
        throw new StoreCorruptionError(
          path,
          `consume queue file name is not a multiple of ${fileBytes} bytes (was consumeQueueEntriesPerFile changed?)`,
        );
      }
      const start = startByte / CQ_ENTRY_BYTES;
      const prev = this.files.at(-1);
      if (prev !== undefined && prev + this.perFile !== start) {
        throw new StoreCorruptionError(
          this.filePath(prev + this.perFile),
          `consume queue ${this.topic}/${this.queueId} is missing a file before ${path}`,
        );
      }
      this.files.push(start);
    }
    if (this.files.length === 0) return;
    for (const start of this.files.slice(0, -1)) {
      const st = await fs.promises.stat(this.filePath(start));
      if (st.size !== fileBytes) {
        throw new StoreCorruptionError(
          this.filePath(start),
          `consume queue file is ${st.size} bytes, expected ${fileBytes} (it is not the last file)`,
        );
      }
    }
    const lastStart = this.files.at(-1)!;
    const lastPath = this.filePath(lastStart);
    const size = (await fs.promises.stat(lastPath)).size;
    if (size > fileBytes) {
      throw new StoreCorruptionError(lastPath, `consume queue file is ${size} bytes, more than ${fileBytes}`);
    }
    if (size % CQ_ENTRY_BYTES !== 0) {
      const keep = size - (size % CQ_ENTRY_BYTES);
      logger.warn(`consume queue ${lastPath}: cut a torn entry (${size} -> ${keep} bytes)`);
      await this.truncateFile(lastPath, keep);
    }
    const count = Math.floor(size / CQ_ENTRY_BYTES);
    this._max = lastStart + count;
    this._min = this.files[0]!;
    this.persisted = this._max;
    this.memStart = this._max;
  }

  private async truncateFile(path: string, bytes: number): Promise<void> {
    this.fds.forget(path);
    await truncateDurable(path, bytes);
  }

  /**
   * Drops entries that point at or past the commit log end. After a clean stop there must be
   * none (that is damage and stops the start); after a crash they are cut and re-dispatched.
   */
  async truncateToLog(logEnd: number, clean: boolean, logger: Logger): Promise<void> {
    if (this._max === this._min) return;
    const last = await this.entry(this._max - 1);
    if (last.offset + last.size <= logEnd) return;
    let lo = this._min;
    let hi = this._max - 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await this.entry(mid);
      if (e.offset + e.size > logEnd) hi = mid;
      else lo = mid + 1;
    }
    const cutAt = lo;
    const file = this.filePath(this.fileStartFor(cutAt));
    if (clean) {
      throw new StoreCorruptionError(
        file,
        `consume queue ${this.topic}/${this.queueId} entry ${cutAt} points to ${last.offset}, past the commit log end ${logEnd}` +
          " after a clean stop: a commit log segment is missing or truncated",
      );
    }
    logger.warn(
      `consume queue ${this.topic}/${this.queueId}: cut ${this._max - cutAt} entries past the log end ${logEnd}`,
    );
    while (this.files.length > 0 && this.files.at(-1)! > cutAt) {
      const start = this.files.pop()!;
      this.fds.forget(this.filePath(start));
      await fs.promises.rm(this.filePath(start), { force: true });
    }
    if (this.files.length > 0) {
      const start = this.files.at(-1)!;
      await this.truncateFile(this.filePath(start), (cutAt - start) * CQ_ENTRY_BYTES);
    }
    this.chunks.dropPrefix(`${this.id}:`);
    this._max = cutAt;
    this._min = Math.min(this._min, cutAt);
    this.persisted = cutAt;
    this.memStart = cutAt;
    this.mem = Buffer.alloc(0);
  }

  private fileStartFor(entry: number): number {
    return Math.floor(entry / this.perFile) * this.perFile;
  }

  /**
   * Appends the entry for `queueOffset`. An offset already present is a re-dispatch after a
   * crash and is skipped; a gap means lost entries and stops (rebuild from the commit log).
   */
  append(
    queueOffset: number,
    offset: number,
    size: number,
    tagsCode: number,
    mayStartLater = false,
  ): boolean {
    if (queueOffset < this._max) return false;
    if (queueOffset > this._max) {
      if (mayStartLater && this._max === 0 && this.files.length === 0) {
        // Rebuilding a queue whose early records were already deleted: it starts here.
        this._min = this._max = this.persisted = this.memStart = queueOffset;
      } else {
        throw new StoreCorruptionError(
          this.dir,
          `consume queue ${this.topic}/${this.queueId} has ${this._max} entries but the commit log record at ${offset} ` +
            `has queue offset ${queueOffset}: entries were lost (delete the queue directory to rebuild it)`,
        );
      }
    }
    const used = (this._max - this.memStart) * CQ_ENTRY_BYTES;
    if (used + CQ_ENTRY_BYTES > this.mem.length) {
      // A new buffer (not an in-place grow): a persist in flight may still be writing the old one.
      const next = Buffer.allocUnsafe(Math.max(64 * CQ_ENTRY_BYTES, this.mem.length * 2));
      this.mem.copy(next, 0, 0, used);
      this.mem = next;
    }
    const mem = this.mem;
    putLong(mem, used, offset);
    putInt(mem, used + 8, size);
    putLong(mem, used + 12, tagsCode); // a Java int hash stored as a long: sign-extended
    this._max++;
    return true;
  }

  /** Writes entries still only in memory, fsyncs them, and trims the in-memory tail. */
  async persist(): Promise<void> {
    if (this.persisting || this.persisted >= this._max) return;
    this.persisting = true;
    try {
      if (this.files.length === 0) await fs.promises.mkdir(this.dir, { recursive: true });
      const end = this._max;
      let i = this.persisted;
      const src = this.mem;
      const srcStart = this.memStart;
      while (i < end) {
        const fileStart = this.fileStartFor(i);
        const n = Math.min(end, fileStart + this.perFile) - i;
        const path = this.filePath(fileStart);
        if (this.files.at(-1) !== fileStart) this.files.push(fileStart);
        await writeDurableAt(
          path,
          src,
          (i - srcStart) * CQ_ENTRY_BYTES,
          n * CQ_ENTRY_BYTES,
          (i - fileStart) * CQ_ENTRY_BYTES,
        );
        i += n;
        this.persisted = i;
      }
      this.trimMemory();
    } finally {
      this.persisting = false;
    }
  }

  private trimMemory(): void {
    const drop = this.persisted - KEEP_IN_MEMORY - this.memStart;
    if (drop <= 0) return;
    const keep = this._max - this.memStart - drop;
    const cap = Math.max(64, keep * 2) * CQ_ENTRY_BYTES;
    const next = Buffer.allocUnsafe(Math.min(cap, this.mem.length));
    this.mem.copy(next, 0, drop * CQ_ENTRY_BYTES, (drop + keep) * CQ_ENTRY_BYTES);
    this.mem = next;
    this.memStart += drop;
  }

  /** Up to `count` entries from `from`; a copy. */
  async read(from: number, count: number): Promise<Buffer> {
    const first = await this.readSome(from, count);
    const got = first.length / CQ_ENTRY_BYTES;
    if (got === 0 || got >= count || from + got >= this._max) return first;
    const parts = [first];
    let n = got;
    for (let i = 0; i < 64 && n < count && from + n < this._max; i++) {
      const more = await this.readSome(from + n, count - n);
      if (more.length === 0) break;
      parts.push(more);
      n += more.length / CQ_ENTRY_BYTES;
    }
    return Buffer.concat(parts);
  }

  /** Up to `count` entries from `from`, stopping at a chunk or file boundary. */
  private async readSome(from: number, count: number): Promise<Buffer> {
    const end = Math.min(this._max, from + count);
    if (from >= end) return Buffer.alloc(0);
    if (from >= this.memStart) {
      return Buffer.from(
        this.mem.subarray((from - this.memStart) * CQ_ENTRY_BYTES, (end - this.memStart) * CQ_ENTRY_BYTES),
      );
    }
    const fileStart = this.fileStartFor(from);
    const k = Math.floor((from - fileStart) / CHUNK_ENTRIES);
    const chunkStart = fileStart + k * CHUNK_ENTRIES;
    const chunkEnd = Math.min(chunkStart + CHUNK_ENTRIES, fileStart + this.perFile, this.persisted);
    const key = `${this.id}:${chunkStart}`;
    let chunk = this.chunks.get(key);
    if (!chunk || chunk.length < (chunkEnd - chunkStart) * CQ_ENTRY_BYTES) {
      chunk = Buffer.allocUnsafe((chunkEnd - chunkStart) * CQ_ENTRY_BYTES);
      const fd = await this.fds.get(this.filePath(fileStart));
      const n = await readAt(fd, chunk, 0, chunk.length, (chunkStart - fileStart) * CQ_ENTRY_BYTES);
      if (n < chunk.length) {
        throw new StoreCorruptionError(
          this.filePath(fileStart),
          `consume queue file is shorter than its ${this.persisted} entries`,
        );
      }
      this.chunks.set(key, chunk);
    }
    const stop = Math.min(end, chunkEnd);
    return Buffer.from(
      chunk.subarray((from - chunkStart) * CQ_ENTRY_BYTES, (stop - chunkStart) * CQ_ENTRY_BYTES),
    );
  }

  async entry(n: number): Promise<CqEntry> {
    const b = await this.read(n, 1);
    if (b.length < CQ_ENTRY_BYTES)
      throw new RangeError(`consume queue ${this.topic}/${this.queueId} has no entry ${n}`);
    return parseEntry(b, 0);
  }

  /** After commit log segments are deleted: drop files wholly below `logMin`, move the min offset. */
  async applyLogMin(logMin: number): Promise<void> {
    while (this.files.length > 1) {
      const start = this.files[0]!;
      const lastOfFile = await this.entry(start + this.perFile - 1);
      if (lastOfFile.offset + lastOfFile.size > logMin) break;
      this.files.shift();
      this.fds.forget(this.filePath(start));
      this.chunks.dropPrefix(`${this.id}:`);
      await fs.promises.rm(this.filePath(start), { force: true });
      this._min = Math.max(this._min, start + this.perFile);
    }
    let lo = this._min;
    let hi = this._max;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await this.entry(mid);
      if (e.size > 0 && e.offset >= logMin) hi = mid;
      else lo = mid + 1;
    }
    this._min = lo;
  }

  async destroy(): Promise<void> {
    for (const start of this.files) this.fds.forget(this.filePath(start));
    this.chunks.dropPrefix(`${this.id}:`);
    this.files = [];
    this.mem = Buffer.alloc(0);
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

export function parseEntry(b: Buffer, pos: number): CqEntry {
  return { offset: readLong(b, pos), size: b.readInt32BE(pos + 8), tagsCode: readLong(b, pos + 12) };
}
