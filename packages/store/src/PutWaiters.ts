import { Fifo } from "./Fifo.js";
import type { PutResult } from "./StoreTypes.js";

interface Waiter {
  end: number;
  deadline: number;
  /** One PutResult (putMessage/putMessages) or one per message (putMessagesBatch). */
  result: PutResult | PutResult[];
  resolve: (r: PutResult & PutResult[]) => void;
  reject: (e: Error) => void;
}

/**
 * Puts waiting for their records to be confirmed and dispatched, in log order. Answered by
 * the dispatcher as it moves past their end; one timer answers those older than
 * syncFlushTimeout with FLUSH_DISK_TIMEOUT (stored, maybe not durable).
 */
export class PutWaiters {
  private readonly waiters = new Fifo<Waiter>();
  private timeoutTimer: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    return this.waiters.size;
  }

  /** A promise answered once the log is confirmed (and dispatched) up to `end`. */
  add<R extends PutResult | PutResult[]>(end: number, now: number, result: R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiters.push({
        end,
        deadline: now + this.timeoutMs,
        result,
        resolve: resolve as (r: PutResult & PutResult[]) => void,
        reject,
      });
      if (!this.timeoutTimer) this.armTimeoutCheck();
    });
  }

  /** Answers every put whose records end at or below `dispatched`. */
  resolveUpTo(dispatched: number): void {
    for (let w = this.waiters.peek(); w && w.end <= dispatched; w = this.waiters.peek()) {
      this.waiters.shift();
      w.resolve(w.result as PutResult & PutResult[]);
    }
  }

  /** Refuses the puts whose records end past `offset` (a truncation took them back). */
  rejectPast(offset: number, e: Error): void {
    for (const w of this.waiters.popTailWhile((x) => x.end > offset)) w.reject(e);
  }

  rejectAll(e: Error): void {
    for (const w of this.waiters.drain()) w.reject(e);
  }

  /** At shutdown: answers what is stored, refuses the rest. */
  settleAll(dispatched: number, e: Error): void {
    for (const w of this.waiters.drain()) {
      if (w.end <= dispatched) w.resolve(w.result as PutResult & PutResult[]);
      else w.reject(e);
    }
    this.stop();
  }

  stop(): void {
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
  }

  /** One timer checks the oldest waiter; puts past syncFlushTimeout answer FLUSH_DISK_TIMEOUT. */
  private armTimeoutCheck(): void {
    if (this.timeoutTimer) return;
    const period = Math.max(10, Math.min(200, this.timeoutMs / 4));
    this.timeoutTimer = setTimeout(() => {
      this.timeoutTimer = undefined;
      const now = Date.now();
      for (let w = this.waiters.peek(); w && w.deadline <= now; w = this.waiters.peek()) {
        this.waiters.shift();
        const r = w.result;
        w.resolve(
          (Array.isArray(r)
            ? r.map((x) => ({ ...x, status: "FLUSH_DISK_TIMEOUT" }))
            : { ...r, status: "FLUSH_DISK_TIMEOUT" }) as PutResult & PutResult[],
        );
      }
      if (this.waiters.size > 0) this.armTimeoutCheck();
    }, period);
    this.timeoutTimer.unref();
  }
}
