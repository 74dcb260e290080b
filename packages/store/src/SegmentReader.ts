import { ReadFdCache, readAt } from "./fsx.js";
import type { Segment } from "./Segment.js";

/** Read-ahead for old data: chunks of 1 MiB, at most 16 cached (bounded memory). */
const READ_AHEAD_BYTES = 1024 * 1024;
const READ_AHEAD_CHUNKS = 16;

/**
 * Reads of commit-log data that is no longer in the in-memory tail: positioned reads through
 * a cache of read fds, and for small reads a 1 MiB read-ahead chunk (LRU) that serves the
 * next pulls of a sequential consumer.
 */
export class SegmentReader {
  private readonly readFds = new ReadFdCache(64);
  private readonly chunks = new Map<number, Promise<Buffer>>();

  /** `written()`: the log's written offset (a chunk never reaches past it). */
  constructor(private readonly written: () => number) {}

  /** Copies [offset, offset+length) of `seg` (already written) into `into`. */
  async read(seg: Segment, offset: number, length: number, into: Buffer, intoPos: number): Promise<void> {
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
      const end = Math.min(chunkStart + READ_AHEAD_BYTES, seg.start + seg.size, this.written());
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

  /** The segment file is gone or cut: its cached read fd must not be used again. */
  forgetFile(seg: Segment): void {
    this.readFds.forget(seg.path);
  }

  /** Drops the cached chunks that start below `end`. */
  dropChunksBelow(end: number): void {
    for (const k of [...this.chunks.keys()]) if (k < end) this.chunks.delete(k);
  }

  /** Drops every cached chunk. */
  dropChunks(): void {
    this.chunks.clear();
  }

  async close(): Promise<void> {
    await this.readFds.closeAll();
    this.chunks.clear();
  }
}
