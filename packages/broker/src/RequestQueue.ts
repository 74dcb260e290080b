/**
 * The send "thread pool queue" of RocketMQ, rebuilt for one event loop: at most
 * `concurrency` tasks run (are awaiting the store) at once, at most `capacity` wait behind
 * them, and a task that waited longer than `maxWaitMs` is shed instead of run — answering
 * "busy" quickly beats answering "stored" after the client has given up and resent
 * (RocketMQ's cleanExpiredRequest, fast-failure). Shedding happens when a task reaches the
 * head of the queue and also from a sweep timer, so a stalled store cannot keep requests
 * waiting forever. The clock is injectable for tests.
 */
export interface RequestQueueOptions {
  capacity: () => number;
  maxWaitMs: () => number;
  concurrency: () => number;
  now?: () => number;
  /** How often the sweep looks at the head of the queue while it is not empty. */
  sweepIntervalMs?: number;
}

export type QueueOutcome<T> =
  | { kind: "done"; value: T }
  | { kind: "rejected"; queued: number; capacity: number }
  | { kind: "shed"; waitedMs: number; limitMs: number };

interface Waiting<T> {
  enqueuedAt: number;
  task: () => Promise<T>;
  resolve: (o: QueueOutcome<T>) => void;
  reject: (err: unknown) => void;
}

export class RequestQueue<T> {
  private readonly waiting: Waiting<T>[] = [];
  private head = 0;
  private running = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly options: RequestQueueOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Tasks waiting (not yet running). */
  get size(): number {
    return this.waiting.length - this.head;
  }

  get inFlight(): number {
    return this.running;
  }

  /** How long the oldest waiting task has waited (0 when none). */
  headWaitMs(): number {
    const h = this.waiting[this.head];
    return h ? this.now() - h.enqueuedAt : 0;
  }

  /** Runs `task` when a slot frees up; the promise says whether it ran, was shed or refused. */
  submit(task: () => Promise<T>): Promise<QueueOutcome<T>> {
    const capacity = this.options.capacity();
    if (this.size >= capacity) return Promise.resolve({ kind: "rejected", queued: this.size, capacity });
    return new Promise<QueueOutcome<T>>((resolve, reject) => {
      this.waiting.push({ enqueuedAt: this.now(), task, resolve, reject });
      this.pump();
      this.armSweeper();
    });
  }

  /** Resolves once nothing is running or waiting (used at shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Sheds every waiting task whose wait exceeds the limit; returns how many. */
  sweep(): number {
    let shed = 0;
    const limit = this.options.maxWaitMs();
    const now = this.now();
    while (this.size > 0) {
      const w = this.waiting[this.head]!;
      const waited = now - w.enqueuedAt;
      if (waited <= limit) break;
      this.take();
      w.resolve({ kind: "shed", waitedMs: waited, limitMs: limit });
      shed++;
    }
    this.checkIdle();
    return shed;
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private take(): Waiting<T> {
    const w = this.waiting[this.head]!;
    this.waiting[this.head] = undefined as unknown as Waiting<T>;
    this.head++;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    return w;
  }

  private pump(): void {
    while (this.running < this.options.concurrency() && this.size > 0) {
      const w = this.take();
      const waited = this.now() - w.enqueuedAt;
      const limit = this.options.maxWaitMs();
      if (waited > limit) {
        w.resolve({ kind: "shed", waitedMs: waited, limitMs: limit });
        continue;
      }
      this.running++;
      let p: Promise<T>;
      try {
        p = w.task();
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (value) => w.resolve({ kind: "done", value }),
        (err) => w.reject(err),
      ).finally(() => {
        this.running--;
        this.pump();
        this.checkIdle();
      });
    }
    this.checkIdle();
  }

  private armSweeper(): void {
    if (this.sweeper || this.size === 0) return;
    const interval = this.options.sweepIntervalMs ?? 10;
    this.sweeper = setInterval(() => {
      this.sweep();
      if (this.size === 0) this.stop();
    }, interval);
    this.sweeper.unref();
  }

  private checkIdle(): void {
    if (this.running !== 0 || this.size !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
