import { DurationBuckets } from "./DurationBuckets.js";
import { fdatasync } from "./fsx.js";
import { closeWriteFd, type Segment } from "./Segment.js";

/** Flush latency bucket bounds, ms (an SSD fdatasync is ~0.2-2 ms, a busy disk far more). */
export const FLUSH_BOUNDS_MS = [0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** What the group commit reads from and reports to the log it flushes. */
export interface GroupCommitLog {
  /** SYNC_FLUSH: flush again at once while anything written is not flushed yet. */
  readonly syncFlush: boolean;
  /** The log's written offset (what an fdatasync started now covers). */
  written(): number;
  /** The current segment (its write fd stays open after a flush). */
  current(): Segment | undefined;
  /** The flushed offset moved. */
  onFlushed(): void;
  /** An fdatasync failed: the log stops taking writes. */
  onError(err: Error): void;
}

/**
 * fdatasync of what is written, as a group commit: requests made while a flush runs
 * coalesce into the next one, which covers every append written before it started. Tracks
 * the segments holding written, unflushed bytes and closes the write fd of a sealed segment
 * once it is flushed.
 */
export class GroupCommit {
  /** Everything below is on disk. */
  flushed = 0;
  /** ms per group-commit fdatasync round (all dirty segments), read by the broker's metrics. */
  readonly times = new DurationBuckets(FLUSH_BOUNDS_MS);
  private flushing = false;
  private flushAgain = false;
  private flushDone: Promise<void> | undefined;
  private dirty: Segment[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: GroupCommitLog) {}

  /** True while a flush runs. */
  get inProgress(): boolean {
    return this.flushing;
  }

  /** Remembers a segment with written, not yet fsynced bytes (checked newest first: usually the current one). */
  markDirty(seg: Segment): void {
    if (this.dirty.at(-1) !== seg && !this.dirty.includes(seg)) this.dirty.push(seg);
  }

  /** The segments are gone (deleted or cut off): nothing to flush there. */
  forget(removed: readonly Segment[]): void {
    this.dirty = this.dirty.filter((seg) => !removed.includes(seg));
  }

  /** Flushes what is written; concurrent requests coalesce into the next fsync (group commit). */
  request(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushDone ?? Promise.resolve();
    }
    this.flushDone = this.run();
    return this.flushDone;
  }

  private async run(): Promise<void> {
    this.flushing = true;
    try {
      do {
        this.flushAgain = false;
        const target = this.log.written();
        if (target <= this.flushed) break;
        const segs = this.dirty.slice();
        const t0 = performance.now();
        for (const s of segs) if (s.fd !== undefined) await fdatasync(s.fd);
        this.times.observe(performance.now() - t0);
        this.flushed = Math.max(this.flushed, target);
        for (const s of segs) {
          if (s.start + s.size <= this.flushed && s !== this.log.current()) {
            this.dirty.splice(this.dirty.indexOf(s), 1);
            await closeWriteFd(s);
          }
        }
        this.log.onFlushed();
      } while (this.flushAgain || (this.log.syncFlush && this.log.written() > this.flushed));
    } catch (err) {
      this.log.onError(err as Error);
    } finally {
      this.flushing = false;
    }
  }

  /** Waits (bounded) until no flush runs, e.g. before closing fds a flush may use. */
  async settle(): Promise<void> {
    for (let i = 0; i < 100 && this.flushing; i++) await (this.flushDone ?? Promise.resolve());
  }

  /** ASYNC_FLUSH: a flush every `interval` ms. */
  startTimer(interval: number): void {
    this.timer = setInterval(() => void this.request(), interval);
    this.timer.unref();
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
