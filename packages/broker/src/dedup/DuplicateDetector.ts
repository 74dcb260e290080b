import { createOffsetMsgId, decodeMessage, MessageConst, ResponseCode } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageInput, MessageStore, PutResult } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import { DuplicateWindow, hashHi, hashKey } from "./DuplicateWindow.js";

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

  start(): void {
    this.timer = setInterval(() => this.window.expire(Date.now()), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * undefined when no message of the request has a hash match in the window (the send
   * path's case: no promise, no allocation). Otherwise a promise of the original result once
   * the candidates are confirmed against the log: undefined when none is really stored (a
   * hash collision), the original when all are. A batch mixing stored and new messages is
   * refused (MESSAGE_ILLEGAL): its answer could not describe both, and storing it whole
   * would duplicate.
   */
  check(inputs: readonly MessageInput[], now: number): Promise<OriginalSend | undefined> | undefined {
    const first = inputs[0];
    if (first === undefined || !tracked(first.topic)) return undefined;
    if (inputs.length === 1) {
      if (first.uniqKey === undefined) return undefined;
      const offset = this.window.get(hashKey(first.topic, first.uniqKey), hashHi(), now);
      return offset < 0 ? undefined : this.confirm(first.topic, first.uniqKey, offset);
    }
    let candidates: number[] | undefined;
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined) continue;
      const offset = this.window.get(hashKey(m.topic, m.uniqKey), hashHi(), now);
      if (offset < 0) continue;
      candidates ??= new Array<number>(inputs.length).fill(-1);
      candidates[i] = offset;
    }
    return candidates && this.confirmBatch(inputs, candidates);
  }

  private async confirmBatch(
    inputs: readonly MessageInput[],
    candidates: readonly number[],
  ): Promise<OriginalSend | undefined> {
    const found: OriginalSend[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (candidates[i]! < 0 || m.uniqKey === undefined) continue;
      const original = await this.confirm(m.topic, m.uniqKey, candidates[i]!);
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

  /** Remembers what a put stored (called once the store confirmed it). */
  record(inputs: readonly MessageInput[], result: PutResult, now: number): void {
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined || !tracked(m.topic)) continue;
      // A batch's later messages: their offset is the tail of their offsetMsgId.
      const offset = i === 0 ? result.commitLogOffset : offsetOfMsgId(result.msgIds[i]!);
      this.window.add(hashKey(m.topic, m.uniqKey), hashHi(), offset, now);
    }
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
