import { afterSyncRun } from "@tidemq/protocol";
export interface RequestQueueOptions {
  capacity: () => number;
  maxWaitMs: () => number;
  concurrency: () => number;
  now?: () => number;
  /** How often the sweep looks at the head of the queue while it is not empty. */
  sweepIntervalMs?: number;
  /**
   * Tasks submitted in the same synchronous run (one socket chunk's requests) share one
   * slot instead of taking one each: they reach the store as one append anyway, and a
   * request beyond the free slots would otherwise wait for an earlier one's confirmation
   * (under SYNC_FLUSH a whole fdatasync) before even being appended.
   */
  shareSlotPerTurn?: boolean;
}

/** Tasks holding one slot together; the slot is freed when the last one settles. */
interface SlotGroup {
  left: number;
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

/**
 * The send "thread pool queue" of RocketMQ, rebuilt for one event loop: at most
 * `concurrency` slots are busy (a slot is one task, or one group of tasks that queued
 * together, awaiting the store), at most `capacity` tasks wait behind them, and a task
 * that waited longer than `maxWaitMs` is shed instead of run — answering "busy" quickly
 * beats answering "stored" after the client has given up and resent (RocketMQ's
 * cleanExpiredRequest, fast-failure). Shedding happens when a task reaches the head of
 * the queue and also from a sweep timer, so a stalled store cannot keep requests waiting
 * forever. The clock is injectable for tests.
 */
export class RequestQueue<T> {
  private readonly waiting: Waiting<T>[] = [];
  private head = 0;
  /** Groups running (each holds one of the `concurrency` slots until all its tasks settle). */
  private running = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly now: () => number;
  /** The group tasks of the current synchronous run join (shareSlotPerTurn). */
  private turnGroup: SlotGroup | undefined;

  constructor(private readonly options: RequestQueueOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Tasks waiting (not yet running). */
  get size(): number {
    return this.waiting.length - this.head;
  }

  /** Slots in use: groups of tasks handed to the store and not yet settled. */
  get inFlight(): number {
    return this.running;
  }

  /** How long the oldest waiting task has waited (0 when none). */
  headWaitMs(): number {
    const h = this.waiting[this.head];
    return h ? this.now() - h.enqueuedAt : 0;
  }

  /**
   * Runs `task` when a slot frees up; the promise says whether it ran, was shed or refused.
   * With a free slot and nobody waiting the task starts at once, synchronously (no hop).
   * Tasks that queued while every slot was busy start together, as one group holding one
   * slot, when a slot frees: what piled up during one fsync goes to the store as one batch
   * (group commit) instead of trickling in `concurrency` at a time.
   */
  submit(task: () => Promise<T>): Promise<QueueOutcome<T>> {
    if (this.size === 0 && this.turnGroup) return this.runIn(this.turnGroup, task);
    if (this.size === 0 && this.running < this.options.concurrency()) {
      this.running++;
      const group: SlotGroup = { left: 0 };
      if (this.options.shareSlotPerTurn) {
        this.turnGroup = group;
        afterSyncRun(() => {
          if (this.turnGroup === group) this.turnGroup = undefined;
        });
      }
      return this.runIn(group, task);
    }
    const capacity = this.options.capacity();
    if (this.size >= capacity) return Promise.resolve({ kind: "rejected", queued: this.size, capacity });
    return new Promise<QueueOutcome<T>>((resolve, reject) => {
      this.waiting.push({ enqueuedAt: this.now(), task, resolve, reject });
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
    this.pump();
    return shed;
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Starts `task` at once as a member of `group` (which holds a slot). */
  private runIn(group: SlotGroup, task: () => Promise<T>): Promise<QueueOutcome<T>> {
    group.left++;
    const settled = (): void => {
      if (--group.left > 0) return;
      if (this.turnGroup === group) this.turnGroup = undefined;
      this.release();
    };
    return this.start(task).then(
      (value) => {
        settled();
        return { kind: "done", value } as QueueOutcome<T>;
      },
      (err: unknown) => {
        settled();
        throw err;
      },
    );
  }

  private start(task: () => Promise<T>): Promise<T> {
    try {
      return task();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private release(): void {
    this.running--;
    this.pump();
  }

  private take(): Waiting<T> {
    const w = this.waiting[this.head]!;
    this.waiting[this.head] = undefined as unknown as Waiting<T>;
    this.head++;
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      // Compact now and then so the array does not grow without bound.
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    return w;
  }

  /** While a slot is free: every waiting task (expired ones shed) starts, as one group. */
  private pump(): void {
    while (this.running < this.options.concurrency() && this.size > 0) {
      const limit = this.options.maxWaitMs();
      const now = this.now();
      const group: Waiting<T>[] = [];
      while (this.size > 0) {
        const w = this.take();
        const waited = now - w.enqueuedAt;
        if (waited > limit) w.resolve({ kind: "shed", waitedMs: waited, limitMs: limit });
        else group.push(w);
      }
      if (group.length === 0) break;
      this.running++;
      let left = group.length;
      const settled = (): void => {
        if (--left === 0) this.release();
      };
      for (const w of group) {
        this.start(w.task).then(
          (value) => {
            w.resolve({ kind: "done", value });
            settled();
          },
          (err: unknown) => {
            w.reject(err);
            settled();
          },
        );
      }
    }
    if (this.size === 0) this.stop();
    this.checkIdle();
  }

  private armSweeper(): void {
    if (this.sweeper || this.size === 0) return;
    const interval = this.options.sweepIntervalMs ?? 10;
    this.sweeper = setInterval(() => this.sweep(), interval);
    this.sweeper.unref();
  }

  private checkIdle(): void {
    if (this.running !== 0 || this.size !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
