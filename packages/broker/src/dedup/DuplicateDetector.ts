import { createOffsetMsgId, MessageConst, ResponseCode } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { MessageInput, MessageStore, PutResult } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import { DuplicateWindow, type StoredSend } from "./DuplicateWindow.js";

export interface DuplicateDetectorOptions {
  windowSeconds: number;
  maxEntries: number;
  /** At most this much of the log's tail is read at start-up (bounds start-up time). */
  rebuildMaxBytes: number;
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
        this.window.add(m.topic, uniq, {
          msgId: createOffsetMsgId(m.storeHost, r.offset),
          queueId: m.queueId,
          queueOffset: m.queueOffset,
          at: m.storeTimestamp,
        });
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
   * The original result when every message of the request was stored within the window;
   * undefined when none was. A batch mixing stored and new messages is refused
   * (MESSAGE_ILLEGAL): its answer could not describe both, and storing it whole would duplicate.
   */
  check(inputs: readonly MessageInput[], now: number): OriginalSend | undefined {
    const first = inputs[0];
    if (first === undefined || first.uniqKey === undefined || !tracked(first.topic)) return undefined;
    const hit = this.window.get(first.topic, first.uniqKey, now);
    if (inputs.length === 1)
      return hit && { msgId: hit.msgId, queueId: hit.queueId, queueOffset: hit.queueOffset };
    let hits = hit ? 1 : 0;
    const found: StoredSend[] = hit ? [hit] : [];
    for (let i = 1; i < inputs.length; i++) {
      const m = inputs[i]!;
      const h = m.uniqKey === undefined ? undefined : this.window.get(m.topic, m.uniqKey, now);
      if (h) {
        hits++;
        found.push(h);
      }
    }
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

  /** Remembers what a put stored (called once the store confirmed it). */
  record(inputs: readonly MessageInput[], result: PutResult, now: number): void {
    for (let i = 0; i < inputs.length; i++) {
      const m = inputs[i]!;
      if (m.uniqKey === undefined || !tracked(m.topic)) continue;
      this.window.add(m.topic, m.uniqKey, {
        msgId: result.msgIds[i]!,
        queueId: m.queueId,
        queueOffset: result.queueOffset + i,
        at: now,
      });
    }
  }
}
