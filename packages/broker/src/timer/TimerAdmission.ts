import { MessageConst, type MessageExt } from "@tidemq/protocol";
import type { TimerEntry, TimerStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import type { Loaded, LoadedTimers } from "./LoadedTimers.js";
import { possibleCopies, rollOrigin, supersededCopies } from "./RollOrigin.js";
import type { TimerDelivery } from "./TimerDelivery.js";
import { deliveryInput, readTimerRecords } from "./TimerRecords.js";

/** Records read per batch (a few store reads each). */
const READ_BATCH = 512;
/** Batches of one slot read at once. */
const READ_WORKERS = 4;

/**
 * How loaded timer messages enter memory (LoadedTimers): the records of a loaded slot (or of
 * one enqueued late) are read from the commit log, the older copies of a rolled timer are
 * told apart and dropped, and each message waits, readied for delivery, until its due ms
 * (TimerDelivery). Each waiting message holds its epoch open until it is stored.
 */
export class TimerAdmission {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly timers: TimerStore,
    private readonly memory: LoadedTimers,
    private readonly delivery: TimerDelivery,
  ) {}

  /**
   * The entries of a loaded slot that a newer copy of the same rolled timer in the slot
   * supersedes (a wheel rebuilt from the log after a roll holds both; see RollOrigin.ts),
   * and the records read to tell. Superseded entries are neither delivered nor rolled; a
   * timer is counted as pending once (its copies are not), so dropping one settles nothing.
   */
  async supersededIn(
    chain: TimerEntry[],
  ): Promise<{ superseded: Set<TimerEntry>; read: Map<TimerEntry, MessageExt> }> {
    const candidates = possibleCopies(chain);
    if (candidates.length === 0) return { superseded: new Set(), read: new Map() };
    const read = await readTimerRecords(this.ctx.store, candidates);
    const dropped = supersededCopies(candidates, read);
    if (dropped.size > 0) {
      this.ctx.logger.info(
        `timer: ${dropped.size} record(s) of slot ${new Date(chain[0]!.dueMs).toISOString()} superseded by a later rolled copy of the same timer; not delivered twice`,
      );
    }
    return { superseded: dropped, read };
  }

  /**
   * Messages due in a loaded slot (or enqueued late, with their records): read now, stored
   * in their real topic when due.
   */
  admit(entries: TimerEntry[], epoch: number, records?: MessageExt[]): void {
    const items: Loaded[] = [];
    for (const entry of entries) {
      this.timers.hold(epoch);
      const item: Loaded = {
        dueMs: entry.dueMs,
        entry,
        epoch,
        input: undefined,
        uniqKey: undefined,
        origin: undefined,
        read: undefined,
        readFinished: false,
        done: false,
      };
      this.memory.add(item);
      items.push(item);
    }
    if (records) {
      for (let k = 0; k < items.length; k++) this.fill(items[k]!, records[k]);
      this.delivery.arm();
      return;
    }
    // Earliest due first, a few batches at a time (each a consume-queue and a commit-log read).
    items.sort((a, b) => a.dueMs - b.dueMs);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const chunk = items.slice(next, next + READ_BATCH);
        next += chunk.length;
        let recs: Map<TimerEntry, MessageExt> | undefined;
        try {
          recs = await readTimerRecords(
            this.ctx.store,
            chunk.map((x) => x.entry),
          );
        } catch (err) {
          this.ctx.logger.error(`timer messages cannot be read: ${(err as Error).message}`);
        }
        for (const item of chunk) this.fill(item, recs?.get(item.entry));
        this.delivery.arm();
      }
    };
    const read = Promise.all(Array.from({ length: READ_WORKERS }, worker)).then(() => undefined);
    for (const item of items) item.read = read;
  }

  private fill(item: Loaded, m: MessageExt | undefined): void {
    try {
      if (!m) throw new Error("the record is gone from the commit log");
      item.origin = rollOrigin(m);
      item.uniqKey = m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
      item.input = deliveryInput(m);
    } catch (err) {
      this.ctx.logger.error(
        `timer message at commit-log offset ${item.entry.commitLogOffset} cannot be delivered (${(err as Error).message}); it is dropped`,
      );
    }
    item.readFinished = true;
  }
}
