import type { ResourceSample } from "./ResourceSampler.js";

/**
 * One report period of the producer or the consumer (the same figures as its per-second
 * line): send TPS and response time, or receive TPS and end-to-end latency.
 */
export interface TickPoint {
  /** Seconds since the run started. */
  t: number;
  tps: number;
  rtAvgMs: number;
  rtP99Ms: number;
  rtMaxMs: number;
  /** Consumer: the period's end-to-end latency median. */
  rtP50Ms?: number;
}

export interface BenchReportData {
  /** Whose figures the ticks are (default producer). */
  role?: "producer" | "consumer";
  title: string;
  startedAt: string;
  machine: string;
  command: string;
  ticks: TickPoint[];
  resources: ResourceSample[];
  /**
   * Over the whole run, from the bench's summary: a producer's sent/failed and response
   * time, or a consumer's received/duplicates (in `sent`/`failed`'s place) and end-to-end latency.
   */
  summary: { tps: number; sent: number; failed: number; rt: Record<string, number> };
  /** Consumer: the group's lag (Σ broker offset − committed offset) sampled over the run, [t, messages]. */
  lag?: Array<[number, number]>;
  /** Sources that could not be read. */
  problems: string[];
}

export interface Series {
  key: string;
  label: string;
  unit: string;
  values: Array<[number, number]>;
}

type ResourceKey = Exclude<keyof ResourceSample, "t">;

const RESOURCE_SERIES: Array<[ResourceKey, string, string]> = [
  ["brokerCpuPct", "broker CPU", "% of a core"],
  ["brokerRssMiB", "broker RSS", "MiB"],
  ["gcPerSec", "broker GCs", "/s"],
  ["gcPauseMsPerSec", "broker GC pause", "ms/s"],
  ["loopLagP99Ms", "broker event-loop lag p99", "ms"],
  ["loopLagMaxMs", "broker event-loop lag max", "ms"],
  ["brokerInPerSec", "broker stored", "msg/s"],
  ["brokerDiskWriteMBs", "broker disk writes", "MB/s"],
  ["diskWriteMBs", "disk writes (all)", "MB/s"],
  ["diskUtilPct", "disk busy", "%"],
  ["iowaitPct", "CPU I/O wait", "%"],
  ["machineCpuPct", "machine CPU", "% of all cores"],
  ["loopbackMBs", "loopback traffic", "MB/s"],
];

/** Every plotted series: the producer's TPS and latency, then the broker's and machine's resources. */
export function reportSeries(d: BenchReportData): Series[] {
  const fromTicks = (label: string, unit: string, pick: (p: TickPoint) => number, key: string): Series => ({
    key,
    label,
    unit,
    values: d.ticks.map((p) => [p.t, pick(p)]),
  });
  const own =
    d.role === "consumer"
      ? [
          fromTicks("consume TPS", "msg/s", (p) => p.tps, "tps"),
          fromTicks("end-to-end latency p50", "ms", (p) => p.rtP50Ms ?? Number.NaN, "e2eP50Ms"),
          fromTicks("end-to-end latency p99", "ms", (p) => p.rtP99Ms, "rtP99Ms"),
          fromTicks("end-to-end latency max", "ms", (p) => p.rtMaxMs, "rtMaxMs"),
          { key: "lag", label: "group lag (committed)", unit: "messages", values: d.lag ?? [] },
        ]
      : [
          fromTicks("send TPS", "msg/s", (p) => p.tps, "tps"),
          fromTicks("send RT avg", "ms", (p) => p.rtAvgMs, "rtAvgMs"),
          fromTicks("send RT p99", "ms", (p) => p.rtP99Ms, "rtP99Ms"),
        ];
  return [
    ...own,
    ...RESOURCE_SERIES.map(([key, label, unit]) => ({
      key,
      label,
      unit,
      values: d.resources.map((r): [number, number] => [r.t, r[key]]),
    })),
  ];
}

export interface Stats {
  avg: number;
  min: number;
  max: number;
  n: number;
}

/** Average, min and max of the finite values (NaN marks a sample that could not be read). */
export function stats(values: number[]): Stats {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return { avg: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return {
    avg: v.reduce((a, b) => a + b, 0) / v.length,
    min: Math.min(...v),
    max: Math.max(...v),
    n: v.length,
  };
}

/**
 * The steady part of a run: the first and last samples straddle start-up and drain, so they
 * are left out of the verdict when there are enough samples.
 */
function steady<T>(xs: T[]): T[] {
  return xs.length >= 5 ? xs.slice(1, -1) : xs;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  const a = Math.abs(n);
  return a >= 1000
    ? Math.round(n).toLocaleString("en-US")
    : a >= 100
      ? n.toFixed(0)
      : a >= 10
        ? n.toFixed(1)
        : n.toFixed(2);
}

/** The table printed at the end of a `--report` run: one row per series, avg / min / max. */
export function reportTable(d: BenchReportData): string {
  const rows = reportSeries(d).map((s) => {
    const st = stats(steady(s.values).map((v) => v[1]));
    return [`${s.label} (${s.unit})`, fmt(st.avg), fmt(st.min), fmt(st.max)];
  });
  const head = ["", "avg", "min", "max"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

/** Thresholds of the verdict (a resource counts as the limit at or above them, on average). */
export const LIMITS = { brokerCpuPct: 85, machineCpuPct: 90, diskUtilPct: 80, iowaitPct: 20 };

/**
 * Where the limit is, from the steady samples: the broker's JS thread (one core), the
 * machine's CPUs, or the disk. Loopback "network" is memory copies on one machine; it is
 * reported but never the limit by itself. A heuristic: it names what was saturated, the
 * figures beside it let a reader judge.
 */
export function verdict(d: BenchReportData): string[] {
  const avg = (k: ResourceKey) => stats(steady(d.resources).map((r) => r[k])).avg;
  const cpu = avg("brokerCpuPct");
  const machine = avg("machineCpuPct");
  const util = avg("diskUtilPct");
  const iowait = avg("iowaitPct");
  const out: string[] = [];
  if (cpu >= LIMITS.brokerCpuPct) {
    out.push(`CPU (broker): the broker used ${fmt(cpu)}% of a core; its JavaScript thread is saturated.`);
  }
  if (machine >= LIMITS.machineCpuPct) {
    out.push(
      `CPU (machine): all cores were ${fmt(machine)}% busy; broker and clients compete for them, so the client side limits too.`,
    );
  }
  if (util >= LIMITS.diskUtilPct || iowait >= LIMITS.iowaitPct) {
    out.push(`Disk: the busiest disk was busy ${fmt(util)}% of the time, CPU I/O wait ${fmt(iowait)}%.`);
  }
  if (out.length === 0) {
    out.push(
      `No resource saturated (broker CPU ${fmt(cpu)}% of a core, machine CPU ${fmt(machine)}%, disk busy ${fmt(util)}%): ` +
        (d.role === "consumer"
          ? "the consumer kept up with what was sent (or the listener threads, --threads, bound it); load it with a faster producer."
          : "the limit is the window of sends in flight or the round trip; raise -w to load more."),
    );
  }
  out.push(
    `Network: loopback moved ${fmt(avg("loopbackMBs"))} MB/s; on one machine that is memory copies, not a link limit.`,
  );
  return out;
}
