import type { LatencySummary } from "./LatencyHistogram.js";

/**
 * Where the bench tool's lines go: plain text lines (RocketMQ's benchmark format) or one
 * JSON object per line for scripts; on a terminal, a progress line redrawn in place under
 * the periodic lines.
 */
export interface Sink {
  write(text: string): void;
  readonly isTTY: boolean;
}

export const stdoutSink: Sink = {
  write: (text) => process.stdout.write(text),
  get isTTY() {
    return process.stdout.isTTY === true;
  },
};

/** Latency fields shown per period (ms). */
export type PeriodLatency = Pick<LatencySummary, "avg" | "p50" | "p99" | "max">;

const fmt = (n: number) => n.toFixed(3);
const int = (n: number) => Math.round(n).toLocaleString("en-US");

export class Reporter {
  private progressShown = false;
  private readonly progressEnabled: boolean;

  constructor(
    private readonly sink: Sink,
    readonly json: boolean,
  ) {
    this.progressEnabled = sink.isTTY && !json;
  }

  /** A JSON object (json mode) or a text line. */
  emit(obj: Record<string, unknown>, text: string): void {
    this.clearProgress();
    this.sink.write(this.json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  }

  /** Redraws the progress line (terminal only). */
  progress(text: string): void {
    if (!this.progressEnabled) return;
    this.sink.write(`\r\x1b[K${text}`);
    this.progressShown = true;
  }

  clearProgress(): void {
    if (!this.progressShown) return;
    this.sink.write("\r\x1b[K");
    this.progressShown = false;
  }
}

export function producerTickText(t: {
  time: string;
  tps: number;
  rt: PeriodLatency;
  sendFailed: number;
  responseFailed: number;
  total: number;
}): string {
  return (
    `Current Time: ${t.time} | Send TPS: ${int(t.tps)} | Max RT(ms): ${fmt(t.rt.max)} | ` +
    `Average RT(ms): ${fmt(t.rt.avg)} | p99 RT(ms): ${fmt(t.rt.p99)} | Send Failed: ${t.sendFailed} | ` +
    `Response Failed: ${t.responseFailed} | Total: ${int(t.total)}`
  );
}

export function consumerTickText(t: {
  time: string;
  tps: number;
  e2e: PeriodLatency;
  total: number;
  source: string;
}): string {
  return (
    `Current Time: ${t.time} | Consume TPS: ${int(t.tps)} | e2e Avg(ms): ${fmt(t.e2e.avg)} | ` +
    `p50(ms): ${fmt(t.e2e.p50)} | p99(ms): ${fmt(t.e2e.p99)} | Max(ms): ${fmt(t.e2e.max)} | ` +
    `Total: ${int(t.total)}${t.source ? ` | latency from ${t.source}` : ""}`
  );
}

export function latencyText(l: LatencySummary): string {
  return (
    `avg ${fmt(l.avg)}  p50 ${fmt(l.p50)}  p90 ${fmt(l.p90)}  p99 ${fmt(l.p99)}  ` +
    `p99.9 ${fmt(l.p999)}  max ${fmt(l.max)}`
  );
}

export function formatInt(n: number): string {
  return int(n);
}
