import { join } from "node:path";
import {
  createResponse,
  decodeHeader,
  decodeMessage,
  encodeJson,
  javaStringHashCode,
  MessageConst,
  type MessageExt,
  RecallMessageRequestHeader,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  toStorableIPv4,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import { type MessageInput, type TimerEntry, TimerKind, TimerSlots, TimerStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { fail } from "../processors/responses.js";
import { DueHeap } from "./DueHeap.js";
import { decodeRecallHandle } from "./RecallHandle.js";
import { deliveryInput, readTimerRecords, rollInput, TIMER_ROLL_TIMES } from "./TimerRecords.js";
import { TIMER_TOPIC } from "./timerSend.js";

/** A slot is loaded this long before it starts, so its messages are read by then. */
const LOOKAHEAD_MS = 1000;
/** Slots loaded in one epoch when catching up after downtime. */
const MAX_SLOTS_PER_EPOCH = 3600;
/** Loading pauses while this many epochs wait for their deliveries (the store is stuck). */
const MAX_OPEN_EPOCHS = 30;
/** Records read per batch (a few store reads each). */
const READ_BATCH = 512;
/** Batches of one slot read at once. */
const READ_WORKERS = 4;
const PERSIST_INTERVAL_MS = 1000;

/** A timer message loaded from the wheel (or enqueued late), waiting for its millisecond. */
interface Loaded {
  dueMs: number;
  entry: TimerEntry;
  epoch: number;
  /** The record to store in the real topic, once read. */
  input: MessageInput | undefined;
  uniqKey: string | undefined;
  read: Promise<void> | undefined;
  readFinished: boolean;
  /** Taken off the heap: being stored or dropped. */
  done: boolean;
}

/**
 * Timer messages (any delivery time up to timerMaxDelaySec) and their recall.
 *
 * Sends with a due time are stored in TIMER_TOPIC (timerSend.ts). This service reads that
 * topic's consume queue into the TimerStore (enqueue), loads each 1-second slot of the
 * wheel LOOKAHEAD_MS before it starts, reads its messages from the commit log and, at each
 * message's due millisecond, stores it as a new record in its real topic and queue (keys,
 * tags and UNIQ_KEY kept). RECALL_MESSAGE stores a marker record in TIMER_TOPIC; a marker
 * keeps the message of the same due time and UNIQ_KEY from ever being delivered.
 *
 * Delivery is at least once: after a crash the deliveries of the last unfinished epoch
 * (about the last second) are made again. Never early: nothing is delivered before its due
 * millisecond, also after a restart.
 */
export class TimerService {
  private readonly heap = new DueHeap<Loaded>();
  /** Loaded messages by due ms, for recall. */
  private readonly loaded = new Map<number, Loaded[]>();
  /** Entries taken off the wheel to be rolled, until their copies are enqueued (recall looks here too). */
  private readonly rolling = new Map<number, TimerEntry[]>();
  /** UNIQ_KEYs recalled → their due ms; checked at delivery. */
  private readonly cancelled = new Map<string, number>();
  /** Stopping: no more enqueues or loads (what is loaded is still delivered). */
  private stopped = false;
  /** Stopped: nothing more is delivered. */
  private closed = false;
  private rollsInFlight = 0;
  /** A roll was given up while stopping: the final snapshot must not claim it done. */
  private rollAborted = false;
  private caughtUp = false;
  private readyWaiters: Array<() => void> = [];
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  private loadTimer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private fireTimer: NodeJS.Timeout | undefined;
  private fireAt = Number.POSITIVE_INFINITY;
  private persistTimer: NodeJS.Timeout | undefined;
  private putsInFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** Deliveries being stored (their due times bound the progress a DLedger leader replicates). */
  private readonly storing = new Set<Loaded>();
  private skip: { cq: number; beforeMs: number } | undefined;
  /** Hears each stored delivery batch (a DLedger leader replicates the progress soon after). */
  onDelivered: (() => void) | undefined;
  /** Entries skipped as delivered by a previous DLedger leader. */
  skippedDelivered = 0;
  delivered = 0;

  private constructor(
    private readonly ctx: BrokerContext,
    readonly timers: TimerStore,
  ) {}

  /**
   * `skip` (DLedger: the progress the previous leader replicated through the log): timer-topic
   * records below `skip.cq` due before `skip.beforeMs` were delivered already and are not
   * delivered again by this replica.
   */
  static async start(
    ctx: BrokerContext,
    options: { slots?: number; skip?: { cq: number; beforeMs: number } } = {},
  ): Promise<TimerService> {
    const timers = await TimerStore.open({
      dir: join(ctx.config.storePathRootDir, "timer"),
      slots: options.slots,
    });
    const s = new TimerService(ctx, timers);
    s.skip = options.skip;
    // Records are stored again at most every wheel span: retention must keep them that long.
    if (ctx.config.fileReservedTime * 3600 < timers.slots + 3600) {
      ctx.logger.warn(
        `fileReservedTime=${ctx.config.fileReservedTime} h is shorter than the timer wheel's ${timers.slots / 3600} h plus 1 h: a timer message's record may be deleted before it is due`,
      );
    }
    ctx.store.onMessageArrived((topic) => {
      if (topic === TIMER_TOPIC && !s.stopped) s.pump();
    });
    s.pump();
    s.persistTimer = setInterval(() => {
      s.timers.persist().catch((err: Error) => ctx.logger.error(`timer snapshot failed: ${err.message}`));
      s.prune();
    }, PERSIST_INTERVAL_MS);
    s.persistTimer.unref();
    return s;
  }

  register(): void {
    this.ctx.server.registerHandler(RequestCode.RECALL_MESSAGE, (req, conn) => this.recall(req, conn));
    this.ctx.server.registerHandler(RequestCode.GET_TIMER_STATUS, async (req) =>
      createResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeJson(this.status())),
    );
  }

  // ------------------------------------------------------------------ enqueue

  /** Reads the timer topic's new records into the timer store (one reader at a time). */
  private pump(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        while (!this.stopped && (await this.pumpBatch()));
      } while (this.pumpAgain && !this.stopped);
    })()
      .catch((err: Error) => {
        this.ctx.logger.error(`timer enqueue failed: ${err.message}; retrying in 1 s`);
        setTimeout(() => this.pump(), 1000).unref();
      })
      .finally(() => {
        this.pumping = undefined;
        if (!this.caughtUp && !this.stopped && this.timers.enqueuedCq >= this.cqMax()) this.becomeReady();
      });
  }

  private cqMax(): number {
    return this.ctx.store.getMaxOffsetInQueue(TIMER_TOPIC, 0);
  }

  /** One read of the timer topic; true when there is more. */
  private async pumpBatch(): Promise<boolean> {
    const from = this.timers.enqueuedCq;
    if (from >= this.cqMax()) return false;
    const r = await this.ctx.store.getMessage(TIMER_TOPIC, 0, from, 256);
    if (r.status !== "FOUND") {
      if (r.nextBeginOffset > from) {
        this.ctx.logger.warn(
          `timer topic entries ${from}..${r.nextBeginOffset - 1} are gone from the store (${r.status}); skipped`,
        );
        this.timers.skipTo(r.nextBeginOffset);
        return true;
      }
      return false;
    }
    let pos = 0;
    for (const cqOffset of r.queueOffsets) {
      const m = decodeMessage(r.body, pos);
      pos += m.storeSize;
      if (cqOffset < this.timers.enqueuedCq) continue;
      this.enqueue(m, cqOffset);
    }
    return r.nextBeginOffset < r.maxOffset;
  }

  private enqueue(m: MessageExt, cqOffset: number): void {
    const props = m.properties;
    const dueMs = Number(props[MessageConst.TIMER_OUT_MS]);
    if (!Number.isSafeInteger(dueMs)) {
      this.ctx.logger.warn(`timer topic record at ${m.commitLogOffset} has no TIMER_OUT_MS; skipped`);
      this.timers.skipTo(cqOffset + 1);
      return;
    }
    if (this.deliveredBefore(cqOffset, dueMs)) {
      this.skippedDelivered++;
      this.timers.skipTo(cqOffset + 1);
      return;
    }
    const del = props[MessageConst.TIMER_DEL_UNIQKEY];
    const key = del ?? props[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? "";
    const entry: TimerEntry = {
      dueMs,
      commitLogOffset: m.commitLogOffset,
      cqOffset,
      size: m.storeSize,
      uniqHash: javaStringHashCode(key),
      kind: del !== undefined ? TimerKind.RECALL : TimerKind.MESSAGE,
    };
    const rolled = props[TIMER_ROLL_TIMES] !== undefined;
    if (rolled) this.rolled(entry);
    const where = this.timers.add(entry, cqOffset, rolled);
    if (where !== "late") return;
    // Its slot is loaded already: a marker cancels in memory, a message waits in memory.
    if (del !== undefined) this.cancelled.set(del, dueMs);
    else this.admit([entry], this.timers.currentEpoch, [m]);
  }

  private deliveredBefore(cqOffset: number, dueMs: number): boolean {
    return this.skip !== undefined && cqOffset < this.skip.cq && dueMs < this.skip.beforeMs;
  }

  /**
   * Delivery progress (replicated by a DLedger leader): every timer-topic record below `cq`
   * due before `beforeMs` is stored in its real topic or recalled. Bounded by what is loaded
   * and not yet stored, and by the wheel's load position (later slots are not looked at yet).
   */
  progress(): { cq: number; beforeMs: number } {
    let before = this.timers.loadedUpToSec * 1000;
    const top = this.heap.peek();
    if (top && top.dueMs < before) before = top.dueMs;
    for (const item of this.storing) if (item.dueMs < before) before = item.dueMs;
    // A slot being loaded: its entries are not in the heap yet.
    if (this.loading) before = Math.min(before, this.loadingFromSec * 1000);
    if (this.skip && this.skip.cq >= this.timers.enqueuedCq) before = Math.min(before, this.skip.beforeMs);
    return { cq: this.timers.enqueuedCq, beforeMs: before };
  }

  private becomeReady(): void {
    this.caughtUp = true;
    for (const w of this.readyWaiters.splice(0)) w();
    this.scheduleLoad(0);
  }

  private ready(): Promise<void> {
    if (this.caughtUp) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  // ------------------------------------------------------------------ load

  private scheduleLoad(delayMs: number): void {
    if (this.stopped || this.loadTimer) return;
    this.loadTimer = setTimeout(() => {
      this.loadTimer = undefined;
      this.loading ??= this.loadDue()
        .catch((err: Error) => this.ctx.logger.error(`timer slot load failed: ${err.message}`))
        .finally(() => {
          this.loading = undefined;
          const next = TimerSlots.loadAtMs(this.timers.loadedUpToSec, LOOKAHEAD_MS);
          this.scheduleLoad(Math.max(0, Math.min(1000, next - Date.now())));
        });
    }, delayMs);
  }

  private loadingFromSec = 0;

  private async loadDue(): Promise<void> {
    while (!this.stopped) {
      const next = this.timers.loadedUpToSec;
      this.loadingFromSec = next;
      const n = TimerSlots.slotsToLoad(next, Date.now(), LOOKAHEAD_MS, MAX_SLOTS_PER_EPOCH);
      if (n === 0) return;
      if (this.timers.openEpochs >= MAX_OPEN_EPOCHS) {
        this.ctx.logger.warn(
          `timer delivery is behind (${this.timers.openEpochs} epochs unstored); loading paused`,
        );
        return;
      }
      const epoch = this.timers.beginEpoch();
      for (let k = 0; k < n && !this.stopped; k++) {
        const sec = next + k;
        const chain = await this.timers.loadSlot(sec);
        if (chain.length === 0) continue;
        const deliver: TimerEntry[] = [];
        const markers: TimerEntry[] = [];
        const roll: TimerEntry[] = [];
        for (const e of chain) {
          if (this.deliveredBefore(e.cqOffset, e.dueMs)) {
            // A previous DLedger leader delivered it (this replica's wheel was behind).
            this.skippedDelivered++;
            if (e.kind === TimerKind.MESSAGE) this.timers.settled(e.dueMs);
            continue;
          }
          if (TimerSlots.loadedAction(e.dueMs, sec) === "roll") roll.push(e);
          else if (e.kind === TimerKind.RECALL) markers.push(e);
          else deliver.push(e);
        }
        // Markers first: a message recalled in the same slot is then never delivered.
        if (markers.length > 0) {
          for (const m of (await readTimerRecords(this.ctx.store, markers)).values()) {
            const key = m.properties[MessageConst.TIMER_DEL_UNIQKEY];
            const due = Number(m.properties[MessageConst.TIMER_OUT_MS]);
            if (key !== undefined) this.cancelled.set(key, due);
          }
        }
        if (deliver.length > 0) this.admit(deliver, epoch);
        if (roll.length > 0) this.roll(roll, epoch);
      }
    }
  }

  /**
   * Messages due in a loaded slot (or enqueued late, with their records): read now, stored
   * in their real topic when due.
   */
  private admit(entries: TimerEntry[], epoch: number, records?: MessageExt[]): void {
    const items: Loaded[] = [];
    for (const entry of entries) {
      this.timers.hold(epoch);
      const item: Loaded = {
        dueMs: entry.dueMs,
        entry,
        epoch,
        input: undefined,
        uniqKey: undefined,
        read: undefined,
        readFinished: false,
        done: false,
      };
      const list = this.loaded.get(entry.dueMs);
      if (list) list.push(item);
      else this.loaded.set(entry.dueMs, [item]);
      this.heap.push(item);
      items.push(item);
    }
    if (records) {
      for (let k = 0; k < items.length; k++) this.fill(items[k]!, records[k]);
      this.arm();
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
        this.arm();
      }
    };
    const read = Promise.all(Array.from({ length: READ_WORKERS }, worker)).then(() => undefined);
    for (const item of items) item.read = read;
  }

  private fill(item: Loaded, m: MessageExt | undefined): void {
    try {
      if (!m) throw new Error("the record is gone from the commit log");
      item.uniqKey = m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
      item.input = deliveryInput(m);
    } catch (err) {
      this.ctx.logger.error(
        `timer message at commit-log offset ${item.entry.commitLogOffset} cannot be delivered (${(err as Error).message}); it is dropped`,
      );
    }
    item.readFinished = true;
  }

  /**
   * Entries due in a later lap: each record is stored again in the timer topic (a copy with
   * TIMER_ROLL_TIMES), so none a pending timer needs grows older than the wheel's two days
   * and commit-log retention never deletes it; the copy comes back through the enqueue.
   */
  private roll(entries: TimerEntry[], epoch: number): void {
    for (const e of entries) {
      this.timers.hold(epoch);
      const l = this.rolling.get(e.dueMs);
      if (l) l.push(e);
      else this.rolling.set(e.dueMs, [e]);
    }
    const release = () => {
      for (const _ of entries) this.timers.release(epoch);
    };
    this.rollsInFlight++;
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
            this.rolled(e);
            if (e.kind === TimerKind.MESSAGE) this.timers.settled(e.dueMs);
          }
        }
      }
      for (let attempt = 0; inputs.length > 0; attempt++) {
        try {
          this.putsInFlight++;
          await this.ctx.store.putMessagesBatch(inputs);
          break;
        } catch (err) {
          if (this.stopped) throw err;
          this.ctx.logger.error(
            `timer roll of ${inputs.length} messages failed: ${(err as Error).message}; retrying`,
          );
          await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * (attempt + 1))));
        } finally {
          this.putsInFlight--;
        }
      }
      release();
    })()
      .catch((err: Error) => {
        // Stopping: the epoch stays unfinished, so the next start rolls these again.
        this.rollAborted = true;
        this.ctx.logger.warn(`timer roll interrupted: ${err.message}`);
      })
      .finally(() => {
        this.rollsInFlight--;
        this.checkIdle();
      });
  }

  /** A rolled copy was enqueued (or lost): the entry is in the wheel again. */
  private rolled(e: TimerEntry): void {
    const l = this.rolling.get(e.dueMs);
    if (!l) return;
    const i = l.findIndex((x) => x.uniqHash === e.uniqHash && x.kind === e.kind);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.rolling.delete(e.dueMs);
  }

  // ------------------------------------------------------------------ deliver

  /** Arms the one timeout for the earliest loaded message. */
  private arm(): void {
    const top = this.heap.peek();
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
    while (this.heap.size > 0 && this.heap.peek()!.dueMs <= now && batch.length < 4096) {
      const top = this.heap.peek()!;
      if (!top.readFinished) {
        waiting = top;
        break;
      }
      this.heap.pop();
      batch.push(top);
    }
    if (batch.length > 0) this.store(batch);
    this.checkIdle();
    if (waiting) return; // its read re-arms
    this.arm();
  }

  private store(batch: Loaded[]): void {
    const inputs: MessageInput[] = [];
    const stored: Loaded[] = [];
    for (const item of batch) {
      item.done = true;
      this.forget(item);
      const c = item.uniqKey !== undefined ? this.cancelled.get(item.uniqKey) : undefined;
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
      .putMessagesBatch(inputs)
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
              this.heap.push(item);
              this.storing.delete(item);
            }
            this.putsInFlight--;
            this.arm();
          }, 1000).unref();
        },
      )
      .finally(() => {
        this.putsInFlight--;
        this.checkIdle();
      });
  }

  private settle(item: Loaded): void {
    this.timers.settled(item.dueMs);
    this.timers.release(item.epoch);
  }

  private forget(item: Loaded): void {
    const list = this.loaded.get(item.dueMs);
    if (!list) return;
    if (list.length === 1 && list[0] === item) {
      this.loaded.delete(item.dueMs);
      return;
    }
    const i = list.indexOf(item);
    if (i >= 0) list.splice(i, 1);
  }

  /** Recalls older than every loaded slot can no longer match anything. */
  private prune(): void {
    const horizon = (this.timers.loadedUpToSec - 60) * 1000;
    if (this.cancelled.size === 0) return;
    for (const [k, due] of this.cancelled) if (due < horizon) this.cancelled.delete(k);
  }

  // ------------------------------------------------------------------ recall

  private async recall(req: RemotingCommand, conn: Connection): Promise<RemotingCommand> {
    const header = decodeHeader(RecallMessageRequestHeader, req.extFields, "RECALL_MESSAGE");
    const h = decodeRecallHandle(header.recallHandle);
    if (typeof h === "string") fail(ResponseCode.ILLEGAL_OPERATION, `recall failed: ${h}`);
    const { config } = this.ctx;
    if (h.topic !== header.topic) {
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: the handle is for topic ${h.topic}, not ${header.topic}`,
      );
    }
    if (h.brokerName !== config.brokerName) {
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: the handle belongs to broker ${h.brokerName}; this is ${config.brokerName}`,
      );
    }
    await this.ready();
    const due = new Date(h.dueMs).toISOString();
    const hash = javaStringHashCode(h.uniqKey);
    if (this.cancelled.get(h.uniqKey) === h.dueMs) {
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: message ${h.uniqKey} (due ${due}) is already recalled`,
      );
    }
    if (TimerSlots.slotSecOf(h.dueMs) < this.timers.loadedUpToSec) {
      // Loaded: pending in memory, or delivered already.
      const list = (this.loaded.get(h.dueMs) ?? []).filter((x) => x.entry.uniqHash === hash);
      await Promise.all(list.map((x) => x.read));
      const item = list.find((x) => x.uniqKey === h.uniqKey && !x.done);
      if (!item) {
        fail(
          ResponseCode.ILLEGAL_OPERATION,
          `recall failed: message ${h.uniqKey} is not pending: it was due ${due} and has been delivered (or no such timer message was sent)`,
        );
      }
    } else {
      const found = await this.timers.findPending(h.dueMs, hash);
      const rolling = this.rolling.get(h.dueMs) ?? [];
      if (rolling.some((e) => e.uniqHash === hash && e.kind === TimerKind.MESSAGE)) found.message = true;
      if (rolling.some((e) => e.uniqHash === hash && e.kind === TimerKind.RECALL)) found.recalled = true;
      if (!found.message) {
        fail(
          ResponseCode.ILLEGAL_OPERATION,
          `recall failed: no pending timer message ${h.uniqKey} due ${due} on topic ${h.topic} (unknown handle)`,
        );
      }
      if (found.recalled) {
        fail(
          ResponseCode.ILLEGAL_OPERATION,
          `recall failed: message ${h.uniqKey} (due ${due}) is already recalled`,
        );
      }
    }
    // Cancel in memory at once (a load may come before the marker is enqueued), then store
    // the marker so the recall holds across restarts.
    this.cancelled.set(h.uniqKey, h.dueMs);
    if (this.deliveredMeanwhile(h.dueMs, hash, h.uniqKey)) {
      this.cancelled.delete(h.uniqKey);
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: message ${h.uniqKey} was delivered at its due time ${due} while the recall was looked up`,
      );
    }
    try {
      await this.ctx.store.putMessage({
        topic: TIMER_TOPIC,
        queueId: 0,
        flag: 0,
        body: Buffer.from("0"),
        properties: {
          [MessageConst.TIMER_DEL_UNIQKEY]: h.uniqKey,
          [MessageConst.TIMER_OUT_MS]: String(h.dueMs),
          [MessageConst.REAL_TOPIC]: h.topic,
          [MessageConst.TAGS]: "_RECALL_TAG_",
          ...(header.producerGroup ? { [MessageConst.PRODUCER_GROUP]: header.producerGroup } : {}),
        },
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost: { host: toStorableIPv4(conn.remoteAddress), port: conn.remotePort },
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      });
    } catch (err) {
      this.cancelled.delete(h.uniqKey);
      throw err;
    }
    return createResponse(req, ResponseCode.SUCCESS, undefined, {
      msgId: h.uniqKey,
      MSG_REGION: config.regionId,
    });
  }

  /**
   * Whether the slot of a message looked up in the wheel was loaded during the look-up and
   * the message taken for delivery already (so a recall is too late).
   */
  private deliveredMeanwhile(dueMs: number, hash: number, uniqKey: string): boolean {
    if (TimerSlots.slotSecOf(dueMs) >= this.timers.loadedUpToSec) return false;
    const list = (this.loaded.get(dueMs) ?? []).filter((x) => x.entry.uniqHash === hash);
    // Still loaded and not taken: the cancel just set stops it. Read but gone: delivered.
    if (list.some((x) => !x.done && (x.uniqKey === undefined || x.uniqKey === uniqKey))) return false;
    return dueMs <= Date.now();
  }

  // ------------------------------------------------------------------ admin

  status(): TimerStatus {
    const s = this.timers.stats();
    const top = this.heap.peek();
    const nextDueMs = top ? top.dueMs : s.nextDueSec !== undefined ? s.nextDueSec * 1000 : undefined;
    return {
      pending: s.pending,
      loadedInMemory: this.heap.size,
      nextDueMs,
      days: s.days.map((d) => ({
        day: new Date(d.day * 86_400_000).toISOString().slice(0, 10),
        count: d.count,
      })),
      loadedUpToMs: this.timers.loadedUpToSec * 1000,
      enqueueBehind: Math.max(0, this.cqMax() - this.timers.enqueuedCq),
      delivered: this.delivered,
      timerLogBytes: this.timers.logBytes,
      timerMaxDelaySec: this.ctx.config.timerMaxDelaySec,
    };
  }

  // ------------------------------------------------------------------ stop

  private checkIdle(): void {
    if (this.putsInFlight === 0 && this.rollsInFlight === 0 && this.heap.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Stops loading, delivers what is loaded (due within LOOKAHEAD_MS, so a clean stop leaves
   * nothing to deliver twice), then writes the final snapshot.
   */
  async stop(): Promise<void> {
    if (this.loadTimer) clearTimeout(this.loadTimer);
    this.loadTimer = undefined;
    this.stopped = true;
    if (this.persistTimer) clearInterval(this.persistTimer);
    await this.loading;
    await this.pumping;
    const drained = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), LOOKAHEAD_MS + 3000);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
      this.checkIdle();
      this.arm();
    });
    this.closed = true;
    if (this.fireTimer) clearTimeout(this.fireTimer);
    await this.timers.close(drained && !this.rollAborted);
  }
}

export interface TimerStatus {
  pending: number;
  loadedInMemory: number;
  nextDueMs: number | undefined;
  days: Array<{ day: string; count: number }>;
  loadedUpToMs: number;
  enqueueBehind: number;
  delivered: number;
  timerLogBytes: number;
  timerMaxDelaySec: number;
}
