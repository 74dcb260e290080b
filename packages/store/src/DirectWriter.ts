import fs from "node:fs";
import type { Logger } from "./Logger.js";

/**
 * Larger writes go to the thread pool: copying them into the page cache (≈ 0.27 µs per KiB
 * measured here, 0.14 over zero-filled blocks: ~70 µs for 256 KiB) would cost the event loop
 * more than the hand-off, and on another core it overlaps with encoding the next appends.
 */
export const DIRECT_WRITE_MAX_BYTES = 256 * 1024;
/** A direct (synchronous) write slower than this sends writes to the thread pool for a while. */
const SLOW_DIRECT_WRITE_MS = 10;
const SLOW_WRITES_TO_SWITCH = 3;
const SLOW_WRITES_WINDOW_MS = 1000;
const THREAD_POOL_WRITES_MS = 5000;

/**
 * Direct (synchronous) positioned writes into the page cache, and when to stop using them:
 * several slow ones within a second mean the kernel is throttling writers, and then the
 * event loop must not be held, so writes go to the thread pool for a while.
 */
export class DirectWriter {
  /** performance.now() from which direct writes are used again (after a slow one). */
  private directWritesFrom = 0;
  private slowDirectWrites: number[] = [];

  constructor(private readonly logger: Logger) {}

  /** False while writes should go through the thread pool (after slow direct writes). */
  allowed(): boolean {
    return this.directWritesFrom <= performance.now();
  }

  /** Writes buf[o, o+l) at file position p of `fd` (the file at `path`), synchronously; throws on error. */
  write(path: string, fd: number, buf: Buffer, o: number, l: number, p: number): void {
    const t0 = performance.now();
    const bytes = l;
    for (let i = 0; l > 0 && i < 1000; i++) {
      const n = fs.writeSync(fd, buf, o, l, p);
      o += n;
      l -= n;
      p += n;
    }
    if (l > 0) throw new Error(`commit log: short writes to ${path} at ${p}`);
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
        this.logger.debug(
          `commit log: ${recent.length} direct writes over ${SLOW_DIRECT_WRITE_MS} ms within ${SLOW_WRITES_WINDOW_MS} ms ` +
            `(last: ${bytes} bytes in ${(now - t0).toFixed(1)} ms); writing through the thread pool for ${THREAD_POOL_WRITES_MS} ms`,
        );
      }
    }
  }
}
