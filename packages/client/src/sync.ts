/**
 * Small waiting primitives. Every wait has a bounded time and is woken by an event,
 * so loops neither spin nor sleep longer than needed.
 */

/** Wakes every waiter on notify(); a wait also ends after its own timeout. */
export class Notifier {
  private waiters = new Set<() => void>();

  /** Resolves true when notified, false on timeout. */
  wait(ms: number, ref = true): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(true);
      };
      this.waiters.add(wake);
      timer = setTimeout(
        () => {
          this.waiters.delete(wake);
          resolve(false);
        },
        Math.max(0, Math.min(ms, 2_147_000_000)),
      );
      if (!ref) timer.unref();
    });
  }

  notify(): void {
    // Called per consumed message by some callers: no copy when nobody waits.
    if (this.waiters.size === 0) return;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
}

/** Counting semaphore: at most `limit` holders at once, waiters served in arrival order. */
export class Semaphore {
  private held = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.held;
  }

  acquire(): Promise<void> {
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.held--;
  }
}
