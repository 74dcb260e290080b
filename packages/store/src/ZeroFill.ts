import { writeDurableAt } from "./fsx.js";
import type { Logger } from "./Logger.js";
import { openForWrite, type Segment } from "./Segment.js";

/**
 * SYNC_FLUSH writes into blocks that already hold zeros, this far ahead of the log's end, in
 * chunks of ZERO_FILL_CHUNK. Writing into a hole allocates blocks when the pages are written
 * back, and the group commit's fdatasync must then also write the inode synchronously (a
 * second I/O round trip); over blocks that exist, fdatasync writes the data alone (measured
 * here: 0.33 -> 0.20 ms and 45 µs less CPU per fdatasync of 40 KiB). The zeros cost a second
 * write of each byte, in the thread pool and off the acknowledgement path (RocketMQ's
 * warmMappedFile does the same for a whole segment).
 *
 * Not under ASYNC_FLUSH (measured, stop of 2026-12-08, busy 2-core VM, load 2-5): zeros ahead
 * do halve the event loop's page-cache write per byte where writes are large and nothing else
 * runs (bench/tx-inproc.mjs --dir /tmp, 187 KB writes: 0.52/0.49 -> 0.30/0.27 ns a byte), but
 * they cost system CPU (+0.9-1.1 µs per transaction with fdatasync, about even without), and
 * in the broker over TCP (bench/tx-throughput.mjs, ~37 KB writes) the direct write's wall time rose
 * (0.74/0.81 ns a byte -> 0.99/0.94 with fdatasync, 0.85/0.83 without, 2.0/1.1 with 4 MiB chunks
 * 16 MiB ahead) and transactions slower (69.7k/87.6k tx/s -> 58.0k/68.6k, 66.8k/75.1k,
 * 40.8k/55.4k) with more broker CPU per transaction (10.4/8.7 µs -> 15.1/11.7, 13.4/12.1).
 */
const ZERO_FILL_AHEAD = 4 * 1024 * 1024;
const ZERO_FILL_CHUNK = 1024 * 1024;
const ZEROS = Buffer.alloc(ZERO_FILL_CHUNK);

/** Keeps ZERO_FILL_AHEAD of written zeros past the log's end, one chunk in flight at a time. */
export class ZeroFill {
  /** Log offset up to which the current segment holds written zeros (or data). */
  private zeroedTo = 0;
  /** The zero fill in flight: data writes into [from, to) wait for it. */
  private zeroing: { from: number; to: number; done: Promise<void> } | undefined;
  /** Set once closing, or after a zero fill failed (data writes then report their own errors). */
  private off = false;

  constructor(private readonly logger: Logger) {}

  /** True if a fill in flight overlaps [from, to): a data write there would be erased by it. */
  overlaps(from: number, to: number): boolean {
    return this.zeroing !== undefined && to > this.zeroing.from && from < this.zeroing.to;
  }

  /**
   * Starts the next chunk of zeros in `seg` (the current segment) if fewer than
   * ZERO_FILL_AHEAD lie past `end` (everything reserved); `settled` runs once it is done.
   */
  extend(seg: Segment, end: number, settled: () => void): void {
    if (this.zeroing || this.off) return;
    const segEnd = seg.start + seg.size;
    // Never below the reserved end: reserved bytes may not be written yet.
    const from = Math.max(this.zeroedTo, end, seg.start);
    if (from >= segEnd || from - end >= ZERO_FILL_AHEAD - ZERO_FILL_CHUNK) return;
    const to = Math.min(segEnd, from + ZERO_FILL_CHUNK);
    // Its own fd (openForWrite only makes sure the file exists at its size): the segment's write
    // fd may be closed by a flush meanwhile (segment roll).
    const done = openForWrite(seg)
      .then(() => writeDurableAt(seg.path, ZEROS, 0, to - from, from - seg.start))
      .then(
        () => {
          this.zeroedTo = to;
        },
        (err: Error) => {
          this.off = true;
          this.logger.warn(`commit log: zero fill of ${seg.path} failed, not trying again: ${err.message}`);
        },
      )
      .finally(() => {
        this.zeroing = undefined;
        settled();
      });
    this.zeroing = { from, to, done };
  }

  /** The log (re)starts at `offset`: nothing past it is known to hold zeros. */
  restartAt(offset: number): void {
    this.zeroedTo = offset;
  }

  /** The fill in flight, if any. */
  get inFlight(): Promise<void> | undefined {
    return this.zeroing?.done;
  }

  /** No more fills; the one in flight, if any, to await. */
  stop(): Promise<void> | undefined {
    this.off = true;
    return this.zeroing?.done;
  }
}
