import { createOffsetMsgId, decodeMessage, MessageConst, ResponseCode } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageInput, MessageStore, PutResult } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import { DuplicateWindow, hashHi, hashKey, PENDING } from "./DuplicateWindow.js";

export interface DuplicateDetectorOptions {
  windowSeconds: number;
  maxEntries: number;
  /** At most this much of the log's tail is read at start-up (bounds start-up time). */
  rebuildMaxBytes: number;
  /** Where a hash match is confirmed: the candidate's stored topic and UNIQ_KEY are read back. */
  store: Pick<MessageStore, "lookMessageByOffset">;
  logger: Logger;
}

/** The send response fields of an already stored message (or batch). */
export interface OriginalSend {
  msgId: string;
  queueId: number;
  queueOffset: number;
}

interface Waiter {
  topic: string;
  uniqKey: string;
  resolve: (original: OriginalSend | undefined) => void;
}

/** Only producers' own topics: retry and DLQ copies legitimately repeat a UNIQ_KEY. */
function tracked(topic: string): boolean {
  return topic.charCodeAt(0) !== 37; // "%": %RETRY%<group>, %DLQ%<group>
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
  /** Resends that arrived while their original was still being stored (answered once it was). */
  inFlightHits = 0;
  /** Resends waiting for an original being stored, by its window seq. */
  private readonly waiters = new Map<number, Waiter[]>();

  constructor(private readonly o: DuplicateDetectorOptions) {
    this.windowMs = o.windowSeconds * 1000;
    this.window = new DuplicateWindow({ windowMs: this.windowMs, maxEntries: o.maxEntries });
  }

  /** Loads the window from records stored in the last windowSeconds; logs what it read and how long it took. */
  async rebuild(
    store: MessageStore,
    now = Date.now(),
  ): Promise<{ records: number; kept: number; ms: number }> {
    const t0 = Date.now();
    let records = 0;
    const since = now - this.windowMs;
    let oldest = Number.POSITIVE_INFINITY;
    const { from, to } = await store.forEachRecordSince(
      since,
      (r) => {
        records++;
        const m = r.message;
        if (m.storeTimestamp < oldest) oldest = m.storeTimestamp;
        const uniq = m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
        if (!uniq || !tracked(m.topic) || m.storeTimestamp < since) return;
        this.window.add(hashKey(m.topic, uniq), hashHi(), r.offset, m.storeTimestamp);
      },
      this.o.rebuildMaxBytes,
    );
    const ms = Date.now() - t0;
    const mib = ((to - from) / 1024 / 1024).toFixed(1);
    // The byte bound cut the window short: say how far back resends are recognised.
    const cut = to - from >= this.o.rebuildMaxBytes && oldest > since;
    const log = cut ? this.o.logger.warn.bind(this.o.logger) : this.o.logger.info.bind(this.o.logger);
    log(
      `duplicate detection: ${this.window.size} recent sends loaded from ${records} records (${mib} MiB of log) in ${ms} ms` +
        (cut
          ? `; the last ${mib} MiB of log (duplicateRebuildMaxBytes) cover only ${Math.round((now - oldest) / 1000)} s of the ${this.o.windowSeconds} s window until it refills`
          : ""),
    );
    return { records, kept: this.window.size, ms };
  }

  /**
   * Date.now() read once per event-loop turn: the sends of one socket read are admitted in
   * one turn, and a clock read costs ~50 ns on a kvm-clock VM — as much as the window's own
   * work per send. Stale by at most the turn's length (ms), against a window of seconds.
   */
  now(): number {
    if (!this.clockFresh) {
      this.clock = Date.now();
      this.clockFresh = true;
      queueMicrotask(this.clockStale);
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
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Admits a send's messages before they are stored. Returns, in the send path's case (no
   * message's key in the window), a ticket at once: -1 when nothing is tracked (no
   * UNIQ_KEY, a retry or DLQ topic), else the seq of the first message entered — entered now,
   * before the store, so a resend arriving while the original is still being written waits
   * for it instead of storing a copy. Pass the ticket to stored() or released(). One hash
   * per message; a new key touches one cache line of the window.
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
      const lo = hashKey(first.topic, uniq);
      const hi = hashHi();
      const seq = w.lookup(lo, hi, now);
      if (seq < 0) return w.reserve(lo, hi, now);
      return this.original(first.topic, uniq, seq).then((o) => o ?? w.reserve(lo, hi, Date.now()));
    }
    // A batch: hashes kept (two words a message, -1 without UNIQ_KEY) to enter them after the lookups.
    const hashes = new Array<number>(2 * inputs.length);
    let candidates: number[] | undefined;
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined) {
        hashes[2 * i] = -1;
        continue;
      }
      const lo = hashKey(m.topic, m.uniqKey);
      const hi = hashHi();
      hashes[2 * i] = lo;
      hashes[2 * i + 1] = hi;
      const seq = w.lookup(lo, hi, now);
      if (seq < 0) continue;
      candidates ??= new Array<number>(inputs.length).fill(-1);
      candidates[i] = seq;
    }
    if (candidates === undefined) return this.reserveAll(hashes, now);
    return this.confirmBatch(inputs, candidates).then((o) => o ?? this.reserveAll(hashes, Date.now()));
  }

  /** Enters a batch's hashed messages (consecutive seqs); the first seq, or -1 if none. */
  private reserveAll(hashes: readonly number[], now: number): number {
    let ticket = -1;
    for (let i = 0; i < hashes.length; i += 2) {
      if (hashes[i] === -1) continue;
      const seq = this.window.reserve(hashes[i]!, hashes[i + 1]!, now);
      if (ticket < 0) ticket = seq;
    }
    return ticket;
  }

  private async confirmBatch(
    inputs: readonly MessageInput[],
    candidates: readonly number[],
  ): Promise<OriginalSend | undefined> {
    const found: OriginalSend[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (candidates[i]! < 0 || m.uniqKey === undefined) continue;
      const original = await this.original(m.topic, m.uniqKey, candidates[i]!);
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
   * The send result of window entry `seq` if it is (topic, uniqKey): read back from the log,
   * or, while its store is under way, once that ends. undefined when it is not (a hash
   * collision) or its store failed.
   */
  private original(topic: string, uniqKey: string, seq: number): Promise<OriginalSend | undefined> {
    const offset = this.window.offsetOf(seq);
    if (offset !== PENDING) return this.confirm(topic, uniqKey, offset);
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

  /**
   * The stored message at `offset` if it is (topic, uniqKey): its send result. A message the
   * log no longer holds, or another one under the same hash, is not a duplicate.
   */
  private async confirm(topic: string, uniqKey: string, offset: number): Promise<OriginalSend | undefined> {
    const rec = await this.o.store.lookMessageByOffset(offset);
    if (rec === undefined) return undefined;
    let m: ReturnType<typeof decodeMessage>;
    try {
      m = decodeMessage(rec);
    } catch {
      return undefined;
    }
    if (m.topic !== topic || m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] !== uniqKey) {
      this.collisions++;
      return undefined;
    }
    return { msgId: createOffsetMsgId(m.storeHost, offset), queueId: m.queueId, queueOffset: m.queueOffset };
  }

  /** The put of an admitted send succeeded: its entries get their offsets; resends waiting get its result. */
  stored(inputs: readonly MessageInput[], ticket: number, result: PutResult): void {
    if (ticket < 0) return;
    let seq = ticket;
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined) continue;
      // A batch's later messages: their offset is the tail of their offsetMsgId.
      const offset = i === 0 ? result.commitLogOffset : offsetOfMsgId(result.msgIds[i]!);
      this.window.settle(seq, offset);
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

/** The commit-log offset in an offsetMsgId: its last 16 hex digits (any host length). */
export function offsetOfMsgId(msgId: string): number {
  let v = 0;
  for (let k = msgId.length - 16; k < msgId.length; k++) {
    const c = msgId.charCodeAt(k);
    v = v * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v;
}
