// What the bench scripts share: where the built packages are, a logger that keeps warnings
// and errors only, percentiles, a process's memory and the machine line.

import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** The built entry of packages/<pkg> (npx tsc -b first), for `await import(dist("broker"))`. */
export const dist = (pkg) => new URL(`packages/${pkg}/dist/src/index.js`, `file://${REPO}`).href;

export const quiet = {
  debug() {},
  info() {},
  warn: (m) => console.error(`[warn] ${m}`),
  error: (m) => console.error(`[error] ${m}`),
};

/** The p-th percentile of an ascending array (NaN when empty). */
export function pct(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Resident set size now and at its peak (VmHWM), in bytes, of a process of this machine. */
export function procMemory(pid) {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]) * 1024, hwm: Number(/VmHWM:\s+(\d+)/.exec(s)[1]) * 1024 };
}

export const mib = (bytes) => Math.round(bytes / 2 ** 20);

/** "N x <cpu model>, M GiB, node vX": what every printed figure needs next to it. */
export function machine() {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

/** Creates a 4-queue topic on one broker and waits (≤ 5 s) until the NameServer routes it. */
export async function createRoutedTopic(admin, topic, brokerAddr) {
  await admin.createTopic({ topic, brokerAddr, readQueueNums: 4, writeQueueNums: 4 });
  for (let i = 0; i < 100; i++) {
    if (
      await admin.getTopicRoute(topic).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
