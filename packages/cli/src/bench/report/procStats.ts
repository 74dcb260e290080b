/**
 * Parsers for the Linux /proc files and the Prometheus text the pressure-test report samples.
 * Pure: they take the text, so tests feed them fixed contents.
 */

/** /proc/<pid>/io: bytes the process caused to be read from / written to storage. */
export function parseProcIo(text: string): { readBytes: number; writeBytes: number } {
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return { readBytes: field("read_bytes"), writeBytes: field("write_bytes") };
}

export interface DiskCounters {
  /** 512-byte sectors written, summed over the disks. */
  sectorsWritten: number;
  /** ms spent doing I/O (field 10), the largest over the disks: utilisation of the busiest. */
  ioMs: number;
}

/**
 * /proc/diskstats summed over whole disks (`disks`, e.g. from /sys/block), without loop, ram
 * and zram devices: partitions would count their disk's writes twice.
 */
export function parseDiskstats(text: string, disks: readonly string[]): DiskCounters {
  const wanted = new Set(disks.filter((d) => !/^(loop|ram|zram)\d*$/.test(d)));
  let sectorsWritten = 0;
  let ioMs = 0;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14 || !wanted.has(f[2]!)) continue;
    sectorsWritten += Number(f[9]);
    ioMs = Math.max(ioMs, Number(f[12]));
  }
  return { sectorsWritten, ioMs };
}

/** The aggregate `cpu` line of /proc/stat, in jiffies. */
export interface CpuTimes {
  total: number;
  idle: number;
  iowait: number;
}

export function parseProcStat(text: string): CpuTimes {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return { total: Number.NaN, idle: Number.NaN, iowait: Number.NaN };
  // user nice system idle iowait irq softirq steal (guest times are already in user/nice).
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { total, idle: v[3] ?? 0, iowait: v[4] ?? 0 };
}

/** Bytes received and sent by one interface in /proc/net/dev. */
export function parseNetDev(text: string, iface: string): { rxBytes: number; txBytes: number } {
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i < 0 || line.slice(0, i).trim() !== iface) continue;
    const f = line
      .slice(i + 1)
      .trim()
      .split(/\s+/);
    return { rxBytes: Number(f[0]), txBytes: Number(f[8]) };
  }
  return { rxBytes: Number.NaN, txBytes: Number.NaN };
}

/**
 * Prometheus text → metric name → sum of its samples over every label set (a broker's
 * metrics per topic or per GC kind add up to the broker's total), plus `max` for gauges
 * where the largest matters.
 */
export function parsePromTotals(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)$/.exec(line);
    if (!m) continue;
    const v = Number(m[2]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
  }
  return out;
}
