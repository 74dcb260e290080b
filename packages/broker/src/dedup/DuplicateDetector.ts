import { afterSyncRun, ResponseCode } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageInput, MessageStore, PutResult } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import { DuplicateWindow, followerIndex, followerMark, PENDING } from "./DuplicateWindow.js";
import { type OriginalSend, readBack, recordAfter, type Walk } from "./LogReadBack.js";
import { recordOffset } from "./RecordOffsets.js";
import {
  catchUpWindow,
  loadWindow,
  type RebuildReport,
  type RebuildStore,
  tracked,
} from "./WindowRebuild.js";
import { writeWindowSnapshot } from "./WindowSnapshot.js";

export type { OriginalSend } from "./LogReadBack.js";
export { offsetOfMsgId, recordOffset } from "./RecordOffsets.js";
export type { RebuildReport } from "./WindowRebuild.js";

export interface DuplicateDetectorOptions {
  windowSeconds: number;
  maxEntries: number;
  /** At most this much of the log's tail is read at start-up (bounds start-up time). */
  rebuildMaxBytes: number;
  /** Where a hash match is confirmed: the candidate's stored topic and UNIQ_KEY are read back. */
  store: Pick<MessageStore, "lookMessageByOffset">;
  logger: Logger;
  /**
   * Where the window is persisted (WindowSnapshot): at stop() and every snapshotIntervalMs,
   * and loaded by rebuild(). Unset: rebuilt from the log alone.
   */
  snapshotPath?: string;
  snapshotIntervalMs?: number;
  /**
   * The commit-log offset below which every record is visible and its send answered (the
   * store's visible end): what a snapshot taken now covers. Unset: what rebuild() read (a
   * node whose window takes no sends).
   */
  coveredOffset?: () => number;
}

interface Waiter {
  topic: string;
  uniqKey: string;
  resolve: (original: OriginalSend | undefined) => void;
}

/**
 * Producer de-duplication on the send path: a send whose (topic, UNIQ_KEY) was stored within
 * the window — a producer's retry after a lost acknowledgement — is answered with the
 * original send result instead of being stored again. Messages without UNIQ_KEY (ali-ons)
 * are never affected. Rebuilt at start-up from the commit log's tail covering the window.
 */
export class DuplicateDetector {
  readonly window: DuplicateWindow;
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Hash matches whose stored message had another topic or UNIQ_KEY (stored as new). */
  collisions = 0;
  /**
   * Younger entries of a key tried after an older one's read-back missed (resolve()): a
   * collision, or an entry that outlived its record, passed over.
   */
  youngerTries = 0;
  /** Resends that arrived while their original was still being stored (answered once it was). */
  inFlightHits = 0;
  /** Resends waiting for an original being stored, by its window seq. */
  private readonly waiters = new Map<number, Waiter[]>();

  constructor(private readonly o: DuplicateDetectorOptions) {
    this.windowMs = o.windowSeconds * 1000;
    this.window = new DuplicateWindow({ windowMs: this.windowMs, maxEntries: o.maxEntries });
  }

  /**
   * Loads the window at start-up (before any send): see loadWindow(). Logs what it read
   * and how long it took.
   */
  async rebuild(store: RebuildStore, now = Date.now()): Promise<RebuildReport> {
    const loaded = await loadWindow(this.window, this.o, store, now);
    this.scannedTo = loaded.scannedTo;
    this.committedSeenTo = loaded.committedSeenTo;
    this.lastRebuild = loaded.report;
    return loaded.report;
  }

  /**
   * The commit-log offset below which every committed record has been read into the window
   * (rebuild or catchUp), by this replica's own sends or by reading the log.
   */
  private committedSeenTo = 0;
  /** A catch-up under way (catchUp): admissions wait for it. */
  private catching: Promise<void> | undefined;
  /** What the last catchUp() read. */
  lastCatchUp:
    | { records: number; added: number; scannedBytes: number; ms: number; missedBytes: number }
    | undefined;

  /**
   * A DLedger replica became the writable leader: records it received by replication as a
   * follower never passed through its window, so a producer's resend of one would be stored
   * again. Reads the committed log's tail since the last rebuild/catch-up (bounded like the
   * start-up rebuild: only the window, at most rebuildMaxBytes) into the window. Sends with a
   * UNIQ_KEY are admitted only after it ends (admit() waits), so none is checked against a window missing
   * them. Records this replica stored itself as an earlier leader are entered a second time:
   * harmless, both entries point at the same committed record. Only committed records are
   * ever entered (here and at start-up, loadWindow): an entry for a record taken back later
   * would be found before a younger entry of the same key (lookups answer with the oldest)
   * and miss on read-back: a wasted read (the younger entry then answers, resolve()).
   * Must be called synchronously from the role change, before any send of the new term.
   */
  catchUp(store: Pick<MessageStore, "offsetSince" | "forEachRecordFields" | "visibleOffset">): Promise<void> {
    const run = async (): Promise<void> => {
      const c = await catchUpWindow(this.window, this.o, store, this.committedSeenTo);
      if (c.to > this.committedSeenTo) this.committedSeenTo = c.to;
      this.lastCatchUp = c;
    };
    const p = run()
      .catch((err: Error) => {
        // Not fatal: the window then misses follower-era records (resends stored again), as before.
        this.o.logger.error(`duplicate detection: leader catch-up failed: ${err.message}`);
      })
      .finally(() => {
        if (this.catching === p) this.catching = undefined;
      });
    this.catching = p;
    return p;
  }

  /** What the last rebuild() loaded. */
  lastRebuild: RebuildReport | undefined;
  /** The commit-log offset the window has read up to at start-up (what a snapshot may claim on a node that takes no sends). */
  private scannedTo = 0;
  /** The snapshot being written, if any. */
  private writing: Promise<unknown> | undefined;
  /** Snapshots written, and skipped because a send admitted before the capture was still being stored. */
  snapshots = 0;
  snapshotsSkipped = 0;

  /**
   * Writes the window to snapshotPath: every entry admitted so far, covering the commit log
   * up to coveredOffset() as read now. Waits (bounded) for sends admitted before the
   * capture to end, since a record below the covered offset whose entry has no offset yet
   * would be in neither the snapshot nor the scan at start; if they do not end, no snapshot
   * this time (the previous one stays, and start-up reads more log). One at a time.
   */
  snapshot(): Promise<boolean> {
    const path = this.o.snapshotPath;
    if (path === undefined) return Promise.resolve(false);
    const run = async (): Promise<boolean> => {
      const w = this.window;
      const head = w.headSeq;
      const covered = this.o.coveredOffset?.() ?? this.scannedTo;
      for (let i = 0; w.pendingBefore(head); i++) {
        if (i >= 100) {
          this.snapshotsSkipped++;
          return false;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      const from = w.tailSeq;
      // The tail may have passed `head` meanwhile (eviction): nothing older to keep.
      const n = (head - from) >>> 0 <= w.size ? head : from;
      await writeWindowSnapshot(path, w, from, n, covered);
      this.snapshots++;
      return true;
    };
    const p = (this.writing ?? Promise.resolve()).then(run);
    this.writing = p.catch(() => undefined);
    return p;
  }

  /**
   * Date.now() read once per event-loop turn: the sends of one socket read are admitted in
   * one turn, and a clock read costs ~50 ns on a kvm-clock VM — as much as the window's own
   * work per send. Stale by at most the turn's length (ms), against a window of seconds.
   * Marked stale by a resolved promise's reaction (afterSyncRun), not queueMicrotask: that
   * makes an AsyncResource per call, and it showed in the send path's profile (with few
   * sends per turn, once per send).
   */
  now(): number {
    if (!this.clockFresh) {
      this.clock = Date.now();
      this.clockFresh = true;
      afterSyncRun(this.clockStale);
    }
    return this.clock;
  }

  private clock = 0;
  private clockFresh = false;
  private readonly clockStale = (): void => {
    this.clockFresh = false;
  };

  start(): void {
    this.timer = setInterval(() => this.window.expire(Date.now()), 1000);
    this.timer.unref();
    const every = this.o.snapshotIntervalMs ?? 0;
    if (this.o.snapshotPath !== undefined && every > 0) {
      this.snapshotTimer = setInterval(() => {
        if (this.window.headSeq === this.lastSnapshotHead) return; // nothing new
        this.lastSnapshotHead = this.window.headSeq;
        this.snapshot().catch((err: Error) =>
          this.o.logger.warn(
            `duplicate detection: snapshot not written (${err.message}); start-up reads more log`,
          ),
        );
      }, every);
      this.snapshotTimer.unref();
    }
  }

  private snapshotTimer: NodeJS.Timeout | undefined;
  private lastSnapshotHead = -1;

  /** Stops the timers; with a snapshot path, writes the last snapshot (sends have ended). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.snapshotTimer);
    if (this.o.snapshotPath !== undefined) await this.snapshot();
  }

  /**
   * Admits a send's messages before they are stored. Returns, in the send path's case (no
   * message's key in the window), a ticket at once: -1 when nothing is tracked (no
   * UNIQ_KEY, a retry or DLQ topic), else the seq of the first message entered — entered now,
   * before the store, so a resend arriving while the original is still being written waits
   * for it instead of storing a copy. Pass the ticket to stored() or released(). A new key
   * in its producer's order touches no table bucket (DuplicateWindow.admitUniq).
   *
   * Otherwise a promise: the original send result when every message is already stored (or
   * being stored: then once it is), or a ticket when none really is (a hash collision, or
   * the original's store failed). A batch mixing stored and new messages is refused
   * (MESSAGE_ILLEGAL): its answer could not describe both, and storing it whole would
   * duplicate.
   */
  admit(inputs: readonly MessageInput[], now: number): number | Promise<OriginalSend | number> {
    const first = inputs[0];
    if (first === undefined || !tracked(first.topic)) return -1;
    const w = this.window;
    if (inputs.length === 1) {
      const uniq = first.uniqKey;
      if (uniq === undefined) return -1;
      // A new DLedger leader's window is being caught up from the log: keyed sends wait for it.
      if (this.catching !== undefined) return this.catching.then(() => this.admit(inputs, Date.now()));
      const r = w.admitUniq(first.topic, uniq, now, w.headSeq, PENDING);
      if (r >= 0) return r;
      return this.admitMatched(first.topic, uniq, -1 - r);
    }
    if (this.catching !== undefined) return this.catching.then(() => this.admit(inputs, Date.now()));
    // A batch, the send path's case: every message keyed and new. Entered as it is looked up
    // (one pass over each key's bucket): the first message's entry is the lead, the others
    // follow it (followerMark), so stored() settles one entry per batch. A batch more than
    // half the window (a tiny window) would push its own lead out: entered one by one.
    // After a key that took its producer's fast path, the keys that follow it in its
    // producer's order are entered without a look-up each (admitFollowers).
    const n = inputs.length;
    if (2 * n > w.capacity) return this.admitBatch(inputs, now);
    const young = w.headSeq;
    for (let i = 0; i < n; ) {
      const m = inputs[i]!;
      const r =
        m.uniqKey === undefined
          ? -1
          : w.admitUniq(m.topic, m.uniqKey, now, young, i === 0 ? PENDING : followerMark(i));
      if (r < 0) {
        // A match (or a message without UNIQ_KEY): what this pass entered never answers, and
        // the batch is looked up whole first.
        for (let k = 0; k < i; k++) w.settle((young + k) >>> 0, -1);
        return this.admitBatch(inputs, now);
      }
      i = w.admitFollowers(inputs, i + 1, now);
    }
    return young;
  }

  /**
   * A batch that holds a resend (or a message without UNIQ_KEY): every message looked up
   * before any is entered, each with its own entry (see admit()).
   */
  private admitBatch(inputs: readonly MessageInput[], now: number): number | Promise<OriginalSend | number> {
    const w = this.window;
    let candidates: number[] | undefined;
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined) continue;
      const seq = w.lookupUniq(m.topic, m.uniqKey, now);
      if (seq < 0) continue;
      candidates ??= new Array<number>(inputs.length).fill(-1);
      candidates[i] = seq;
    }
    if (candidates === undefined) return this.reserveAll(inputs, now);
    return this.confirmBatch(inputs, candidates).then((o) => o ?? this.reserveAll(inputs, Date.now()));
  }

  /** Enters a batch's keyed messages (consecutive seqs); the first seq, or -1 if none. */
  private reserveAll(inputs: readonly MessageInput[], now: number): number {
    let ticket = -1;
    for (const m of inputs) {
      if (m.uniqKey === undefined) continue;
      const seq = this.window.reserveUniq(m.topic, m.uniqKey, now);
      if (ticket < 0) ticket = seq;
    }
    return ticket;
  }

  private async confirmBatch(
    inputs: readonly MessageInput[],
    candidates: readonly number[],
  ): Promise<OriginalSend | undefined> {
    const found: OriginalSend[] = [];
    // A resent batch's candidates follow one lead in order: the record steps are taken once.
    const walk: Walk = { lead: -1, index: 0, offset: 0 };
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (candidates[i]! < 0 || m.uniqKey === undefined) continue;
      const original = await this.resolve(m.topic, m.uniqKey, candidates[i]!, walk);
      if (original) found.push(original);
    }
    const hits = found.length;
    if (hits === 0) return undefined;
    if (hits < inputs.length) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `batch of ${inputs.length} messages has ${hits} already stored within the last ${this.o.windowSeconds} s (same UNIQ_KEY) and ${inputs.length - hits} new; a batch is stored whole or not at all: resend the new messages alone, or set duplicateDetectionEnable=false`,
      );
    }
    return {
      msgId: found.map((f) => f.msgId).join(","),
      queueId: found[0]!.queueId,
      queueOffset: found[0]!.queueOffset,
    };
  }

  /**
   * A single send whose key matched window entry `seq`: the original send result (resolve()),
   * or, when no live entry of its key is really stored, a ticket — entered in the same turn
   * as the last look-up found none, so a second resend resolving at the same time (two
   * waiters of an original whose store failed) finds this entry and waits for it instead of
   * storing a second copy.
   */
  private async admitMatched(topic: string, uniqKey: string, seq: number): Promise<OriginalSend | number> {
    for (;;) {
      const o = await this.original(topic, uniqKey, seq);
      if (o !== undefined) return o;
      const now = Date.now();
      const next = this.window.nextUniq(topic, uniqKey, seq, now);
      if (next < 0) return this.window.reserveUniq(topic, uniqKey, now);
      this.youngerTries++;
      seq = next;
    }
  }

  /**
   * The send result of the oldest entry of (topic, uniqKey) from window entry `seq` on whose
   * record really is that message: after a read-back miss (original() undefined), the next
   * younger live entry of the key is tried, and so on; undefined when none is. An entry may
   * point at another record (a hash collision) or outlive its own (a store that failed, a
   * record the log took back): it must not cost a duplicate when a younger entry points at
   * the stored copy. Ends: each step goes to a strictly younger live entry of this key.
   */
  private async resolve(
    topic: string,
    uniqKey: string,
    seq: number,
    walk?: Walk,
  ): Promise<OriginalSend | undefined> {
    for (;;) {
      const o = await this.original(topic, uniqKey, seq, walk);
      if (o !== undefined) return o;
      const next = this.window.nextUniq(topic, uniqKey, seq, Date.now());
      if (next < 0) return undefined;
      this.youngerTries++;
      seq = next;
    }
  }

  /**
   * The send result of window entry `seq` if it is (topic, uniqKey): read back from the log,
   * or, while its store is under way, once that ends. undefined when it is not (a hash
   * collision) or its store failed.
   */
  private original(
    topic: string,
    uniqKey: string,
    seq: number,
    walk?: Walk,
  ): Promise<OriginalSend | undefined> {
    const state = this.window.stateOf(seq);
    if (state >= 0) {
      const index = followerIndex(this.window.offsetOf(seq));
      if (index === 0) return this.confirm(topic, uniqKey, state);
      return recordAfter(this.o.store, state, index, walk).then((offset) =>
        offset === undefined ? undefined : this.confirm(topic, uniqKey, offset),
      );
    }
    if (state !== PENDING) return Promise.resolve(undefined); // abandoned (a follower whose lead left)
    this.inFlightHits++;
    return new Promise((resolve) => {
      let list = this.waiters.get(seq);
      if (list === undefined) {
        list = [];
        this.waiters.set(seq, list);
      }
      list.push({ topic, uniqKey, resolve });
    });
  }

  /** The send result of the record at `offset` if it is (topic, uniqKey) (LogReadBack). */
  private async confirm(topic: string, uniqKey: string, offset: number): Promise<OriginalSend | undefined> {
    const found = await readBack(this.o.store, topic, uniqKey, offset);
    if (found !== "other") return found;
    this.collisions++;
    return undefined;
  }

  /**
   * The put of an admitted send succeeded: its entries get their offsets; resends waiting get
   * its result. `result.commitLogOffset` is the send's own first record, also when the send
   * was coalesced with others into one append (PutCoalescer gives each its own): no msgId
   * is read back for it.
   */
  stored(inputs: readonly MessageInput[], ticket: number, result: PutResult): void {
    if (ticket < 0) return;
    const n = inputs.length;
    if (n > 1 && this.window.isFollower((ticket + 1) >>> 0)) {
      // Entered as a lead and its followers (admit): the lead's offset stands for all.
      this.window.settle(ticket, result.commitLogOffset);
      if (this.waiters.size > 0) {
        for (let i = 0; i < n; i++) {
          this.wake((ticket + i) >>> 0, inputs[i]!, {
            msgId: result.msgIds[i]!,
            queueId: inputs[i]!.queueId,
            queueOffset: result.queueOffset + i,
          });
        }
      }
      return;
    }
    let seq = ticket;
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined) continue;
      this.window.settle(seq, i === 0 ? result.commitLogOffset : recordOffset(result, i));
      if (this.waiters.size > 0)
        this.wake(seq, m, {
          msgId: result.msgIds[i]!,
          queueId: m.queueId,
          queueOffset: result.queueOffset + i,
        });
      seq = (seq + 1) >>> 0;
    }
  }

  /** An admitted send was not stored (refused, shed, failed): its entries never answer; resends waiting store themselves. */
  released(inputs: readonly MessageInput[], ticket: number): void {
    if (ticket < 0) return;
    let seq = ticket;
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined) continue;
      if (this.window.offsetOf(seq) === PENDING) this.window.settle(seq, -1);
      if (this.waiters.size > 0) this.wake(seq, m, undefined);
      seq = (seq + 1) >>> 0;
    }
  }

  private wake(seq: number, m: MessageInput, original: OriginalSend | undefined): void {
    const list = this.waiters.get(seq);
    if (list === undefined) return;
    this.waiters.delete(seq);
    for (const w of list) {
      // The waiter matched by hash only: the same key gets the result, another one stores itself.
      const same = w.topic === m.topic && w.uniqKey === m.uniqKey;
      if (!same && original) this.collisions++;
      w.resolve(same ? original : undefined);
    }
  }

  /** Resends now waiting for their original's store to end. */
  get waiting(): number {
    let n = 0;
    for (const list of this.waiters.values()) n += list.length;
    return n;
  }
}
