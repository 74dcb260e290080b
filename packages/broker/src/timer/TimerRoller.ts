import { type MessageInput, type TimerEntry, TimerKind, type TimerStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import type { LoadedTimers } from "./LoadedTimers.js";
import { readTimerRecords, rollInput } from "./TimerRecords.js";

/** Records read per batch (a few store reads each). */
const READ_BATCH = 512;

/**
 * Entries due in a later lap: each record is stored again in the timer topic (a copy with
 * TIMER_ROLL_TIMES), so none a pending timer needs grows older than the wheel's two days
 * and commit-log retention never deletes it; the copy comes back through the enqueue.
 */
export class TimerRoller {
  /** Rolls whose copies are not stored yet (a stop waits for them). */
  inFlight = 0;
  /** A roll was given up while stopping: the final snapshot must not claim it done. */
  aborted = false;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly timers: TimerStore,
    private readonly memory: LoadedTimers,
    private readonly stopping: () => boolean,
    /** Called after each roll ends (a stop may be waiting for the last one). */
    private readonly ended: () => void,
  ) {}

  roll(entries: TimerEntry[], epoch: number): void {
    for (const e of entries) {
      this.timers.hold(epoch);
      this.memory.startRolling(e);
    }
    const release = () => {
      for (const _ of entries) this.timers.release(epoch);
    };
    this.inFlight++;
    (async () => {
      const inputs: MessageInput[] = [];
      for (let k = 0; k < entries.length; k += READ_BATCH) {
        const chunk = entries.slice(k, k + READ_BATCH);
        const recs = await readTimerRecords(this.ctx.store, chunk);
        for (const e of chunk) {
          const m = recs.get(e);
          if (m) inputs.push(rollInput(m));
          else {
            this.ctx.logger.error(
              `timer message at commit-log offset ${e.commitLogOffset} (due ${new Date(e.dueMs).toISOString()}) is gone from the commit log; it cannot be delivered`,
            );
            this.memory.rolled(e);
            if (e.kind === TimerKind.MESSAGE) this.timers.settled(e.dueMs);
          }
        }
      }
      for (let attempt = 0; inputs.length > 0; attempt++) {
        try {
          await this.ctx.store.putMessagesBatch(inputs, { reserve: true });
          break;
        } catch (err) {
          if (this.stopping()) throw err;
          this.ctx.logger.error(
            `timer roll of ${inputs.length} messages failed: ${(err as Error).message}; retrying`,
          );
          await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * (attempt + 1))));
        }
      }
      release();
    })()
      .catch((err: Error) => {
        // Stopping: the epoch stays unfinished, so the next start rolls these again.
        this.aborted = true;
        this.ctx.logger.warn(`timer roll interrupted: ${err.message}`);
      })
      .finally(() => {
        this.inFlight--;
        this.ended();
      });
  }
}
