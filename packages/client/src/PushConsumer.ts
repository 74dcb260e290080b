import type { MessageExt } from "@tidemq/protocol";
import { ConsumerBase, type QueueEntry } from "./ConsumerBase.js";
import type { ConsumeMessageDirectlyResult } from "./directConsume.js";
import { ClientError } from "./errors.js";
import {
  consumeDirectly,
  isThenable,
  type ListenerOutcome,
  type MessageListener,
  succeeded,
} from "./MessageListener.js";
import { type MessageQueue, mqKey } from "./MessageQueue.js";
import type { MessageView } from "./MessageView.js";
import { positiveInt } from "./options.js";
import type { PushConsumerOptions } from "./PushConsumerOptions.js";
import { QueueLockService } from "./QueueLockService.js";
import { SendBack } from "./SendBack.js";
import { Notifier, Semaphore } from "./sync.js";
import { TokenBucket } from "./TokenBucket.js";

export type { MessageListener } from "./MessageListener.js";
export type { PushConsumerOptions } from "./PushConsumerOptions.js";

/** Delay before a message whose send-back failed is consumed again locally (Java: 5 s). */
const LOCAL_RETRY_MS = 5000;

/** Messages of one queue waiting for a listener slot; `next` is the first not yet started. */
interface PendingBatch {
  readonly e: QueueEntry;
  readonly msgs: MessageView[];
  next: number;
}

/**
 * Calls a listener for every message of its subscriptions (rocketmq-client-nodejs'
 * PushConsumer over the 4.x protocol: pulls with long polling, rebalance, offsets on the broker).
 *
 * ```ts
 * const consumer = new PushConsumer({
 *   endpoints: "127.0.0.1:9876",
 *   consumerGroup: "G",
 *   subscriptions: new Map([["T", "TagA || TagB"]]),
 *   messageListener: { async consume(m) { console.log(m.body.toString()); return ConsumeResult.SUCCESS; } },
 * });
 * await consumer.startup();
 * ```
 */
export class PushConsumer extends ConsumerBase {
  protected readonly consumeType = "CONSUME_PASSIVELY" as const;
  private readonly listener: MessageListener;
  /** Orderly mode: bounds listener calls across queues. */
  private readonly semaphore: Semaphore;
  /** Concurrent mode: most listener calls in flight (consumptionThreadCount). */
  private readonly concurrency: number;
  /** Concurrent mode: pulled batches waiting for a listener slot, oldest first. */
  private pending: PendingBatch[] = [];
  private pendingHead = 0;
  private drainScheduled = false;
  private draining = false;
  private readonly orderly: boolean;
  private readonly suspendMs: number;
  private readonly awaitTerminationMs: number;
  private inflight = 0;
  private readonly idle = new Notifier();
  private sendBackService: SendBack | undefined;
  private readonly localRetryTimers = new Set<NodeJS.Timeout>();
  private readonly lockOptions: { renewIntervalMs: number; maxLiveMs: number };
  private locks: QueueLockService | undefined;
  /** Orderly mode: each queue's consume loop, awaited when the queue is given up. */
  private readonly orderlyLoops = new Map<QueueEntry, Promise<void>>();
  /** maxConsumeRatePerSecond, if set. */
  private readonly rate: TokenBucket | undefined;
  private rateTimer: NodeJS.Timeout | undefined;

  constructor(options: PushConsumerOptions) {
    super(options);
    if (!options.messageListener || typeof options.messageListener.consume !== "function") {
      throw new ClientError("messageListener with a consume(messageView) method is required");
    }
    this.listener = options.messageListener;
    this.concurrency = positiveInt(options.consumptionThreadCount, 20, "consumptionThreadCount");
    this.semaphore = new Semaphore(this.concurrency);
    this.orderly = options.consumeOrderly ?? false;
    this.suspendMs = positiveInt(
      options.suspendCurrentQueueTimeMillis,
      1000,
      "suspendCurrentQueueTimeMillis",
      0,
    );
    if (options.maxConsumeRatePerSecond !== undefined) {
      const r = options.maxConsumeRatePerSecond;
      if (typeof r !== "number" || !(r > 0) || !Number.isFinite(r)) {
        throw new ClientError(`maxConsumeRatePerSecond must be a positive number, got ${String(r)}`);
      }
      this.rate = new TokenBucket(r, Math.max(1, r / 10), Date.now());
    }
    this.lockOptions = {
      renewIntervalMs: positiveInt(options.lockRenewIntervalMillis, 20_000, "lockRenewIntervalMillis", 10),
      maxLiveMs: positiveInt(options.lockMaxLiveMillis, 30_000, "lockMaxLiveMillis", 10),
    };
    this.awaitTerminationMs = positiveInt(
      options.awaitTerminationMillisWhenShutdown,
      10_000,
      "awaitTerminationMillisWhenShutdown",
      0,
    );
  }

  /** Listener calls in flight now. */
  get inflightCount(): number {
    return this.inflight;
  }

  protected override inflightNow(): number {
    return this.inflight;
  }

  protected override get consumesOrderly(): boolean {
    return this.orderly;
  }

  protected override queueLockState(mq: MessageQueue): { locked: boolean; lastLockTimestamp: number } {
    const locks = this.locks;
    if (!locks) return { locked: false, lastLockTimestamp: 0 };
    return { locked: locks.isHeld(mq), lastLockTimestamp: locks.lastGranted(mq) };
  }

  /**
   * CONSUME_MESSAGE_DIRECTLY (mqadmin consumeMessageDirectly): runs the listener on a stored
   * message an operator names, outside the queues: no offset moves, a failure is not sent back.
   */
  consumeMessageDirectly(msg: MessageExt, brokerName: string): Promise<ConsumeMessageDirectlyResult> {
    return consumeDirectly(this.listener, msg, brokerName, this.orderly);
  }

  protected onMessages(e: QueueEntry, added: MessageView[]): void {
    if (this.orderly) {
      if (!e.orderlyActive) this.startOrderlyLoop(e);
      return;
    }
    this.pending.push({ e, msgs: added, next: 0 });
    // A small batch means the queue is caught up: latency matters, consume at once. A large
    // one means a backlog: throughput matters, send the next pull first (scheduleDrain).
    if (added.length <= this.copts.pullBatchSize && !this.drainScheduled) this.drain();
    else this.scheduleDrain();
  }

  /**
   * Listeners run from a setImmediate, not inside the pull's completion: the pull loop sends
   * its next pull first, so the broker reads while this process consumes.
   */
  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /**
   * Starts listener calls for pending messages while fewer than consumptionThreadCount are
   * in flight. A listener that answers synchronously completes in the loop: no promise,
   * timer or closure per message; offsets are recorded once per drain.
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.inflight < this.concurrency) {
        const batch = this.pending[this.pendingHead];
        if (!batch) break;
        const live = !batch.e.pq.dropped && this.state === "running";
        if (live && this.rate && !this.rate.tryTake(Date.now())) {
          this.drainWhenRateAllows();
          break;
        }
        const m = batch.msgs[batch.next++]!;
        if (batch.next === batch.msgs.length) this.shiftPending();
        if (live) this.start(batch.e, m);
      }
    } finally {
      this.draining = false;
      this.recordConsumed();
    }
  }

  /** The rate limit stopped a drain: run it again when the next token is due. */
  private drainWhenRateAllows(): void {
    if (this.rateTimer || !this.rate) return;
    this.rateTimer = setTimeout(() => {
      this.rateTimer = undefined;
      this.drain();
    }, this.rate.msUntilNext(Date.now()));
  }

  /** Orderly mode: waits (bounded by the consumer's life) for a token of the rate limit. */
  private async takeToken(): Promise<void> {
    if (!this.rate) return;
    while (this.state === "running" && !this.rate.tryTake(Date.now())) {
      await this.stopSignal.wait(this.rate.msUntilNext(Date.now()));
    }
  }

  private shiftPending(): void {
    this.pending[this.pendingHead++] = undefined as unknown as PendingBatch;
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      // A listener that never catches up would otherwise keep a growing run of empty slots.
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /** One listener call; settles at once when the listener answered synchronously. */
  private start(e: QueueEntry, m: MessageView): void {
    this.begin();
    this.tracer?.subBefore(m);
    const t0 = Date.now();
    let r: ListenerOutcome | PromiseLike<ListenerOutcome>;
    try {
      r = this.listener.consume(m);
      if (isThenable(r)) {
        r.then(
          (v) => this.settle(e, m, t0, succeeded(v)),
          (err: unknown) => this.settle(e, m, t0, false, err),
        );
        return;
      }
    } catch (err) {
      this.settle(e, m, t0, false, err);
      return;
    }
    this.settle(e, m, t0, succeeded(r));
  }

  /** A listener call ended: the message is consumed, or (FAILURE, throw) sent back first. */
  private settle(e: QueueEntry, m: MessageView, t0: number, ok: boolean, err?: unknown): void {
    const now = Date.now();
    this.consumeStats.record(e.mq.topic, ok, now - t0, now);
    this.tracer?.subAfter(m, ok ? "SUCCESS" : err !== undefined ? "EXCEPTION" : "FAILED");
    if (ok) {
      this.consumedOne(e, m.queueOffset);
      this.endAndDrain();
      return;
    }
    if (err !== undefined) {
      this.warnOnce("listener", `listener threw for message ${m.messageId}: ${(err as Error)?.message}`);
    }
    this.afterFailure(e, m)
      .catch(this.logDetached("consumption"))
      .finally(() => this.endAndDrain());
  }

  private endAndDrain(): void {
    this.end();
    // Inside drain() the loop goes on by itself and records offsets at its end.
    if (!this.draining) this.drain();
  }

  /** A failed message: dropped (broadcasting), sent back for redelivery, or retried here later. */
  private async afterFailure(e: QueueEntry, m: MessageView): Promise<void> {
    if (this.copts.messageModel === "BROADCASTING") {
      this.warnOnce(
        "broadcast-failure",
        `broadcast message ${m.messageId} failed; broadcasting does not retry, dropping it`,
      );
    } else if (!(await this.sendBack(e, m, 0))) {
      // Neither send-back nor the fallback worked: keep it cached (the offset stays) and try again here.
      this.scheduleLocalRetry(e, m);
      return;
    }
    this.consumedOne(e, m.queueOffset);
  }

  private async invokeListener(m: MessageView): Promise<boolean> {
    const tracer = this.tracer;
    tracer?.subBefore(m);
    try {
      const ok = succeeded(await this.listener.consume(m));
      tracer?.subAfter(m, ok ? "SUCCESS" : "FAILED");
      return ok;
    } catch (err) {
      tracer?.subAfter(m, "EXCEPTION");
      this.warnOnce("listener", `listener threw for message ${m.messageId}: ${(err as Error).message}`);
      return false;
    }
  }

  private begin(): void {
    this.inflight++;
  }

  private end(): void {
    // Only shutdown (beforeStop) waits for idleness: no wake-up per message while running.
    if (--this.inflight === 0 && this.state !== "running") this.idle.notify();
  }

  private scheduleLocalRetry(e: QueueEntry, m: MessageView): void {
    const t = setTimeout(() => {
      this.localRetryTimers.delete(t);
      m.deliveryAttempt++;
      this.pending.push({ e, msgs: [m], next: 0 });
      this.drain();
    }, LOCAL_RETRY_MS);
    this.localRetryTimers.add(t);
  }

  /** Orderly consumers of a clustering group lock their queues at the broker (broadcasting needs no lock). */
  private get usesLocks(): boolean {
    return this.orderly && this.copts.messageModel === "CLUSTERING";
  }

  private lockService(): QueueLockService {
    this.locks ??= new QueueLockService(
      this.instance!,
      this.group,
      this.lockOptions,
      () => this.assignedQueues(),
      (key, message) => this.warnOnce(key, message),
    );
    return this.locks;
  }

  protected override async acquireQueue(mq: MessageQueue): Promise<boolean> {
    if (!this.usesLocks) return true;
    const ok = await this.lockService().lock(mq);
    if (!ok) this.instance?.logger.debug(`[${this.group}] ${mqKey(mq)} is still locked by another consumer`);
    return ok;
  }

  protected override async quiesceQueue(e: QueueEntry): Promise<void> {
    if (!this.usesLocks) return;
    // The message in flight finishes and records its offset; nothing further starts (dropped).
    e.releasing = true;
    await this.orderlyLoops.get(e);
  }

  /**
   * Unlocks a given-up queue once its offset is committed. If the commit failed, the lock is
   * left to expire at the broker: unlocking now would let the next owner start from an older
   * offset while this one's progress is unknown.
   */
  protected override async afterQueueReleased(e: QueueEntry, committed: boolean): Promise<void> {
    if (!this.usesLocks) return;
    e.releasing = false;
    if (committed) await this.lockService().unlock([e.mq]);
    else this.lockService().forget([e.mq]);
  }

  protected override async afterStop(mqs: MessageQueue[], committed: boolean): Promise<void> {
    if (!this.locks) return;
    this.locks.stop();
    if (committed) await this.locks.unlock(mqs);
  }

  private startOrderlyLoop(e: QueueEntry): void {
    const loop = this.orderlyLoop(e)
      .catch(this.logDetached("orderly consumption"))
      .finally(() => {
        if (this.orderlyLoops.get(e) === loop) this.orderlyLoops.delete(e);
      });
    this.orderlyLoops.set(e, loop);
  }

  /** Orderly mode: holds the queue's lock, or waits a moment (bounded by the consumer's life) and asks again. */
  private async holdsLock(e: QueueEntry): Promise<boolean> {
    if (!this.usesLocks) return true;
    const locks = this.lockService();
    if (locks.isHeld(e.mq) || (await locks.lock(e.mq))) return true;
    this.warnOnce(
      `lost:${mqKey(e.mq)}`,
      `lock of ${mqKey(e.mq)} lapsed; consumption of it waits until it is locked again`,
    );
    await this.stopSignal.wait(Math.max(this.suspendMs, 100));
    return false;
  }

  private async orderlyLoop(e: QueueEntry): Promise<void> {
    e.orderlyActive = true;
    try {
      // One message at a time, head of the queue first; ends when the queue is empty or given up.
      while (this.state === "running" && !e.pq.dropped) {
        const m = e.pq.values().next().value as MessageView | undefined;
        if (!m) break;
        if (!(await this.holdsLock(e))) continue;
        await this.semaphore.acquire();
        this.begin();
        try {
          await this.takeToken();
          if (e.pq.dropped || this.state !== "running") break;
          const t0 = Date.now();
          const ok = await this.invokeListener(m);
          const t1 = Date.now();
          this.consumeStats.record(e.mq.topic, ok, t1 - t0, t1);
          if (!ok && this.copts.messageModel === "CLUSTERING") {
            if (m.deliveryAttempt <= this.copts.maxReconsumeTimes) {
              m.deliveryAttempt++;
              await this.stopSignal.wait(this.suspendMs);
              continue;
            }
            // Exhausted: straight to the dead-letter queue (delayLevel −1), as Java orderly consumers do.
            if (!(await this.sendBack(e, m, -1))) {
              await this.stopSignal.wait(LOCAL_RETRY_MS);
              continue;
            }
          }
          this.consumed(e, [m.queueOffset]);
        } finally {
          this.end();
          this.semaphore.release();
        }
      }
    } finally {
      e.orderlyActive = false;
    }
    // A message may have arrived between the last check and the flag reset.
    if (this.state === "running" && !e.pq.dropped && e.pq.count > 0) this.startOrderlyLoop(e);
  }

  /** A failed message goes back to the broker for redelivery (SendBack.ts); false when that failed. */
  private sendBack(e: QueueEntry, m: MessageView, delayLevel: number): Promise<boolean> {
    this.sendBackService ??= new SendBack({
      instance: this.instance!,
      group: this.group,
      maxReconsumeTimes: this.copts.maxReconsumeTimes,
      logger: this.clientOptions?.logger,
      brokerAddr: (mq) => this.addrFor(mq, true),
      warnOnce: (key, msg) => this.warnOnce(key, msg),
    });
    return this.sendBackService.send(e.mq, m, delayLevel);
  }

  protected override async beforeStop(): Promise<void> {
    clearTimeout(this.rateTimer);
    for (const t of this.localRetryTimers) clearTimeout(t);
    this.localRetryTimers.clear();
    const deadline = Date.now() + this.awaitTerminationMs;
    while (this.inflight > 0 && Date.now() < deadline) {
      await this.idle.wait(deadline - Date.now());
    }
  }
}
