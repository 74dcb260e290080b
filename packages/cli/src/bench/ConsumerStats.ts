import { nowMs, readHeader } from "./BenchPayload.js";
import { LatencyHistogram, type LatencySummary } from "./LatencyHistogram.js";

/** Sequence numbers tracked per producer run for duplicate counting (1 byte each). */
const MAX_TRACKED_SEQ = 1 << 26;
/** Producer runs tracked at once; messages of further runs are counted but not checked. */
const MAX_TRACKED_RUNS = 64;

export interface ConsumerPeriod {
  received: number;
  e2e: LatencySummary;
}

export interface ConsumerTotals {
  received: number;
  duplicates: number;
  /** Messages whose latency came from bornTimestamp (no bench header in the body). */
  fromBornTimestamp: number;
  /** Seconds between the first and the last message received. */
  elapsedSec: number;
  e2e: LatencySummary;
}

/**
 * What `tidemq bench consumer` measures, apart from the client: receive counts, duplicates
 * (per producer run and sequence number) and end-to-end latency, from the send time in a
 * bench body (µs precision) or else from the message's bornTimestamp (ms precision).
 */
export class ConsumerStats {
  private readonly period = new LatencyHistogram();
  private readonly total = new LatencyHistogram();
  private readonly seen = new Map<number, Uint8Array>();
  private pReceived = 0;
  private received = 0;
  private duplicates = 0;
  private fromBorn = 0;
  private first = 0;
  private last = 0;

  /** Records one delivery; `receivedAtMs` defaults to now (wall clock, fractional ms). */
  record(body: Buffer, bornTimestampMs: number, receivedAtMs = nowMs()): void {
    const h = readHeader(body);
    let latencyMs: number;
    if (h) {
      latencyMs = receivedAtMs - h.sentMs;
      if (this.isDuplicate(h.runId, h.seq)) this.duplicates++;
    } else {
      latencyMs = receivedAtMs - bornTimestampMs;
      this.fromBorn++;
    }
    const us = latencyMs * 1000;
    this.period.record(us);
    this.total.record(us);
    this.pReceived++;
    this.received++;
    const t = performance.now();
    if (this.received === 1) this.first = t;
    this.last = t;
  }

  get count(): number {
    return this.received;
  }

  private isDuplicate(runId: number, seq: number): boolean {
    if (!Number.isInteger(seq) || seq < 0 || seq >= MAX_TRACKED_SEQ) return false;
    let bits = this.seen.get(runId);
    if (!bits) {
      if (this.seen.size >= MAX_TRACKED_RUNS) return false;
      bits = new Uint8Array(1024);
      this.seen.set(runId, bits);
    }
    if (seq >= bits.length) {
      let len = bits.length;
      while (len <= seq) len *= 2;
      const grown = new Uint8Array(Math.min(len, MAX_TRACKED_SEQ));
      grown.set(bits);
      bits = grown;
      this.seen.set(runId, bits);
    }
    if (bits[seq] === 1) return true;
    bits[seq] = 1;
    return false;
  }

  takePeriod(): ConsumerPeriod {
    const out = { received: this.pReceived, e2e: this.period.summary() };
    this.pReceived = 0;
    this.period.reset();
    return out;
  }

  totals(): ConsumerTotals {
    return {
      received: this.received,
      duplicates: this.duplicates,
      fromBornTimestamp: this.fromBorn,
      elapsedSec: this.received > 1 ? (this.last - this.first) / 1000 : 0,
      e2e: this.total.summary(),
    };
  }
}
