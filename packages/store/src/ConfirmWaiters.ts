import type { CommitLog } from "./CommitLog.js";

interface ConfirmWaiter {
  offset: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * Callers waiting for the log's confirmed offset (written; flushed under SYNC_FLUSH) to reach
 * an offset, whatever the commit gate says: what a Raft replica waits for before it
 * acknowledges entries. Settled on every log progress (and on a write failure or a stop).
 */
export class ConfirmWaiters {
  /** Oldest offset first is not required: every waiter is checked on every progress. */
  private waiters: ConfirmWaiter[] = [];

  constructor(private readonly log: CommitLog) {}

  /** Whether anyone waits (the progress callback skips settle() otherwise). */
  get pending(): boolean {
    return this.waiters.length > 0;
  }

  /** Waits for `offset` (the caller checked it is not confirmed yet and the store is open). */
  wait(offset: number): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ offset, resolve, reject }));
  }

  /** Resolves the waiters the confirmed offset reached; with `err`, rejects them all. */
  settle(err?: Error): void {
    const confirmed = this.log.confirmedOffset;
    const keep: ConfirmWaiter[] = [];
    for (const w of this.waiters) {
      if (err) w.reject(err);
      else if (confirmed >= w.offset) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }
}
