import type { Segment } from "./Segment.js";

/** A run of recent log bytes in memory: log [start, start + used). */
export interface Block {
  start: number;
  buf: Buffer;
  view: DataView;
  used: number;
  segment: Segment;
  /** No more appends; after its bytes, the log continues at `logicalEnd` (past a blank record). */
  closed: boolean;
  logicalEnd: number;
}

/**
 * The in-memory tail of the commit log: the blocks records are encoded into in place, kept
 * after they are written (up to `maxBytes`) so consumers near the tail read no file.
 * Blocks are in log order; each lies within one segment.
 */
export class TailBlocks {
  private blocks: Block[] = [];
  private bytes = 0;
  private readonly free: Buffer[] = [];

  constructor(
    private readonly blockBytes: number,
    private readonly maxBytes: number,
  ) {}

  /** The block that will hold [pos, pos+bytes), starting a new one when needed. */
  blockFor(seg: Segment, pos: number, bytes: number): Block {
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
    const cap = Math.max(this.blockBytes, bytes);
    // Reusing evicted blocks keeps big external allocations (and the GCs they trigger) off the hot path.
    const buf =
      cap === this.blockBytes && this.free.length > 0 ? this.free.pop()! : Buffer.allocUnsafeSlow(cap);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const b: Block = { start: pos, buf, view, used: 0, segment: seg, closed: false, logicalEnd: pos };
    this.blocks.push(b);
    this.bytes += cap;
    return b;
  }

  /** The block holding `offset` (newest first: usually the last one). */
  at(offset: number): Block | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[i]!;
      if (b.start <= offset && offset < b.start + b.used) return b;
      if (b.start < offset) break;
    }
    return undefined;
  }

  /** A closed block whose bytes end exactly at `offset` (the log may continue past a blank record). */
  closedEndingAt(offset: number): Block | undefined {
    return this.blocks.find((x) => x.closed && x.start + x.used === offset);
  }

  /**
   * The bytes [offset, offset+length) if they are all in the in-memory tail: a view into a
   * block that is recycled later, so copy it before any await.
   */
  slice(offset: number, length: number): Buffer | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[i]!;
      if (offset >= b.start && offset + length <= b.start + b.used) {
        return b.buf.subarray(offset - b.start, offset - b.start + length);
      }
      if (b.start <= offset) return undefined;
    }
    return undefined;
  }

  /**
   * The block holding the whole record that starts at `offset` (its first 4 bytes its size),
   * or undefined when it is not all in the tail. Read it before any await (blocks are recycled).
   */
  recordAt(offset: number): Block | undefined {
    for (let i = this.blocks.length - 1; i >= 0; i--) {
      const b = this.blocks[i]!;
      if (offset >= b.start && offset + 4 <= b.start + b.used) {
        const size = b.view.getInt32(offset - b.start);
        return size > 4 && offset + size <= b.start + b.used ? b : undefined;
      }
      if (b.start <= offset) return undefined;
    }
    return undefined;
  }

  /** Drops the oldest blocks past `maxBytes` that are closed and wholly written (below `written`). */
  evict(written: number): void {
    while (this.blocks.length > 1 && this.bytes > this.maxBytes) {
      const b = this.blocks[0]!;
      if (!b.closed || b.logicalEnd > written) break;
      this.blocks.shift();
      this.bytes -= b.buf.length;
      this.recycle(b.buf);
    }
  }

  /** Drops every block, keeping a buffer for reuse (the log was cut back). */
  dropAll(): void {
    for (const b of this.blocks) this.recycle(b.buf);
    this.clear();
  }

  /** Drops every block (closing). */
  clear(): void {
    this.blocks = [];
    this.bytes = 0;
  }

  private recycle(buf: Buffer): void {
    if (buf.length === this.blockBytes && this.free.length < 1) this.free.push(buf);
  }
}
