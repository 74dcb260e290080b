import { readdir, readFile } from "node:fs/promises";
import {
  type CpuTimes,
  type DiskCounters,
  parseDiskstats,
  parseNetDev,
  parseProcIo,
  parseProcStat,
  parsePromTotals,
} from "./procStats.js";

/** One interval's figures; NaN where a source could not be read (shown as "n/a"). */
export interface ResourceSample {
  /** Seconds since the sampler started (end of the interval). */
  t: number;
  /** Broker process CPU, % of one core (user + system, from its /metrics). */
  brokerCpuPct: number;
  brokerRssMiB: number;
  /** Garbage collections per second and ms of GC pause per second in the broker. */
  gcPerSec: number;
  gcPauseMsPerSec: number;
  /** The broker's event-loop delay over the interval, ms (p99 and max). */
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  /** Messages the broker stored per second (its rocketmq_messages_in_total). */
  brokerInPerSec: number;
  /** Bytes the broker process sent to storage (/proc/<pid>/io write_bytes), MB/s. */
  brokerDiskWriteMBs: number;
  /** Bytes written to the machine's disks (/proc/diskstats), MB/s. */
  diskWriteMBs: number;
  /** Busy time of the busiest disk, % of the interval. */
  diskUtilPct: number;
  /** Share of all CPU time spent waiting for I/O (/proc/stat iowait), %. */
  iowaitPct: number;
  /** Machine CPU busy over all cores, %. */
  machineCpuPct: number;
  /** Loopback traffic (received + sent / 2, i.e. bytes moved), MB/s. */
  loopbackMBs: number;
}

interface Snapshot {
  at: number;
  prom: Map<string, number> | undefined;
  procIo: { writeBytes: number } | undefined;
  disk: DiskCounters | undefined;
  cpu: CpuTimes | undefined;
  lo: { rxBytes: number; txBytes: number } | undefined;
}

const MB = 1_000_000;

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * How long one /metrics scrape may take. Generous: a benchmark saturates the broker (and this
 * process), so a scrape waits behind a busy event loop exactly when the report matters; 2 s lost
 * samples (and failed the report test) on a loaded 2-core machine. A late scrape only delays the
 * next sample, whose figures are rates over the real time between snapshots.
 */
const SCRAPE_TIMEOUT_MS = 15_000;

/**
 * Samples the broker (through its /metrics) and the machine (through /proc) once per
 * interval while a benchmark runs. The broker's pid comes from its tidemq_process_id metric,
 * so /proc/<pid>/io is read only when the broker runs on this machine.
 */
export class ResourceSampler {
  readonly samples: ResourceSample[] = [];
  /** Why a source was unavailable (printed once with the report). */
  readonly problems = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private last: Snapshot | undefined;
  private started = 0;
  private disks: string[] = [];
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly metricsUrl: string,
    private readonly intervalMs = 1000,
  ) {}

  async start(): Promise<void> {
    this.disks = await readdir("/sys/block").catch(() => []);
    this.started = performance.now();
    this.last = await this.snapshot();
    this.timer = setInterval(() => {
      this.pending = this.pending.then(() => this.tick());
    }, this.intervalMs);
  }

  /** Stops sampling and takes a last sample of the time since the previous one. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.pending;
    await this.tick();
  }

  private async tick(): Promise<void> {
    const now = await this.snapshot();
    const prev = this.last;
    this.last = now;
    if (!prev || now.at - prev.at < 100) return;
    this.samples.push(diffSnapshots(prev, now, (now.at - this.started) / 1000));
  }

  private async snapshot(): Promise<Snapshot> {
    const at = performance.now();
    let prom: Map<string, number> | undefined;
    try {
      const res = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      prom = parsePromTotals(await res.text());
    } catch (err) {
      this.problems.add(`broker metrics from ${this.metricsUrl}: ${(err as Error).message}`);
    }
    const pid = prom?.get("tidemq_process_id");
    const ioText = pid ? await readText(`/proc/${pid}/io`) : undefined;
    if (pid && !ioText) this.problems.add(`/proc/${pid}/io is not readable (the broker runs elsewhere?)`);
    const [diskText, statText, netText] = await Promise.all([
      readText("/proc/diskstats"),
      readText("/proc/stat"),
      readText("/proc/net/dev"),
    ]);
    if (!diskText || !statText || !netText) this.problems.add("/proc is not readable (not Linux?)");
    return {
      at,
      prom,
      procIo: ioText ? parseProcIo(ioText) : undefined,
      disk: diskText ? parseDiskstats(diskText, this.disks) : undefined,
      cpu: statText ? parseProcStat(statText) : undefined,
      lo: netText ? parseNetDev(netText, "lo") : undefined,
    };
  }
}

/** The figures of one interval from two snapshots (pure). */
function diffSnapshots(a: Snapshot, b: Snapshot, t: number): ResourceSample {
  const secs = (b.at - a.at) / 1000;
  // Counters with labels (GC by kind, messages per topic) appear only once something was
  // counted: absent from a scrape that answered means zero so far, not unknown.
  const promDelta = (name: string) =>
    a.prom && b.prom ? Math.max(0, (b.prom.get(name) ?? 0) - (a.prom.get(name) ?? 0)) : Number.NaN;
  const gauge = (name: string) => b.prom?.get(name) ?? Number.NaN;
  const cpuTotal = b.cpu && a.cpu ? b.cpu.total - a.cpu.total : Number.NaN;
  const jiffyShare = (pick: (c: CpuTimes) => number) =>
    a.cpu && b.cpu && cpuTotal > 0 ? (100 * (pick(b.cpu) - pick(a.cpu))) / cpuTotal : Number.NaN;
  return {
    t: +t.toFixed(3),
    brokerCpuPct: (100 * promDelta("process_cpu_seconds_total")) / secs,
    brokerRssMiB: gauge("process_resident_memory_bytes") / 1048576,
    gcPerSec: promDelta("nodejs_gc_duration_seconds_count") / secs,
    gcPauseMsPerSec: (1000 * promDelta("nodejs_gc_duration_seconds_sum")) / secs,
    loopLagP99Ms: gauge("nodejs_eventloop_lag_p99_seconds") * 1000,
    loopLagMaxMs: gauge("nodejs_eventloop_lag_max_seconds") * 1000,
    brokerInPerSec: promDelta("rocketmq_messages_in_total") / secs,
    brokerDiskWriteMBs:
      a.procIo && b.procIo ? Math.max(0, b.procIo.writeBytes - a.procIo.writeBytes) / MB / secs : Number.NaN,
    diskWriteMBs:
      a.disk && b.disk ? ((b.disk.sectorsWritten - a.disk.sectorsWritten) * 512) / MB / secs : Number.NaN,
    diskUtilPct: a.disk && b.disk ? Math.min(100, (b.disk.ioMs - a.disk.ioMs) / (10 * secs)) : Number.NaN,
    iowaitPct: jiffyShare((c) => c.iowait),
    machineCpuPct: a.cpu && b.cpu && cpuTotal > 0 ? 100 - jiffyShare((c) => c.idle + c.iowait) : Number.NaN,
    loopbackMBs:
      a.lo && b.lo
        ? (b.lo.rxBytes - a.lo.rxBytes + (b.lo.txBytes - a.lo.txBytes)) / 2 / MB / secs
        : Number.NaN,
  };
}
