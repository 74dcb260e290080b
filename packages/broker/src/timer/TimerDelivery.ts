import type { MessageInput, TimerStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import type { Loaded, LoadedTimers } from "./LoadedTimers.js";

/**
 * Delivery of loaded timer messages: one timeout for the earliest due, and at its millisecond
 * every message due by then stored in its real topic as one batch (a recalled one dropped).
 * A failed store is tried again a second later; the epoch stays open until it is stored, so a
 * crash redoes it (at least once, never early).
 */
export class TimerDelivery {
  /** Stopped: nothing more is delivered. */
  private closed = false;
  private fireTimer: NodeJS.Timeout | undefined;
  private fireAt = Number.POSITIVE_INFINITY;
  /** Delivery batches being stored or waiting to be tried again (a stop waits for them). */
  putsInFlight = 0;
  /** Deliveries being stored (their due times bound the progress a DLedger leader replicates). */
  readonly storing = new Set<Loaded>();
  /** Hears each stored delivery batch (a DLedger leader replicates the progress soon after). */
  onDelivered: (() => void) | undefined;
  delivered = 0;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly timers: TimerStore,
    private readonly memory: LoadedTimers,
    /** Called whenever deliveries may have run out (a stop may be waiting for that). */
    private readonly idle: () => void,
  ) {}

  /** Arms the one timeout for the earliest loaded message. */
  arm(): void {
    const top = this.memory.heap.peek();
    if (!top || this.closed) return;
    if (top.dueMs >= this.fireAt) return;
    if (this.fireTimer) clearTimeout(this.fireTimer);
    this.fireAt = top.dueMs;
    this.fireTimer = setTimeout(() => this.fire(), Math.max(0, top.dueMs - Date.now()));
  }

  private fire(): void {
    this.fireTimer = undefined;
    this.fireAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const batch: Loaded[] = [];
    let waiting: Loaded | undefined;
    while (this.memory.heap.size > 0 && this.memory.heap.peek()!.dueMs <= now && batch.length < 4096) {
      const top = this.memory.heap.peek()!;
      if (!top.readFinished) {
        waiting = top;
        break;
      }
      this.memory.heap.pop();
      batch.push(top);
    }
    if (batch.length > 0) this.store(batch);
    this.idle();
    if (waiting) return; // its read re-arms
    this.arm();
  }

  private store(batch: Loaded[]): void {
    const inputs: MessageInput[] = [];
    const stored: Loaded[] = [];
    for (const item of batch) {
      item.done = true;
      this.memory.forget(item);
      const c = item.uniqKey !== undefined ? this.memory.cancelled.get(item.uniqKey) : undefined;
      if (!item.input || c === item.dueMs) {
        this.settle(item);
        continue;
      }
      inputs.push(item.input);
      stored.push(item);
      this.storing.add(item);
    }
    if (inputs.length === 0) return;
    this.putsInFlight++;
    this.ctx.store
      .putMessagesBatch(inputs, { reserve: true })
      .then(
        () => {
          this.ctx.stats.recordPut(inputs.length);
          this.delivered += inputs.length;
          for (const item of stored) {
            this.storing.delete(item);
            this.settle(item);
          }
          this.onDelivered?.();
        },
        (err: Error) => {
          // Not stored: try again in a second (the epoch stays open, so a crash redoes it).
          this.ctx.logger.error(
            `timer delivery of ${inputs.length} messages failed: ${err.message}; retrying`,
          );
          // Counted as in flight until back in the heap, so a stop does not take them as done.
          this.putsInFlight++;
          setTimeout(() => {
            for (const item of stored) {
              item.done = false;
              this.memory.heap.push(item);
              this.storing.delete(item);
            }
            this.putsInFlight--;
            this.arm();
          }, 1000).unref();
        },
      )
      .finally(() => {
        this.putsInFlight--;
        this.idle();
      });
  }

  private settle(item: Loaded): void {
    this.timers.settled(item.dueMs);
    this.timers.release(item.epoch);
  }

  /** Delivers nothing more. */
  close(): void {
    this.closed = true;
    if (this.fireTimer) clearTimeout(this.fireTimer);
  }
}
