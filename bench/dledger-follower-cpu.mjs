#!/usr/bin/env node
// What one DLedger follower process costs per entry, measured apart from the rest of the group:
// this process plays the leader (its Raft transport, frames as DLedgerNode sends them: one
// entry of --msgs records per append, the commit index riding along) against ONE real `tidemq
// broker` follower (the third replica is absent), one entry in flight as under the closed-loop
// producer of dledger-throughput.mjs. No clients, no leader broker and no consumer compete for
// the cores, so CPU and wake-ups per entry move far less with the machine's load than in the
// whole-group bench. Prints the follower's CPU (user, sys) per entry and per message,
// voluntary context switches per entry (all its threads), entries/s and ack round trips.
//
// Usage: node bench/dledger-follower-cpu.mjs [--entries 1500] [--warmup 300] [--msgs 110]
//        [--size 500] [--root /other/checkout (its broker: A/B against another build)]
//        [--rounds N (repeat, alternating with --root when given)]
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { encodeEntryData } from "../packages/broker/dist/src/dledger/EntryData.js";
import { RaftTransport } from "../packages/broker/dist/src/dledger/RaftTransport.js";
import { NameServer } from "../packages/namesrv/dist/src/index.js";
import { encodeMessage } from "../packages/protocol/dist/src/index.js";
import { createLogger } from "../packages/remoting/dist/src/index.js";
import { freePorts } from "./dledgerCluster.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ENTRIES = Number(opt("entries", "1500"));
const WARMUP = Number(opt("warmup", "300"));
const MSGS = Number(opt("msgs", "110"));
const SIZE = Number(opt("size", "500"));
const ROUNDS = Number(opt("rounds", "1"));
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const other = opt("root", undefined);

function procCpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return { user: Number(x[11]) / 100, sys: Number(x[12]) / 100 };
}
function wakeups(pid) {
  let n = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(
        readFileSync(`/proc/${pid}/task/${t}/status`, "utf8"),
      );
      if (m) n += Number(m[1]);
    } catch {
      // thread gone
    }
  }
  return n;
}

/** Records as a producer's sends make them (UNIQ_KEY, TAGS, WAIT), 8 queues in turn. */
let logEnd = 0;
const queueNext = new Array(8).fill(0);
let uniq = 0;
let q = 0;
function makeEntry() {
  const queueId = q++ % 8;
  const recs = [];
  const start = logEnd;
  for (let i = 0; i < MSGS; i++) {
    const rec = encodeMessage({
      topic: "BenchTopic",
      queueId,
      flag: 0,
      queueOffset: queueNext[queueId]++,
      commitLogOffset: logEnd,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { host: "127.0.0.1", port: 40000 },
      storeTimestamp: Date.now(),
      storeHost: { host: "127.0.0.1", port: 10911 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: Buffer.alloc(SIZE, 97),
      properties: {
        UNIQ_KEY: `7F00000100002A9F0000${(uniq++).toString(16).toUpperCase().padStart(12, "0")}`,
        TAGS: "TagA",
        WAIT: "true",
      },
    });
    recs.push(rec);
    logEnd += rec.length;
  }
  return encodeEntryData(logEnd, [{ offset: start, bytes: Buffer.concat(recs) }]);
}

async function runOnce(root) {
  logEnd = 0;
  queueNext.fill(0);
  q = 0;
  const dir = await mkdtemp(path.join(os.tmpdir(), "tidemq-follower-cpu-"));
  const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger: createLogger("namesrv", "error") });
  await namesrv.start();
  const [p0, p1, p2] = await freePorts(3);
  const peers = `n0-127.0.0.1:${p0};n1-127.0.0.1:${p1};n2-127.0.0.1:${p2}`;
  const conf = path.join(dir, "n0.conf");
  await writeFile(
    conf,
    [
      "brokerClusterName=DefaultCluster",
      "brokerName=broker-dl",
      "listenPort=0",
      `namesrvAddr=127.0.0.1:${namesrv.port}`,
      "brokerIP1=127.0.0.1",
      `storePathRootDir=${path.join(dir, "n0")}`,
      // One segment for the whole run: the entries made here never end a segment with a blank
      // filler as a leader's log would.
      "mappedFileSizeCommitLog=1073741824",
      "enableDLegerCommitLog=true",
      "dLegerGroup=broker-dl",
      `dLegerPeers=${peers}`,
      "dLegerSelfId=n0",
      "",
    ].join("\n"),
  );
  const logger = createLogger("bench-leader", "error");
  const leader = new RaftTransport(
    { id: "n1", host: "127.0.0.1", port: p1 },
    [
      { id: "n0", host: "127.0.0.1", port: p0 },
      { id: "n1", host: "127.0.0.1", port: p1 },
    ],
    logger,
  );
  let acked = 0;
  let onAck = () => {};
  leader.onMessage = (m) => {
    if (m.type !== "appResp") return;
    if (m.reject) throw new Error(`follower refused entry ${m.index} (hint ${m.rejectHint})`);
    if (m.index > acked) {
      acked = m.index;
      onAck();
    }
  };
  await leader.start();
  const child = spawn(
    process.execPath,
    [
      "--initial-old-space-size=64",
      // e.g. --perf-basic-prof, to profile the follower (as in dledgerCluster.mjs)
      ...(process.env.TIDEMQ_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean),
      path.join(root, "packages/cli/bin/tidemq.js"),
      "broker",
      "-c",
      conf,
    ],
    {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, TIDEMQ_LOG_LEVEL: "error", TIDEMQ_DEV_CHILD: "1" },
    },
  );
  let err = "";
  child.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
  try {
    await new Promise((resolve, reject) => {
      let out = "";
      const t = setTimeout(() => reject(new Error(`broker did not start: ${err}`)), 60_000);
      child.stdout.on("data", (d) => {
        out += d;
        if (/listening on/.test(out)) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`broker exited ${code}: ${err}`)));
    });
    const entries = [];
    for (let i = 0; i < WARMUP + ENTRIES; i++) entries.push(makeEntry());
    const base = { from: "n1", to: "n0", term: 1, logTerm: 1, reject: false, rejectHint: 0 };
    // Entry i+1 goes out once entry i is acknowledged (fsynced there), with commit = i (the
    // follower commits and dispatches one entry behind, as under lazy commit broadcast).
    const send = (i) =>
      leader.send([
        {
          ...base,
          type: "app",
          index: i,
          logTerm: i === 0 ? 0 : 1,
          commit: acked,
          entries: [{ index: i + 1, term: 1, type: "normal", data: entries[i] }],
        },
      ]);
    // The follower's connection comes up asynchronously: send entry 1 until it is acknowledged.
    for (let i = 0; i < 600 && acked < 1; i++) {
      send(0);
      await new Promise((r) => {
        onAck = r;
        setTimeout(r, 100).unref();
      });
    }
    if (acked < 1) throw new Error(`the follower never acknowledged entry 1: ${err}`);
    const rtts = [];
    let c0;
    let w0;
    let t0 = 0;
    for (let i = 1; i < WARMUP + ENTRIES; i++) {
      if (i === WARMUP) {
        c0 = procCpu(child.pid);
        w0 = wakeups(child.pid);
        t0 = performance.now();
      }
      const s = performance.now();
      const done = new Promise((r, j) => {
        onAck = () => acked >= i + 1 && r();
        setTimeout(() => j(new Error(`entry ${i + 1} not acknowledged in 30 s`)), 30_000).unref();
      });
      send(i);
      await done;
      if (i >= WARMUP) rtts.push(performance.now() - s);
    }
    const secs = (performance.now() - t0) / 1000;
    const c1 = procCpu(child.pid);
    const w = wakeups(child.pid) - w0;
    const n = ENTRIES - 1;
    rtts.sort((a, b) => a - b);
    const row = {
      build: root === here ? "this" : root,
      entries: n,
      msgsPerEntry: MSGS,
      entriesPerS: Math.round(n / secs),
      cpuUsPerEntry: Math.round(((c1.user + c1.sys - c0.user - c0.sys) * 1e6) / n),
      sysUsPerEntry: Math.round(((c1.sys - c0.sys) * 1e6) / n),
      cpuUsPerMsg: Number((((c1.user + c1.sys - c0.user - c0.sys) * 1e6) / n / MSGS).toFixed(2)),
      wakeupsPerEntry: Number((w / n).toFixed(1)),
      ackRttP50: Number(rtts[Math.floor(rtts.length / 2)].toFixed(2)),
      ackRttP99: Number(rtts[Math.floor(rtts.length * 0.99)].toFixed(2)),
      load: os.loadavg()[0].toFixed(1),
    };
    console.log(JSON.stringify(row));
    return row;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      // SIGTERM when profiling (--cpu-prof writes its profile on a clean exit).
      process.kill(
        child.pid,
        process.env.TIDEMQ_BENCH_NODE_ARGS?.includes("--cpu-prof") ? "SIGTERM" : "SIGKILL",
      );
      await exited;
    }
    await leader.stop();
    await namesrv.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(
  `machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
const rows = { this: [], other: [] };
for (let r = 0; r < ROUNDS; r++) {
  if (other) rows.other.push(await runOnce(path.resolve(other)));
  rows.this.push(await runOnce(here));
}
if (ROUNDS > 1 || other) {
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  for (const [k, rs] of Object.entries(rows)) {
    if (rs.length === 0) continue;
    console.log(
      `${k === "this" ? "this build" : other}: cpu µs/entry ${rs.map((r) => r.cpuUsPerEntry).join(" ")} (median ${med(rs.map((r) => r.cpuUsPerEntry))}, sys ${med(rs.map((r) => r.sysUsPerEntry))}), wakeups/entry median ${med(rs.map((r) => r.wakeupsPerEntry))}, entries/s median ${med(rs.map((r) => r.entriesPerS))}, ack rtt p50 median ${med(rs.map((r) => r.ackRttP50))} ms`,
    );
  }
}
