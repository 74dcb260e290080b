import type { Logger } from "@tidemq/remoting";
import { encodeTraceRecord, type TraceRecord } from "./TraceRecord.js";

/** Sends one trace message (body = records, keys = traced ids and keys); rejects on failure. */
export type TraceSink = (body: string, keys: string[]) => Promise<void>;

export interface TraceDispatcherOptions {
  /** Most records waiting; beyond it new records are dropped (counted, warned). Default 20000. */
  maxQueuedRecords?: number;
  /** Most records in one trace message. Default 100. */
  maxRecordsPerMessage?: number;
  /** Most body bytes of one trace message. Default 128 KiB (Java's trace maxMsgSize). */
  maxMessageBytes?: number;
  /** Queued records leave at least this often, ms. Default 500. */
  flushIntervalMs?: number;
  /** Trace messages in flight at once. Default 2. */
  maxInFlight?: number;
  logger: Logger;
}

export interface TraceDispatcherStats {
  /** Records accepted into the queue. */
  queued: number;
  /** Records in trace messages the broker stored. */
  sent: number;
  /** Records dropped because the queue was full. */
  dropped: number;
  /** Records in trace messages whose send failed (not retried). */
  failed: number;
}

const MAX_KEYS_CHARS = 16 * 1024;

interface Pending {
  text: string;
  keys: readonly string[];
}

/**
 * Java's AsyncTraceDispatcher: records are queued by the send/consume path (a push into an
 * array, never a wait) and leave in batches from a timer, so tracing can neither slow nor
 * fail the path that produced them. A full queue drops the newest records with a counted,
 * rate-limited warning; a failed trace send is logged and its records counted as failed.
 */
export class TraceDispatcher {
  private queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly inFlightDone = new Set<Promise<void>>();
  private closed = false;
  private lastWarn = new Map<string, number>();
  readonly stats: TraceDispatcherStats = { queued: 0, sent: 0, dropped: 0, failed: 0 };
  private readonly maxQueued: number;
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly flushMs: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly sink: TraceSink,
    private readonly o: TraceDispatcherOptions,
  ) {
    this.maxQueued = o.maxQueuedRecords ?? 20_000;
    this.maxRecords = o.maxRecordsPerMessage ?? 100;
    this.maxBytes = o.maxMessageBytes ?? 128 * 1024;
    this.flushMs = o.flushIntervalMs ?? 500;
    this.maxInFlight = o.maxInFlight ?? 2;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Queues a record; never throws, never waits. `keys`: the traced msgId and its keys. */
  add(record: TraceRecord, keys: readonly string[]): void {
    if (this.closed) return;
    if (this.pending >= this.maxQueued) {
      this.stats.dropped++;
      this.warn("full", `trace queue full (${this.maxQueued} records): dropped ${this.stats.dropped} so far`);
      return;
    }
    let text: string;
    try {
      text = encodeTraceRecord(record);
    } catch (err) {
      this.stats.dropped++;
      this.warn("encode", `trace record not encodable: ${(err as Error).message}`);
      return;
    }
    this.queue.push({ text, keys });
    this.stats.queued++;
    if (this.pending >= this.maxRecords) this.pump();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.flushMs);
      this.timer.unref();
    }
  }

  /** Sends what is queued now (as many messages as it takes) and waits for those sends. */
  async flush(): Promise<void> {
    // Bounded: each round either sends or waits for a send in flight to end.
    for (let round = 0; round < 100_000 && (this.pending > 0 || this.inFlight > 0); round++) {
      this.pump();
      if (this.inFlightDone.size > 0) await Promise.race(this.inFlightDone);
    }
  }

  /** Flushes (at most `timeoutMs`), then refuses new records. */
  async close(timeoutMs = 3000): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => {
        t = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(t);
    this.closed = true;
    if (this.pending > 0) {
      this.stats.dropped += this.pending;
      this.o.logger.warn(`trace: ${this.pending} record(s) not sent before shutdown`);
      this.queue = [];
      this.head = 0;
    }
  }

  /** Starts sends while below maxInFlight and records wait. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.pending > 0) {
      const { body, keys, count } = this.take();
      this.inFlight++;
      const p: Promise<void> = this.sink(body, keys).then(
        () => {
          this.stats.sent += count;
        },
        (err: unknown) => {
          this.stats.failed += count;
          this.warn("send", `trace send failed (${count} record(s) lost): ${(err as Error)?.message ?? err}`);
        },
      );
      const done = p.finally(() => {
        this.inFlight--;
        this.inFlightDone.delete(done);
        if (this.pending > 0 && !this.timer && !this.closed) this.pump();
      });
      this.inFlightDone.add(done);
    }
  }

  /** The next message's worth of records. */
  private take(): { body: string; keys: string[]; count: number } {
    let body = "";
    const keys = new Set<string>();
    let count = 0;
    let keysLength = 0;
    while (this.pending > 0 && count < this.maxRecords) {
      const r = this.queue[this.head]!;
      if (count > 0 && body.length + r.text.length > this.maxBytes) break;
      // KEYS is one property: keep it well under the 32 KiB a property section may hold.
      const more = r.keys.reduce((n, k) => n + k.length + 1, 0);
      if (count > 0 && keysLength + more > MAX_KEYS_CHARS) break;
      keysLength += more;
      body += r.text;
      for (const k of r.keys) if (k) keys.add(k);
      this.head++;
      count++;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return { body, keys: [...keys], count };
  }

  /** One warning per kind every 10 s. */
  private warn(kind: string, message: string): void {
    const now = Date.now();
    if (now - (this.lastWarn.get(kind) ?? 0) < 10_000) return;
    this.lastWarn.set(kind, now);
    this.o.logger.warn(message);
  }
}
