#!/usr/bin/env node
// TideMQ's harness results (results/raw.jsonl, written by run.sh) as medians per target,
// mode and window, and as ratios against each comparable peer. Peer figures come from the
// same raw.jsonl when run.sh measured them in this run (PEER_CONFIGS), else from the shared
// harness's published RESULTS.md (another run: say so when quoting them).
// Usage: node compare.mjs [--in results/raw.jsonl] [--peers /work/shared/bench/peers] [--tag-prefix round]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    in: { type: "string", default: new URL("results/raw.jsonl", import.meta.url).pathname },
    peers: { type: "string", default: process.env.PEERS ?? "/work/shared/bench/peers" },
    "tag-prefix": { type: "string", default: "" },
    load: { type: "string" }, // default: load.jsonl beside --in
  },
});
const { CONFIGS } = await import(`${a.peers}/configs.mjs`);

const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((p, q) => p - q);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const fInt = (x) => (x == null ? "-" : Math.round(x).toLocaleString("en-US"));
const fMs = (x) =>
  x == null ? "-" : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString();
const fX = (x) =>
  x == null || !Number.isFinite(x)
    ? "-"
    : x >= 10
      ? `${x.toFixed(0)}×`
      : x >= 1
        ? `${x.toFixed(1)}×`
        : `${x.toFixed(2)}×`;

// ---- our runs (and same-run peers)
const recs = readFileSync(a.in, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l))
  .filter((r) => (r.tag ?? "").startsWith(a["tag-prefix"]));
// run.sh's load log: CPU ticks of the whole machine before/after each run, so the CPU that
// other processes used during a run (the machine is shared) can be shown beside the figure.
const loadFile = a.load ?? a.in.replace(/[^/]*$/, "load.jsonl");
let loads = [];
try {
  loads = readFileSync(loadFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
} catch {}
function otherCpuSec(r) {
  const same = loads.filter((l) => l.what === r.config && l.window === r.window && l.busyTicks !== undefined);
  const before = same
    .filter((l) => l.when === "before" && l.ts <= r.ts)
    .sort((x, y) => (x.ts < y.ts ? 1 : -1))[0];
  const after = same
    .filter((l) => l.when === "after" && l.ts >= r.ts)
    .sort((x, y) => (x.ts < y.ts ? -1 : 1))[0];
  if (!before || !after || !r.brokerProc) return null;
  const busy = (after.busyTicks - before.busyTicks) / 100;
  const ours =
    r.brokerProc.cpuSec +
    (r.producer.cpu.user + r.producer.cpu.system + r.consumer.cpu.user + r.consumer.cpu.system) / 1e6;
  return Math.max(0, busy - ours);
}
const groups = new Map();
for (const r of recs) {
  const k = `${r.config}\u0000${r.window}`;
  if (!groups.has(k)) groups.set(k, { config: r.config, window: r.window, ok: [], failed: 0 });
  if (r.error) groups.get(k).failed++;
  else groups.get(k).ok.push(r);
}
function summarize(g) {
  const m = (f) => median(g.ok.map(f));
  return {
    produce: m((r) => r.producer.produceRate),
    consume: m((r) => r.consumer.consumeRate),
    p50: m((r) => r.consumer.e2eLatency.p50),
    p99: m((r) => r.consumer.e2eLatency.p99),
    confirmP99: m((r) => r.producer.confirmLatency.p99),
    rss: m((r) => r.brokerProc?.peakRssMB),
    cpu: m((r) => r.brokerProc?.cpuSec),
    clientCpu: m(
      (r) =>
        (r.producer.cpu.user + r.producer.cpu.system + r.consumer.cpu.user + r.consumer.cpu.system) / 1e6,
    ),
    otherCpu: m(otherCpuSec),
    secs: m((r) => r.producer.elapsedSec),
    failed: g.ok.reduce((s, r) => s + (r.producer.failed ?? 0), 0),
    lost: g.ok.reduce((s, r) => s + (r.lost ?? 0), 0),
    dupes: g.ok.reduce((s, r) => s + (r.consumer.dupes ?? 0), 0),
    stopped: [...new Set(g.ok.map((r) => r.producer.reason))].join(","),
    runs: g.ok.length,
    failedRuns: g.failed,
  };
}
const ours = [];
const sameRunPeers = new Map();
for (const g of groups.values()) {
  const s = summarize(g);
  if (CONFIGS[g.config]) sameRunPeers.set(`${g.config}\u0000${g.window}`, s);
  else if (g.config.startsWith("tidemq-")) {
    const [target, mode] = [
      g.config.replace(/\.mjs-(sync|async)$/, ""),
      g.config.replace(/^.*-(sync|async)$/, "$1"),
    ];
    ours.push({ target, mode, window: g.window, ...s });
  }
}
ours.sort((x, y) => x.target.localeCompare(y.target) || y.mode.localeCompare(x.mode) || x.window - y.window);

// ---- published peer medians (RESULTS.md's first table)
const published = new Map();
const labelToId = new Map(
  Object.entries(CONFIGS).map(([id, c]) => [`${c.label.broker}|${c.label.mode}`, id]),
);
for (const line of readFileSync(`${a.peers}/RESULTS.md`, "utf8").split("\n")) {
  const cells = line
    .split("|")
    .slice(1, -1)
    .map((s) => s.trim());
  if (cells.length !== 10) continue;
  const id = labelToId.get(`${cells[0]}|${cells[1]}`);
  if (!id) continue;
  const n = (s) => Number(s.replace(/,/g, ""));
  published.set(`${id}\u0000${Number(cells[2])}`, {
    produce: n(cells[3]),
    consume: n(cells[4]),
    p50: n(cells[5]),
    p99: n(cells[6]),
    rss: n(cells[8]),
  });
}

// Comparable peers per TideMQ mode (issue 5): durable = acknowledged after fsync (NATS R1
// does not fsync per message, listed for reference); fast = acked before fsync.
const PEERS = {
  sync: ["redis-always", "rabbitmq-classic", "rabbitmq-quorum", "nats-r1"],
  async: ["redis-everysec", "nats-r1"],
};
const peerOf = (id, w) => {
  const k = `${id}\u0000${w}`;
  if (sameRunPeers.has(k)) return { ...sameRunPeers.get(k), source: "same run" };
  if (published.has(k)) return { ...published.get(k), source: "RESULTS.md" };
  return null;
};

const out = [];
out.push(
  "| client | broker flush | window | produce msg/s | consume msg/s | e2e p50 ms | e2e p99 ms | confirm p99 ms | broker RSS MB | broker / clients / other processes CPU s (run of N s) | failed sends / lost / dupes | stopped by | runs |",
);
out.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|");
for (const o of ours) {
  out.push(
    `| ${o.target.replace("tidemq-", "")} | ${o.mode === "sync" ? "SYNC_FLUSH" : "ASYNC_FLUSH"} | ${o.window} | ${fInt(o.produce)} | ${fInt(o.consume)} | ${fMs(o.p50)} | ${fMs(o.p99)} | ${fMs(o.confirmP99)} | ${o.rss == null ? "-" : o.rss.toFixed(0)} | ${o.cpu?.toFixed(1) ?? "-"} / ${o.clientCpu?.toFixed(1) ?? "-"} / ${o.otherCpu?.toFixed(1) ?? "-"} (${o.secs?.toFixed(0) ?? "-"} s) | ${o.failed} / ${o.lost} / ${o.dupes} | ${o.stopped} | ${o.runs}${o.failedRuns ? ` (+${o.failedRuns} failed)` : ""} |`,
  );
}
out.push("");
out.push("Ratios TideMQ ÷ peer (same window): produce msg/s (higher is better) · e2e p99 (lower is better).");
out.push("");
out.push(
  "| client | broker flush | window | peer | peer produce msg/s | peer e2e p99 ms | produce ratio | e2e p99 ratio | peer figures from |",
);
out.push("|---|---|---:|---|---:|---:|---:|---:|---|");
for (const o of ours) {
  for (const id of PEERS[o.mode]) {
    const p = peerOf(id, o.window);
    if (!p) continue;
    out.push(
      `| ${o.target.replace("tidemq-", "")} | ${o.mode === "sync" ? "SYNC_FLUSH" : "ASYNC_FLUSH"} | ${o.window} | ${id} | ${fInt(p.produce)} | ${fMs(p.p99)} | ${fX(o.produce / p.produce)} | ${fX(o.p99 / p.p99)} | ${p.source} |`,
    );
  }
}
if (sameRunPeers.size) {
  out.push("");
  out.push("Peers measured in this run:");
  out.push("");
  out.push(
    "| peer | window | produce msg/s | consume msg/s | e2e p50 ms | e2e p99 ms | broker RSS MB | broker / clients / other CPU s | runs |",
  );
  out.push("|---|---:|---:|---:|---:|---:|---:|---|---:|");
  for (const [k, s] of sameRunPeers) {
    const [id, w] = k.split("\u0000");
    out.push(
      `| ${id} | ${w} | ${fInt(s.produce)} | ${fInt(s.consume)} | ${fMs(s.p50)} | ${fMs(s.p99)} | ${s.rss == null ? "-" : s.rss.toFixed(0)} | ${s.cpu?.toFixed(1) ?? "-"} / ${s.clientCpu?.toFixed(1) ?? "-"} / ${s.otherCpu?.toFixed(1) ?? "-"} | ${s.runs} |`,
    );
  }
}
console.log(out.join("\n"));
