/** Callers waiting for the commit index to reach an index (DLedgerNode.whenCommitted). */
export class CommitWaiters {
  private readonly waiters = new Set<{ index: number; resolve: () => void }>();

  /** Resolves once the commit index reaches `index` (committed()) or after `ms`. */
  wait(index: number, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const w = { index, resolve: () => finish() };
      const t = setTimeout(() => finish(), ms);
      const finish = () => {
        clearTimeout(t);
        this.waiters.delete(w);
        resolve();
      };
      this.waiters.add(w);
    });
  }

  /** The commit index is now `commit`. */
  committed(commit: number): void {
    if (this.waiters.size > 0) {
      for (const w of this.waiters) if (w.index <= commit) w.resolve();
    }
  }
}
