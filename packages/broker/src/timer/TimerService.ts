import { join } from "node:path";
import {
  createResponse,
  decodeMessage,
  encodeJson,
  javaStringHashCode,
  MessageConst,
  type MessageExt,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { type TimerEntry, TimerKind, TimerSlots, TimerStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { SerialPump } from "../SerialPump.js";
import { LoadedTimers } from "./LoadedTimers.js";
import { rollOrigin } from "./RollOrigin.js";
import { TimerAdmission } from "./TimerAdmission.js";
import { TimerDelivery } from "./TimerDelivery.js";
import { TimerRecall } from "./TimerRecall.js";
import { readTimerRecords, TIMER_ROLL_TIMES } from "./TimerRecords.js";
import { TimerRoller } from "./TimerRoller.js";
import { TIMER_TOPIC } from "./timerSend.js";

/** A slot is loaded this long before it starts, so its messages are read by then. */
const LOOKAHEAD_MS = 1000;
/** Slots loaded in one epoch when catching up after downtime. */
const MAX_SLOTS_PER_EPOCH = 3600;
/** Loading pauses while this many epochs wait for their deliveries (the store is stuck). */
const MAX_OPEN_EPOCHS = 30;
const PERSIST_INTERVAL_MS = 1000;
/** After the last loaded message is delivered, the state is persisted this much later (a burst settles first). */
const SETTLED_PERSIST_DELAY_MS = 100;
/** Names the timer's retention guard (in the store's log lines). */
const TIMER_RETENTION_GUARD = "timer messages (TIMER_TOPIC)";

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
 *
 * This class reads the timer topic into the wheel and loads its slots; TimerAdmission reads
 * what is loaded into LoadedTimers, TimerDelivery stores it when due, TimerRoller stores
 * entries of a later lap again, and TimerRecall answers RECALL_MESSAGE.
 */
export class TimerService {
  /** The loaded messages, the entries being rolled, the recalls heard. */
  private readonly memory = new LoadedTimers();
  private readonly heap = this.memory.heap;
  private readonly cancelled = this.memory.cancelled;
  private readonly roller: TimerRoller;
  private readonly delivery: TimerDelivery;
  private readonly recalls: TimerRecall;
  private readonly admission: TimerAdmission;
  /** Stopping: no more enqueues or loads (what is loaded is still delivered). */
  private stopped = false;
  private caughtUp = false;
  private readyWaiters: Array<() => void> = [];
  /** Reads the timer topic's new records into the timer store (one reader at a time). */
  private readonly pump = new SerialPump(
    () => this.pumpBatch(),
    () => this.stopped,
    (err) => {
      if (err) {
        this.ctx.logger.error(`timer enqueue failed: ${err.message}; retrying in 1 s`);
        setTimeout(() => this.pump.kick(), 1000).unref();
      }
      if (!this.caughtUp && !this.stopped && this.timers.enqueuedCq >= this.cqMax()) this.becomeReady();
    },
  );
  private loadTimer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private persistTimer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private skip: { cq: number; beforeMs: number } | undefined;
  /** Entries skipped as delivered by a previous DLedger leader. */
  skippedDelivered = 0;
  /** Entries dropped as older copies of a rolled timer whose newer copy was in the same slot. */
  supersededRolls = 0;

  private constructor(
    private readonly ctx: BrokerContext,
    readonly timers: TimerStore,
  ) {
    this.roller = new TimerRoller(
      ctx,
      timers,
      this.memory,
      () => this.stopped,
      () => this.checkIdle(),
    );
    this.delivery = new TimerDelivery(ctx, timers, this.memory, () => this.checkIdle());
    this.admission = new TimerAdmission(ctx, timers, this.memory, this.delivery);
    this.recalls = new TimerRecall(ctx, timers, this.memory, () => this.ready());
  }

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
    // Records are stored again at most every wheel span; retention keeps pending ones anyway
    // (the guard below), so a shorter fileReservedTime only keeps their segments longer.
    if (ctx.config.fileReservedTime * 3600 < timers.slots + 3600) {
      ctx.logger.warn(
        `fileReservedTime=${ctx.config.fileReservedTime} h is shorter than the timer wheel's ${timers.slots / 3600} h plus 1 h: commit-log segments holding pending timer records are kept past it until they are delivered`,
      );
    }
    // Timer records not yet delivered are never deleted by retention, even on a full disk.
    ctx.store.addRetentionGuard(TIMER_RETENTION_GUARD, () =>
      timers.oldestNeededCommitLogOffset((cq) => ctx.store.commitLogOffsetInQueue(TIMER_TOPIC, 0, cq)),
    );
    ctx.store.onMessageArrived((topic) => {
      if (topic === TIMER_TOPIC && !s.stopped) s.pump.kick();
    });
    s.pump.kick();
    s.persistTimer = setInterval(() => {
      s.persistNow();
      s.memory.prune(s.timers.loadedUpToSec);
    }, PERSIST_INTERVAL_MS);
    s.persistTimer.unref();
    return s;
  }

  register(): void {
    this.ctx.server.registerHandler(RequestCode.RECALL_MESSAGE, (req, conn) =>
      this.recalls.recall(req, conn),
    );
    this.ctx.server.registerHandler(RequestCode.GET_TIMER_STATUS, async (req) =>
      createResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeJson(this.status())),
    );
  }

  // ------------------------------------------------------------------ enqueue

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
    if (rolled) this.memory.rolled(entry);
    const where = this.timers.add(entry, cqOffset, rolled);
    if (where !== "late") return;
    // Its slot is loaded already: a marker cancels in memory, a message waits in memory
    // (unless another record of the same timer, a rolled copy or its original, waits there).
    if (del !== undefined) this.cancelled.set(del, dueMs);
    else if (this.memory.loadedOrigin(dueMs, rollOrigin(m))) this.supersededRolls++;
    else this.admission.admit([entry], this.timers.currentEpoch, [m]);
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
    for (const item of this.delivery.storing) if (item.dueMs < before) before = item.dueMs;
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
        let deliver: TimerEntry[] = [];
        const markers: TimerEntry[] = [];
        const roll: TimerEntry[] = [];
        const { superseded, read } = await this.admission.supersededIn(chain);
        this.supersededRolls += superseded.size;
        for (const e of chain) {
          if (superseded.has(e)) continue;
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
        if (deliver.length > 0) {
          // Records read to tell copies apart are not read again.
          const known = read.size > 0 ? deliver.filter((e) => read.has(e)) : [];
          if (known.length > 0) {
            this.admission.admit(
              known,
              epoch,
              known.map((e) => read.get(e)!),
            );
            deliver = deliver.filter((e) => !read.has(e));
          }
          if (deliver.length > 0) this.admission.admit(deliver, epoch);
        }
        if (roll.length > 0) this.roller.roll(roll, epoch);
      }
    }
  }

  /** Hears each stored delivery batch (a DLedger leader replicates the progress soon after). */
  set onDelivered(f: (() => void) | undefined) {
    this.delivery.onDelivered = f;
  }

  get onDelivered(): (() => void) | undefined {
    return this.delivery.onDelivered;
  }

  /** Timer messages stored in their real topics since start. */
  get delivered(): number {
    return this.delivery.delivered;
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
      delivered: this.delivery.delivered,
      timerLogBytes: this.timers.logBytes,
      timerMaxDelaySec: this.ctx.config.timerMaxDelaySec,
      supersededRolls: this.supersededRolls,
      skippedDelivered: this.skippedDelivered,
    };
  }

  // ------------------------------------------------------------------ stop

  private checkIdle(): void {
    if (this.delivery.putsInFlight === 0 && this.roller.inFlight === 0 && this.heap.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
      // Everything loaded is delivered: persist that soon, so a crash now re-delivers nothing.
      if (!this.stopped && !this.settledPersist) {
        this.settledPersist = setTimeout(() => {
          this.settledPersist = undefined;
          this.persistNow();
        }, SETTLED_PERSIST_DELAY_MS);
        this.settledPersist.unref();
      }
    }
  }

  private settledPersist: NodeJS.Timeout | undefined;

  /**
   * Persists the timer state. When nothing loaded waits for delivery (no load under way,
   * memory empty, no store or roll in flight), the state of this moment is written, not the
   * one from the start of the last deliveries' epoch: after a crash only deliveries made
   * since this persist are made again (and counted as pending until then).
   */
  private persistNow(): void {
    if (
      !this.stopped &&
      !this.loading &&
      this.delivery.putsInFlight === 0 &&
      this.roller.inFlight === 0 &&
      this.heap.size === 0
    ) {
      this.timers.settledPoint();
    }
    this.timers
      .persist()
      .catch((err: Error) => this.ctx.logger.error(`timer snapshot failed: ${err.message}`));
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
    if (this.settledPersist) clearTimeout(this.settledPersist);
    await this.loading;
    await this.pump.busy;
    const drained = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), LOOKAHEAD_MS + 3000);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
      this.checkIdle();
      this.delivery.arm();
    });
    this.delivery.close();
    await this.timers.close(drained && !this.roller.aborted);
    this.ctx.store.removeRetentionGuard(TIMER_RETENTION_GUARD);
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
  /** Older copies of rolled timers dropped since start (their newest copy is delivered once). */
  supersededRolls: number;
  /** Timer entries skipped since start as delivered by a previous DLedger leader. */
  skippedDelivered: number;
}
