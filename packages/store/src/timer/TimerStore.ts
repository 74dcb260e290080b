import fs from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../fsx.js";
import { type TimerEntry, TimerKind, TimerLog } from "./TimerLog.js";
import { dayOf, type Placement, placement, slotIndex, slotSecOf } from "./TimerSlots.js";
import {
  appendDurable,
  encodeJournalRecord,
  encodeSnapshot,
  newWheel,
  type Progress,
  readJournal,
  readSnapshot,
  sealSnapshot,
  snapshotBytes,
  snapshotWheel,
  type Wheel,
} from "./WheelFiles.js";

/** Two days of 1-second slots (RocketMQ 5's timerRollWindowSlot is two days too). */
export const DEFAULT_WHEEL_SLOTS = 2 * 86_400;

export interface TimerStoreOptions {
  /** Directory of the timer log and the wheel snapshot. */
  dir: string;
  /** Wheel positions (1 s each); a stored snapshot keeps the count it was made with. */
  slots?: number;
  /** Entries per timer-log segment file. */
  segmentEntries?: number;
  /** Where a new store starts loading (default now). */
  nowMs?: number;
  /** Journal size past which the next persist writes a full snapshot instead (default 64 MiB). */
  journalMaxBytes?: number;
}

interface Epoch {
  id: number;
  /** Wheel values at the epoch's start of the positions it changed (position → head, first, count, near). */
  undo: Map<number, [number, number, number, number]>;
  progress: Progress;
  /** Deliveries of this epoch not yet stored. */
  outstanding: number;
  /** TimerStore.changes when the epoch began. */
  changes: number;
}

/**
 * The durable timer index: a timer log (TimerLog) plus a timing wheel of 1-second slots
 * (TimerSlots), restartable from a snapshot and a replay of the timer topic.
 *
 * Crash consistency comes from epochs. Before each load of slots an epoch begins: it keeps
 * the progress counters and, for each wheel position it changes, the value before (an undo
 * log, so no copy of the whole wheel per epoch). Everything that epoch
 * does — loading slots, rolling far entries, taking late entries, delivering — is redone
 * by a replay from its copy: the log is cut back to the copy's end, the timer topic is read
 * again from the copy's consume-queue offset, slots are loaded again from its second. An
 * epoch is finished when all its deliveries are stored and a newer epoch began; the
 * snapshot persisted is the copy of the oldest unfinished epoch. So a crash loses nothing
 * and delivers nothing early; deliveries of unfinished epochs may happen twice.
 */
export class TimerStore {
  private wheel: Wheel;
  private progress: Progress;
  private readonly epochs: Epoch[] = [];
  private nextEpochId = 1;
  private persisting: Promise<void> | undefined;
  /** Changes other than loading empty slots (a snapshot without any since the last is skipped). */
  private changes = 0;
  private persistedChanges = -1;
  private persistedUpToSec = Number.NEGATIVE_INFINITY;
  /** The snapshot being built, reused (no 4 MB allocation and page faults per second). */
  private snapBuf: Buffer | undefined;
  /** Wheel positions changed since the persisted state's epoch began (what the next journal record holds). */
  private dirty = new Set<number>();
  /** Persists so far (snapshot and journal records are numbered by it). */
  private seq: number;
  private journalBytes: number;
  private readonly journalMaxBytes: number;
  /** Written in full at the next persist (a new store, or after the journal grew too big). */
  private needFullSnapshot: boolean;
  /**
   * What the state on disk still refers to: its oldest timer-log position and the timer-topic
   * offset a restart reads from. A restart needs the commit-log records of both (retention).
   */
  private durable: { oldestPos: number; enqueuedCq: number };

  private constructor(
    private readonly dir: string,
    readonly slots: number,
    private readonly log: TimerLog,
    wheel: Wheel,
    progress: Progress,
    restored: { seq: number; journalBytes: number; full: boolean; journalMaxBytes: number },
  ) {
    this.wheel = wheel;
    this.progress = progress;
    this.seq = restored.seq;
    this.journalBytes = restored.journalBytes;
    this.journalMaxBytes = restored.journalMaxBytes;
    this.needFullSnapshot = restored.full;
    this.durable = { oldestPos: oldestFirst(wheel, slots, progress.logEnd), enqueuedCq: progress.enqueuedCq };
    this.beginEpoch();
  }

  /**
   * The lowest commit-log offset the durable state still needs (a crash goes back to it):
   * the record of its oldest timer-log entry (entries are appended in commit-log order, so
   * it is the lowest of them) and, via `cqToLog`, the timer-topic record a restart reads
   * first. POSITIVE_INFINITY when it needs none.
   */
  async oldestNeededCommitLogOffset(cqToLog: (cqOffset: number) => Promise<number>): Promise<number> {
    const { oldestPos, enqueuedCq } = this.durable;
    const fromTopic = await cqToLog(enqueuedCq);
    if (oldestPos >= this.log.end) return fromTopic;
    const { entry } = await this.log.read(oldestPos);
    return Math.min(entry.commitLogOffset, fromTopic);
  }

  static async open(o: TimerStoreOptions): Promise<TimerStore> {
    await fs.promises.mkdir(o.dir, { recursive: true });
    const snap = await readSnapshot(join(o.dir, "wheel.snapshot"));
    const slots = snap?.slots ?? o.slots ?? DEFAULT_WHEEL_SLOTS;
    const wheel = snap?.wheel ?? newWheel(slots);
    let progress: Progress = snap?.progress ?? {
      loadedUpToSec: slotSecOf(o.nowMs ?? Date.now()),
      enqueuedCq: 0,
      logEnd: 0,
      pending: 0,
      days: new Map(),
    };
    let seq = snap?.seq ?? 0;
    // The journal's records after the snapshot, up to the first torn or damaged one.
    const journalPath = join(o.dir, "wheel.journal");
    let journalBytes = 0;
    if (snap) {
      const j = await readJournal(journalPath, slots, seq);
      for (const r of j.records) {
        for (const [i, h, f, c, n] of r.positions) {
          wheel.head[i] = h;
          wheel.first[i] = f;
          wheel.count[i] = c;
          wheel.near[i] = n;
        }
        progress = r.progress;
        seq = r.seq;
      }
      journalBytes = j.validBytes;
    }
    await fs.promises.writeFile(journalPath, "", { flag: "a" });
    await fs.promises.truncate(journalPath, journalBytes);
    const log = await TimerLog.open(join(o.dir, "log"), progress.logEnd, o.segmentEntries);
    return new TimerStore(o.dir, slots, log, wheel, progress, {
      seq,
      journalBytes,
      full: !snap,
      journalMaxBytes: o.journalMaxBytes ?? 64 * 1024 * 1024,
    });
  }

  /** Timer-topic consume-queue offset to read from next. */
  get enqueuedCq(): number {
    return this.progress.enqueuedCq;
  }

  /** The next slot second to load. */
  get loadedUpToSec(): number {
    return this.progress.loadedUpToSec;
  }

  get pending(): number {
    return this.progress.pending;
  }

  get logBytes(): number {
    return this.log.bytes;
  }

  get currentEpoch(): number {
    return this.epochs[this.epochs.length - 1]!.id;
  }

  /**
   * Adds an entry read from the timer topic at consume-queue offset `cqOffset`. Returns
   * where it went: `late` entries are not stored in the wheel; the caller delivers them in
   * the current epoch (see `hold`).
   */
  add(e: TimerEntry, cqOffset: number, rolled = false): Placement {
    this.changes++;
    const p = this.progress;
    if (cqOffset + 1 > p.enqueuedCq) p.enqueuedCq = cqOffset + 1;
    // A rolled copy stands for a message counted already.
    if (e.kind === TimerKind.MESSAGE && !rolled) this.count(e.dueMs, 1);
    return this.insert(e);
  }

  private insert(e: TimerEntry): Placement {
    const where = placement(e.dueMs, this.progress.loadedUpToSec, this.slots);
    if (where === "late") return where;
    const w = this.wheel;
    const i = slotIndex(slotSecOf(e.dueMs), this.slots);
    this.touch(i);
    const pos = this.log.append(w.head[i]!, e);
    if (w.head[i]! < 0) w.first[i] = pos;
    w.head[i] = pos;
    w.count[i]!++;
    if (where === "near" && e.kind === TimerKind.MESSAGE) w.near[i]!++;
    this.progress.logEnd = this.log.end;
    return where;
  }

  /** Records position i's value for the newest epoch's undo log (first change only). */
  private touch(i: number): void {
    this.dirty.add(i);
    const undo = this.epochs[this.epochs.length - 1]!.undo;
    if (undo.has(i)) return;
    const w = this.wheel;
    undo.set(i, [w.head[i]!, w.first[i]!, w.count[i]!, w.near[i]!]);
  }

  private count(dueMs: number, n: number): void {
    const p = this.progress;
    p.pending += n;
    const d = dayOf(dueMs);
    const v = (p.days.get(d) ?? 0) + n;
    if (v <= 0) p.days.delete(d);
    else p.days.set(d, v);
  }

  /** Timer-topic entries before `cqOffset` are gone or unusable: continue after them. */
  skipTo(cqOffset: number): void {
    this.changes++;
    if (cqOffset > this.progress.enqueuedCq) this.progress.enqueuedCq = cqOffset;
  }

  /** Epochs whose state a crash would go back to (1 when delivery keeps up). */
  get openEpochs(): number {
    return this.epochs.length;
  }

  /** A timer message was delivered or recalled: it is no longer pending. */
  settled(dueMs: number): void {
    this.changes++;
    this.count(dueMs, -1);
  }

  /** Starts an epoch: what follows is redone from here after a crash. */
  beginEpoch(): number {
    this.dropFinished();
    const id = this.nextEpochId++;
    this.epochs.push({
      id,
      undo: new Map(),
      progress: { ...this.progress, days: new Map(this.progress.days) },
      outstanding: 0,
      changes: this.changes,
    });
    return id;
  }

  /**
   * Forgets finished epochs (all but the newest whose deliveries are all stored): a
   * snapshot never needs to go back to one of them.
   */
  private dropFinished(): void {
    while (this.epochs.length > 1 && this.epochs[0]!.outstanding <= 0) this.epochs.shift();
  }

  /**
   * The caller has nothing loaded that waits for delivery (no slot being loaded, nothing in
   * memory, no store or roll in flight): the current state is then one a restart may resume
   * from, so an epoch starts at it and the next persist writes it. Without this the persisted
   * state trails by the epoch in which the last deliveries happened (a slot, plus the persist
   * interval), and a crash re-delivers — and counts as pending again — those deliveries.
   * Returns whether an epoch began (something changed since the newest one began).
   */
  settledPoint(): boolean {
    const newest = this.epochs[this.epochs.length - 1]!;
    if (newest.changes === this.changes) return false;
    if (this.epochs.some((e) => e.outstanding > 0)) return false;
    this.beginEpoch();
    return true;
  }

  /** A delivery of epoch `id` started / was stored. */
  hold(id: number): void {
    const e = this.epochs.find((x) => x.id === id);
    if (e) e.outstanding++;
  }

  release(id: number): void {
    const e = this.epochs.find((x) => x.id === id);
    if (e) e.outstanding--;
  }

  /**
   * Loads slot `sec` (the next one): its chain is taken off the wheel and returned, newest
   * first. Entries due in it (or before: loadedAction "deliver") are for delivery; later
   * ones ("roll") must be stored again by the caller as a new timer-topic record (so no
   * record a timer needs is older than the wheel's span: commit-log retention), and come
   * back through `add` for their next lap.
   */
  async loadSlot(sec: number): Promise<TimerEntry[]> {
    if (sec !== this.progress.loadedUpToSec) {
      throw new Error(`timer slot ${sec} loaded out of order (next is ${this.progress.loadedUpToSec})`);
    }
    const w = this.wheel;
    const i = slotIndex(sec, this.slots);
    let pos = w.head[i]!;
    this.progress.loadedUpToSec = sec + 1;
    if (pos < 0) return [];
    this.changes++;
    this.touch(i);
    w.head[i] = -1;
    w.first[i] = -1;
    w.count[i] = 0;
    w.near[i] = 0;
    const out: TimerEntry[] = [];
    while (pos >= 0) {
      const { prev, entry } = await this.log.read(pos);
      out.push(entry);
      pos = prev;
    }
    return out;
  }

  /**
   * Whether slot of `dueMs` (not loaded yet) holds a message with `uniqHash` due then, and
   * whether a recall marker for it is there already.
   */
  async findPending(dueMs: number, uniqHash: number): Promise<{ message: boolean; recalled: boolean }> {
    let pos = this.wheel.head[slotIndex(slotSecOf(dueMs), this.slots)]!;
    let message = false;
    let recalled = false;
    while (pos >= 0) {
      const { prev, entry } = await this.log.read(pos);
      if (entry.dueMs === dueMs && entry.uniqHash === uniqHash) {
        if (entry.kind === TimerKind.MESSAGE) message = true;
        else recalled = true;
      }
      pos = prev;
    }
    return { message, recalled };
  }

  /** Pending timers by due day (UTC), and the first second ahead with a message due. */
  stats(): { pending: number; days: Array<{ day: number; count: number }>; nextDueSec: number | undefined } {
    const w = this.wheel;
    const from = this.progress.loadedUpToSec;
    let nextDueSec: number | undefined;
    for (let k = 0; k < this.slots; k++) {
      if (w.near[slotIndex(from + k, this.slots)]! > 0) {
        nextDueSec = from + k;
        break;
      }
    }
    const days = [...this.progress.days]
      .map(([day, count]) => ({ day, count }))
      .sort((a, b) => a.day - b.day);
    return { pending: this.progress.pending, days, nextDueSec };
  }

  /**
   * Makes the oldest unfinished epoch's state durable: the log up to its end is synced,
   * then its snapshot replaces the old one; log segments nothing points into are deleted.
   */
  persist(): Promise<void> {
    this.persisting ??= this.persistNow().finally(() => {
      this.persisting = undefined;
    });
    return this.persisting;
  }

  private async persistNow(): Promise<void> {
    this.dropFinished();
    const e = this.epochs[0]!;
    // Nothing but empty slots loaded since the last persist: skip it (an idle broker writes
    // nothing), but not for more than 10 minutes of slots, so a restart does not walk a long
    // run of empty slots.
    if (e.changes === this.persistedChanges && e.progress.loadedUpToSec - this.persistedUpToSec < 600) return;
    // The epoch's state, made at once (no await in between): the current wheel, where a
    // position changed since the epoch began takes the value it had then (the oldest undo).
    const before = new Map<number, [number, number, number, number]>();
    for (let k = this.epochs.length - 1; k >= 0; k--) {
      for (const [i, v] of this.epochs[k]!.undo) before.set(i, v);
    }
    const w = this.wheel;
    let oldest = e.progress.logEnd;
    for (let i = 0; i < this.slots; i++) {
      const b = before.get(i);
      const f = b ? b[1] : w.first[i]!;
      if (f >= 0 && f < oldest) oldest = f;
    }
    const seq = this.seq + 1;
    const full = this.needFullSnapshot || this.journalBytes >= this.journalMaxBytes;
    let bytes: Buffer;
    if (full) {
      this.snapBuf = encodeSnapshot(this.slots, w, e.progress, seq, this.snapBuf);
      bytes = this.snapBuf.subarray(0, snapshotBytes(this.slots, e.progress.days.size));
      const view = snapshotWheel(bytes, this.slots);
      for (const [i, [h, f, c, n]] of before) {
        view.head[i] = h;
        view.first[i] = f;
        view.count[i] = c;
        view.near[i] = n;
      }
      sealSnapshot(bytes);
    } else {
      bytes = encodeJournalRecord(seq, e.progress, this.dirty, w, before);
    }
    // The next record holds what changed since this epoch began.
    this.dirty = new Set(before.keys());
    const journalPath = join(this.dir, "wheel.journal");
    try {
      await this.log.sync();
      if (full) {
        await writeFileAtomic(join(this.dir, "wheel.snapshot"), bytes);
        await fs.promises.truncate(journalPath, 0);
        this.journalBytes = 0;
        this.needFullSnapshot = false;
      } else {
        await appendDurable(journalPath, bytes, this.journalBytes);
        this.journalBytes += bytes.length;
      }
    } catch (err) {
      // What is on disk is unknown now: the next persist writes everything.
      this.needFullSnapshot = true;
      throw err;
    }
    this.seq = seq;
    this.durable = { oldestPos: oldest, enqueuedCq: e.progress.enqueuedCq };
    this.persistedChanges = e.changes;
    this.persistedUpToSec = e.progress.loadedUpToSec;
    await this.log.deleteBelow(oldest);
  }

  /**
   * Close: `drained` (every loaded message stored) makes the snapshot the current state;
   * otherwise it is the oldest unfinished epoch's, as after a crash.
   */
  async close(drained: boolean): Promise<void> {
    await this.persisting?.catch(() => undefined);
    if (drained) {
      this.beginEpoch();
      for (const e of this.epochs) e.outstanding = 0;
    }
    await this.persist();
    await this.log.close();
  }
}

/** The oldest timer-log position a wheel refers to (`logEnd` when it refers to none). */
function oldestFirst(w: Wheel, slots: number, logEnd: number): number {
  let oldest = logEnd;
  for (let i = 0; i < slots; i++) {
    const f = w.first[i]!;
    if (f >= 0 && f < oldest) oldest = f;
  }
  return oldest;
}
