import { join } from "node:path";
import {
  decodeMessages,
  MessageConst,
  type MessageExt,
  tagsHashCode,
  toStorableIPv4,
} from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageInput, MessageStore } from "@tidemq/store";
import { readConfigJson, writeFileAtomic } from "../ConfigFile.js";
import { SCHEDULE_TOPIC } from "../TopicValidator.js";
import { DELAY_DUE_MS } from "./DelayLevelRouter.js";
import { levelOfQueueId, MAX_DELAY_LEVELS, sleepBeforeDue } from "./DelayLevelTable.js";

/** Names the delay levels' retention guard (in the store's log lines). */
const SCHEDULE_RETENTION_GUARD = "delay-level messages (SCHEDULE_TOPIC_XXXX)";
/** Records read from a level's queue per look. */
const READ_BATCH = 256;
/** How often delivery progress is written (only what the commit log has flushed). */
const PERSIST_INTERVAL_MS = 250;
/** Wait after a failed re-put before trying the same records again. */
const RETRY_AFTER_ERROR_MS = 1000;
/**
 * Re-puts a level keeps in flight while it reads on. Waiting for each put before the next
 * read made catching up (after a stall, or at 10,000 due/s) go one batch per log round trip.
 */
const MAX_PUTS_IN_FLIGHT = 4;

/** One level's progress, as the admin and runtime info see it. */
export interface DelayLevelStatus {
  level: number;
  /** Configured delay of the level (ms); undefined for a queue left from a longer table. */
  delayMs: number | undefined;
  /** Next schedule-queue offset to deliver. */
  deliveredOffset: number;
  maxOffset: number;
  pending: number;
  /** Due time of the head when it is waiting (epoch ms), else undefined. */
  nextDue: number | undefined;
}

/** delayOffset.json: RocketMQ's shape (level → next offset). */
interface DelayOffsetFile {
  offsetTable?: Record<string, number>;
}

interface Level {
  level: number;
  queueId: number;
  /** Next schedule-queue offset to deliver: every record before it is stored in its real topic. */
  offset: number;
  /** Next schedule-queue offset to read (≥ offset: records in between are being re-put). */
  readOffset: number;
  /** Re-puts issued and not yet settled, oldest first (settled in this order). */
  inFlight: InFlightPut[];
  /** Delivered up to `next` once the commit log is flushed past `logEnd` (oldest first). */
  marks: Array<{ next: number; logEnd: number }>;
  persisted: number;
  nextDue: number | undefined;
  /** Bumped by every arrival in this queue: a read that saw none and an arrival since means look again. */
  arrivals: number;
  idle: boolean;
  wake: (() => void) | undefined;
  done: Promise<void> | undefined;
}

/** One batch being re-put into its real topics. */
interface InFlightPut {
  put: Promise<unknown>;
  /** Schedule-queue offset after the batch. */
  next: number;
  count: number;
  earliestDue: number;
}

/**
 * Delivers messages parked in SCHEDULE_TOPIC_XXXX (spec §8.6) when due: one loop per level,
 * each sleeping until its head is due (a level's messages share one delay, so its queue is
 * in due order), woken by an arrival when its queue is empty — no polling.
 *
 * Delivery is a new record in REAL_TOPIC / REAL_QID (same body, flags, keys, tags, UNIQ_KEY,
 * born time; DELAY and the due time removed). Progress per level is `delayOffset.json`,
 * written atomically and only up to deliveries the commit log has flushed, so after a crash
 * or power loss a message is delivered again rather than lost (at-least-once); the due time
 * is read from the stored record, so it is never delivered early.
 */
export class ScheduleMessageService {
  private readonly levelsById = new Map<number, Level>();
  private readonly path: string;
  private running = false;
  private listening = false;
  private persistTimer: NodeJS.Timeout | undefined;
  private persisting: Promise<void> = Promise.resolve();
  /** Records delivered since start (tests and runtime info). */
  deliveredTotal = 0;
  /** Hears each stored delivery batch (a DLedger leader replicates the progress soon after). */
  onDelivered: (() => void) | undefined;
  /** Largest lateness seen (ms past due at the moment of the re-put). */
  maxLatenessMs = 0;

  constructor(
    private readonly store: MessageStore,
    private readonly delays: readonly number[],
    storeRoot: string,
    private readonly logger: Logger,
  ) {
    this.path = join(storeRoot, "config", "delayOffset.json");
  }

  /**
   * Starts delivering. `atLeast` (DLedger: the progress the previous leader replicated
   * through the log) raises a level's recorded progress: both only cover stored deliveries.
   */
  async start(atLeast?: Record<string, number>): Promise<void> {
    const file = await readConfigJson<DelayOffsetFile>(this.path);
    const saved: Record<string, number> = { ...(file?.offsetTable ?? {}) };
    for (const [k, v] of Object.entries(atLeast ?? {})) if (!(Number(saved[k]) >= v)) saved[k] = v;
    this.levelsById.clear();
    for (let q = 0; q < MAX_DELAY_LEVELS; q++) {
      const configured = q < this.delays.length;
      const max = this.store.getMaxOffsetInQueue(SCHEDULE_TOPIC, q);
      if (!configured && max === 0) continue;
      const level = levelOfQueueId(q);
      const min = this.store.getMinOffsetInQueue(SCHEDULE_TOPIC, q);
      const s = Number(saved[String(level)] ?? 0);
      const offset = Math.min(Math.max(Number.isSafeInteger(s) ? s : 0, min), max);
      if (max > offset) {
        // After a crash, deliveries after the recorded progress happen again (at-least-once).
        this.logger.info(
          `delay level ${level}: resuming at offset ${offset}, ${max - offset} parked message(s) to deliver or re-check`,
        );
      }
      if (!configured) {
        this.logger.warn(
          `SCHEDULE_TOPIC_XXXX queue ${q} (level ${level}) has messages but messageDelayLevel has ${this.delays.length} levels; they are still delivered at their stored due times`,
        );
      }
      this.levelsById.set(q, {
        level,
        queueId: q,
        offset,
        readOffset: offset,
        inFlight: [],
        marks: [],
        persisted: offset,
        nextDue: undefined,
        arrivals: 0,
        idle: false,
        wake: undefined,
        done: undefined,
      });
    }
    // Once per service: a DLedger replica starts and stops it at every leadership change.
    if (!this.listening)
      this.store.onMessageArrived((topic, queueId) => {
        if (topic !== SCHEDULE_TOPIC || !this.running) return;
        const l = this.levelsById.get(queueId);
        if (!l) return;
        l.arrivals++;
        if (l.idle) l.wake?.();
      });
    this.listening = true;
    this.running = true;
    // Parked records not yet delivered are never deleted by retention, even on a full disk.
    this.store.addRetentionGuard(SCHEDULE_RETENTION_GUARD, () => this.oldestNeededCommitLogOffset());
    for (const l of this.levelsById.values()) l.done = this.loop(l);
    this.persistTimer = setInterval(() => void this.persist(false), PERSIST_INTERVAL_MS);
    this.persistTimer.unref();
  }

  /** Stops the loops (an in-flight re-put finishes) and writes flushed progress. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.persistTimer) clearInterval(this.persistTimer);
    for (const l of this.levelsById.values()) l.wake?.();
    await Promise.all([...this.levelsById.values()].map((l) => l.done));
    await this.persist(false);
    this.store.removeRetentionGuard(SCHEDULE_RETENTION_GUARD);
  }

  /** The lowest commit-log offset of a parked record a restart would deliver (from the progress written). */
  async oldestNeededCommitLogOffset(): Promise<number> {
    let min = Number.POSITIVE_INFINITY;
    for (const l of this.levelsById.values()) {
      min = Math.min(min, await this.store.commitLogOffsetInQueue(SCHEDULE_TOPIC, l.queueId, l.persisted));
    }
    return min;
  }

  /**
   * Writes all progress, flushed or not: call after the store has shut down cleanly (its
   * shutdown flushes everything), so a clean restart redelivers nothing.
   */
  persistAll(): Promise<void> {
    return this.persist(true);
  }

  status(): DelayLevelStatus[] {
    return [...this.levelsById.values()]
      .sort((a, b) => a.level - b.level)
      .map((l) => {
        const maxOffset = this.store.getMaxOffsetInQueue(SCHEDULE_TOPIC, l.queueId);
        return {
          level: l.level,
          delayMs: this.delays[l.level - 1],
          deliveredOffset: l.offset,
          maxOffset,
          pending: Math.max(0, maxOffset - l.offset),
          nextDue: l.nextDue,
        };
      });
  }

  private async loop(l: Level): Promise<void> {
    while (this.running) {
      try {
        await this.step(l);
      } catch (err) {
        await this.recover(l);
        if (!this.running) break;
        this.logger.error(
          `delay level ${l.level}: delivery failed at offset ${l.offset}, retrying in ${RETRY_AFTER_ERROR_MS} ms: ${(err as Error).message}`,
        );
        await this.sleep(l, RETRY_AFTER_ERROR_MS, false);
      }
    }
    // Stopping: puts in flight finish, and what they stored counts as delivered.
    try {
      await this.drain(l);
    } catch {
      await this.recover(l);
    }
  }

  /**
   * One look at the level's queue: re-put the due prefix (without waiting for earlier re-puts
   * unless MAX_PUTS_IN_FLIGHT are out), or settle what is in flight and sleep until the head
   * is due. The store's tag filter sees each entry's tag field (here: the due time) in queue
   * order before any record is read, so only due records are read and decoded: the queue is
   * in due order, and the first entry not yet due ends the prefix (later ones wait behind it).
   */
  private async step(l: Level): Promise<void> {
    const arrivalsBefore = l.arrivals;
    const now = Date.now();
    let notDue: number | undefined;
    const res = await this.store.getMessage(SCHEDULE_TOPIC, l.queueId, l.readOffset, READ_BATCH, (due) => {
      if (notDue !== undefined) return false;
      if (due > now) {
        notDue = due;
        return false;
      }
      return true;
    });
    if (res.status !== "FOUND") await this.drain(l);
    switch (res.status) {
      case "FOUND":
        break;
      case "NO_MATCHED_MESSAGE":
        // The head is not due yet: sleep until it is (an arrival has a later due time).
        l.nextDue = notDue;
        if (notDue !== undefined) await this.sleep(l, sleepBeforeDue(notDue, Date.now()), false);
        return;
      case "OFFSET_TOO_SMALL":
      case "MESSAGE_WAS_REMOVING":
      case "OFFSET_FOUND_NULL":
        this.logger.warn(
          `delay level ${l.level}: messages at offsets ${l.offset}…${res.nextBeginOffset - 1} are gone from the store (retention), skipped`,
        );
        l.offset = Math.max(l.offset + 1, res.nextBeginOffset);
        l.readOffset = l.offset;
        this.mark(l);
        return;
      case "OFFSET_OVERFLOW_BADLY":
        this.logger.warn(
          `delay level ${l.level}: offset ${l.offset} is past the queue's end ${res.maxOffset}`,
        );
        l.offset = res.maxOffset;
        l.readOffset = l.offset;
        return;
      default:
        // Empty: wait for an arrival (unless one came while reading).
        l.nextDue = undefined;
        if (l.arrivals === arrivalsBefore) await this.sleep(l, 3_600_000, true);
        return;
    }
    const msgs = decodeMessages(res.body);
    const inputs: MessageInput[] = [];
    let earliestDue = Number.POSITIVE_INFINITY;
    for (const m of msgs) {
      const input = deliveryOf(m);
      earliestDue = Math.min(earliestDue, Number(m.properties[DELAY_DUE_MS]) || earliestDue);
      if (input) inputs.push(input);
      else this.logger.error(`delay level ${l.level}: record ${m.msgId} has no REAL_TOPIC/REAL_QID, skipped`);
    }
    const put =
      inputs.length > 0 ? this.store.putMessagesBatch(inputs, { reserve: true }) : Promise.resolve();
    // Awaited in order by settleOldest; until then a rejection must not count as unhandled.
    put.catch(() => {});
    const next = res.queueOffsets[res.queueOffsets.length - 1]! + 1;
    l.inFlight.push({ put, next, count: inputs.length, earliestDue });
    l.readOffset = next;
    l.nextDue = notDue;
    while (l.inFlight.length >= MAX_PUTS_IN_FLIGHT) await this.settleOldest(l);
  }

  /** Waits for the oldest re-put; once stored, the level is delivered up to its end. */
  private async settleOldest(l: Level): Promise<void> {
    const f = l.inFlight[0]!;
    await f.put;
    l.inFlight.shift();
    this.delivered(l, f);
  }

  private delivered(l: Level, f: InFlightPut): void {
    const late = Date.now() - f.earliestDue;
    if (late > this.maxLatenessMs) this.maxLatenessMs = late;
    this.deliveredTotal += f.count;
    l.offset = f.next;
    this.mark(l);
    this.onDelivered?.();
  }

  /** Settles every re-put in flight, oldest first; throws at the first that failed. */
  private async drain(l: Level): Promise<void> {
    while (l.inFlight.length > 0) await this.settleOldest(l);
  }

  /**
   * After a failure: waits for every put still out, counts as delivered only the unbroken
   * run of stored batches after l.offset, and reads again from there (a batch stored after a
   * failed one is delivered again: at-least-once, never a gap in the progress).
   */
  private async recover(l: Level): Promise<void> {
    const flights = l.inFlight.splice(0);
    const results = await Promise.allSettled(flights.map((f) => f.put));
    for (let i = 0; i < flights.length && results[i]!.status === "fulfilled"; i++)
      this.delivered(l, flights[i]!);
    l.readOffset = l.offset;
  }

  /** Remembers that the level is delivered up to l.offset once the log is flushed past what is confirmed now. */
  private mark(l: Level): void {
    const logEnd = this.store.stats.confirmedOffset;
    const last = l.marks[l.marks.length - 1];
    if (last && last.logEnd === logEnd) last.next = l.offset;
    else l.marks.push({ next: l.offset, logEnd });
  }

  private sleep(l: Level, ms: number, idle: boolean): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        l.wake = undefined;
        l.idle = false;
        resolve();
      };
      const t = setTimeout(done, ms);
      l.wake = done;
      l.idle = idle;
    });
  }

  private persist(all: boolean): Promise<void> {
    this.persisting = this.persisting
      .then(() => this.writeProgress(all))
      .catch((err) => {
        this.logger.error(`writing ${this.path} failed: ${(err as Error).message}`);
      });
    return this.persisting;
  }

  private async writeProgress(all: boolean): Promise<void> {
    const flushed = all ? Number.POSITIVE_INFINITY : this.store.stats.flushedOffset;
    let changed = false;
    for (const l of this.levelsById.values()) {
      let i = 0;
      while (i < l.marks.length && l.marks[i]!.logEnd <= flushed) i++;
      if (i === 0) continue;
      const next = l.marks[i - 1]!.next;
      l.marks.splice(0, i);
      if (next !== l.persisted) {
        l.persisted = next;
        changed = true;
      }
    }
    if (!changed) return;
    const offsetTable: Record<string, number> = {};
    for (const l of [...this.levelsById.values()].sort((a, b) => a.level - b.level))
      offsetTable[String(l.level)] = l.persisted;
    await writeFileAtomic(this.path, `${JSON.stringify({ offsetTable }, null, 2)}\n`);
  }
}

/** The record a due scheduled message becomes (spec §8.6), or undefined when it lacks its destination. */
export function deliveryOf(m: MessageExt): MessageInput | undefined {
  const props = { ...m.properties };
  const topic = props[MessageConst.REAL_TOPIC];
  const queueId = Number(props[MessageConst.REAL_QUEUE_ID]);
  if (!topic || !Number.isSafeInteger(queueId) || queueId < 0) return undefined;
  delete props[MessageConst.DELAY_TIME_LEVEL];
  delete props[DELAY_DUE_MS];
  return {
    topic,
    queueId,
    flag: m.flag,
    body: m.body,
    properties: props,
    sysFlag: m.sysFlag,
    bornTimestamp: m.bornTimestamp,
    bornHost: { host: toStorableIPv4(m.bornHost.host), port: m.bornHost.port },
    reconsumeTimes: m.reconsumeTimes,
    preparedTransactionOffset: m.preparedTransactionOffset,
    tagsCode: tagsHashCode(props[MessageConst.TAGS]),
  };
}
