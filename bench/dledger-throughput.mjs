#!/usr/bin/env node
import { execFile } from "node:child_process";
// Replicated ×3 (DLedger, ack after majority fsync) beside one unreplicated SYNC_FLUSH broker, in
// one run: `tidemq bench producer` (500-byte messages, window 128, our client) and `tidemq bench
// consumer` for end-to-end latency. Usage: node bench/dledger-throughput.mjs [--seconds 20]
// [--relaxed] (adds a dLegerSyncFlush=false group). Prints figures and the machine.
import { readdirSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { benchTool, Cluster, TIDEMQ } from "./dledgerCluster.mjs";

const argv = process.argv.slice(2);
const seconds = Number(argv[argv.indexOf("--seconds") + 1] || 20) || 20;
const relaxed = argv.includes("--relaxed");
// --logs DIR: every broker's output to DIR/<label>-n<i>.log (with TIDEMQ_DLEDGER_TRACE=1 and
// TIDEMQ_LOG_LEVEL=info, the leader's per-round trace lines).
const logRoot = argv.includes("--logs") ? argv[argv.indexOf("--logs") + 1] : undefined;
// --only dledger: skip the single-broker reference run (quicker A/B rounds).
const onlyDLedger = argv.includes("--only-dledger");
const noConsumer = argv.includes("--no-consumer");
// --warmup S: before the measured run, S seconds of the same load on another topic (its own
// producer and consumer), so the brokers' JIT has compiled the hot path: an 8 s run from
// cold spends a fifth of the leader's CPU in TurboFan (perf, dlrate.md). The measured
// producer and consumer are fresh processes either way.
const warmupS = argv.includes("--warmup") ? Number(argv[argv.indexOf("--warmup") + 1]) || 0 : 0;

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; else NaN). On a
 *  machine shared with other work, CPU per message is the figure the load does not distort. */
function cpuSeconds(pid, which = "both") {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    // utime, stime in clock ticks (USER_HZ 100)
    const u = Number(fields[11]);
    const s = Number(fields[12]);
    return (which === "user" ? u : which === "sys" ? s : u + s) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Voluntary context switches of all a process's threads so far (Linux; else NaN). */
function ctxSwitches(pid) {
  try {
    let n = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(
        readFileSync(`/proc/${pid}/task/${t}/status`, "utf8"),
      );
      if (m) n += Number(m[1]);
    }
    return n;
  } catch {
    return Number.NaN;
  }
}

/** Entries in the longest Raft index of the group (24-byte records, up to the first zero term
 *  should the file ever be preallocated; 0 when not DLedger). */
function raftEntries(c) {
  let n = 0;
  for (let i = 0; i < c.replicas.length; i++) {
    try {
      const b = readFileSync(join(c.dir, `n${i}`, "dledger", "index"));
      let k = 0;
      while ((k + 1) * 24 <= b.length && b.readDoubleBE(k * 24) > 0) k++;
      n = Math.max(n, k);
    } catch {
      // not a DLedger replica, or its own store root
    }
  }
  return n;
}

/** An 8-queue topic on the group (before its consumer subscribes). */
function createTopic(c, topic) {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [
        TIDEMQ,
        "admin",
        "updateTopic",
        "-n",
        c.nsAddr,
        "-c",
        "DefaultCluster",
        "-t",
        topic,
        "-r",
        "8",
        "-w",
        "8",
      ],
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

/** The measured load: 500-byte messages, window 128, 8 queues, for `seconds`. */
const produce = (c, topic, seconds) =>
  benchTool("producer", [
    "-n",
    c.nsAddr,
    "-t",
    topic,
    "-w",
    "128",
    "-s",
    "500",
    "-d",
    String(seconds),
    "-q",
    "8",
  ]);

/** A consumer of `topic` from its first message, for `seconds`. */
const consume = (c, topic, group, seconds) =>
  benchTool("consumer", ["-n", c.nsAddr, "-t", topic, "-g", group, "--from", "first", "-d", String(seconds)]);

/** --warmup: the measured load for `seconds` on its own topic, producer and consumer. */
async function warmUp(c, topic, seconds) {
  await createTopic(c, topic);
  const consumer = consume(c, topic, `w${Date.now()}`, seconds + 3);
  await new Promise((r) => setTimeout(r, 2000));
  await produce(c, topic, seconds);
  await consumer;
}

async function run(label, opts) {
  let logDir;
  if (logRoot) {
    logDir = join(logRoot, label.replace(/[^A-Za-z0-9]+/g, "-"));
    await mkdir(logDir, { recursive: true });
  }
  const c = await Cluster.start({ ...opts, logDir });
  try {
    if (opts.dledger !== false && !(await c.leader(30_000))) throw new Error(`${label}: no leader`);
    const topic = `Bench${Date.now()}`;
    // TIDEMQ_BENCH_WARMUP=S does the same (an --ab arm: warm vs cold in one run).
    const warm = Number(process.env.TIDEMQ_BENCH_WARMUP) || warmupS;
    if (warm > 0) await warmUp(c, `${topic}W`, warm);
    const pids = c.replicas.map((r) => r.child.pid);
    const cpu0 = pids.map((pid) => cpuSeconds(pid));
    const user0 = pids.map((pid) => cpuSeconds(pid, "user"));
    // The topic exists and the consumer is subscribed before the producer starts: e2e latency
    // then measures delivery, not a backlog the consumer found at its start (that put ~2 s in
    // every p99 before).
    await createTopic(c, topic);
    // --no-consumer: the producer alone (how much the consumer's CPU holds the group back).
    const consumer = noConsumer
      ? Promise.resolve({ e2e: { p50: null, p99: null }, received: 0, cpuSeconds: Number.NaN })
      : consume(c, topic, `g${Date.now()}`, seconds + 6);
    await new Promise((r) => setTimeout(r, 2000)); // the consumer's start and first rebalance
    // The group's idle CPU rate (ticks, heartbeats, timers), over 1 s with the consumer polling
    // and nothing to send: subtracted below to get the CPU the messages themselves cost.
    const idle0 = pids.map((pid) => cpuSeconds(pid));
    const idleT0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const idleRate =
      pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - idle0[i], 0) /
      ((performance.now() - idleT0) / 1000);
    const ctx0 = pids.map(ctxSwitches);
    const entries0 = raftEntries(c);
    const prodT0 = performance.now();
    const producer = produce(c, topic, seconds);
    const p = await producer;
    const prodSeconds = (performance.now() - prodT0) / 1000;
    const cpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpu0[i], 0);
    const cpuNow = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const idleNow = idle0.reduce((sum, x) => sum + x, 0);
    // Work CPU per 1,000 messages: the producer's run minus the idle rate over its duration.
    const workCpu = cpuNow - idleNow - idleRate * ((performance.now() - idleT0) / 1000);
    const ctx = pids.reduce((sum, pid, i) => sum + ctxSwitches(pid) - ctx0[i], 0);
    const entries = raftEntries(c) - entries0;
    void prodSeconds;
    // Per replica, user+sys (sys) CPU ms per 1,000 acknowledged messages: where the CPU goes.
    const perReplica = pids
      .map((pid, i) => {
        const all = cpuSeconds(pid) - cpu0[i];
        const sys = all - (cpuSeconds(pid, "user") - user0[i]);
        const k = 1e6 / Math.max(1, p.sent);
        return `${c.replicas[i].id}${c.replicas[i].role === "leader" ? "*" : ""} ${(all * k).toFixed(0)} (sys ${(sys * k).toFixed(0)})`;
      })
      .join(", ");
    const cons = await consumer;
    const row = {
      label,
      sendTps: p.tps,
      sent: p.sent,
      failed: p.sendFailed + p.responseFailed,
      rtP50: p.rt.p50,
      rtP99: p.rt.p99,
      e2eP50: cons.e2e.p50,
      e2eP99: cons.e2e.p99,
      received: cons.received,
      // Broker CPU (all replicas) per 1,000 acknowledged messages, over the producer's run
      // (the consumer's reads from the first replica's start included).
      cpuMsPer1k: Number(((cpu * 1000 * 1000) / Math.max(1, p.sent)).toFixed(1)),
      cpuPerReplica: perReplica,
      workCpuMsPer1k: Number(((workCpu * 1e6) / Math.max(1, p.sent)).toFixed(1)),
      idleCpuMsPerS: Number((idleRate * 1000).toFixed(1)),
      // The producer's and the consumer's CPU per 1,000 messages (they share the cores).
      producerCpuMsPer1k: Number(((p.cpuSeconds * 1e6) / Math.max(1, p.sent)).toFixed(1)),
      consumerCpuMsPer1k: Number(((cons.cpuSeconds * 1e6) / Math.max(1, p.sent)).toFixed(1)),
      // Voluntary context switches (all threads) of the brokers per 1,000 messages: wake-ups.
      wakeupsPer1k: Number(((ctx * 1000) / Math.max(1, p.sent)).toFixed(0)),
      // Raft entries the producer's run made and messages per entry: most of a replica's cost
      // is per entry (frames, fsyncs, wake-ups), so CPU per message moves with the entry size.
      entries,
      msgsPerEntry: entries > 0 ? Number((p.sent / entries).toFixed(1)) : null,
      workCpuMsPerEntry: entries > 0 ? Number(((workCpu * 1000) / entries).toFixed(2)) : null,
    };
    console.log(JSON.stringify(row));
    return row;
  } finally {
    await c.stop();
  }
}

console.log(
  `machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
// --ab "K=V K2=V2" [--rounds N]: an A/B of one build, alternating N times a DLedger run with
// those environment variables for the brokers (A, e.g. TIDEMQ_DLEDGER_EAGER_COMMIT=1) and one
// without (B); prints every pair and the medians. On a shared machine, pairs beat single runs.
const abArg = argv.includes("--ab") ? argv[argv.indexOf("--ab") + 1] : undefined;
if (abArg !== undefined) {
  const roundsN = Number(argv[argv.indexOf("--rounds") + 1] || 3) || 3;
  const vars = abArg
    .split(/\s+/)
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]);
  const arms = { A: [], B: [] };
  for (let i = 0; i < roundsN; i++) {
    for (const arm of ["A", "B"]) {
      const saved = vars.map(([k]) => [k, process.env[k]]);
      if (arm === "A") for (const [k, v] of vars) process.env[k] = v;
      try {
        arms[arm].push(await run(`DLedger ×3 ${arm}`, { size: 3 }));
      } catch (err) {
        console.log(`${arm}: run failed: ${err.message.split("\n")[0]}`);
      } finally {
        for (const [k, v] of saved) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0
      ? Number.NaN
      : s.length % 2
        ? s[(s.length - 1) / 2]
        : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  for (const arm of ["A", "B"]) {
    const rs = arms[arm];
    console.log(
      `${arm} (${arm === "A" ? abArg : "as built"}): msg/s ${rs.map((r) => r.sendTps).join(" ")}  median ${median(rs.map((r) => r.sendTps))}, send rt p99 median ${median(rs.map((r) => r.rtP99))} ms, e2e p99 median ${median(rs.map((r) => r.e2eP99))} ms, work cpu median ${median(rs.map((r) => r.workCpuMsPer1k))} ms/1k, ${median(rs.map((r) => r.workCpuMsPerEntry))} ms/entry, msgs/entry median ${median(rs.map((r) => r.msgsPerEntry))}, wakeups median ${median(rs.map((r) => r.wakeupsPer1k))}/1k, producer/consumer cpu median ${median(rs.map((r) => r.producerCpuMsPer1k))}/${median(rs.map((r) => r.consumerCpuMsPer1k))} ms/1k`,
    );
  }
  process.exit(0);
}
const rows = [];
rows.push(await run("DLedger ×3 (fsync before ack)", { size: 3 }));
if (relaxed)
  rows.push(
    await run("DLedger ×3 (dLegerSyncFlush=false)", { size: 3, extra: { dLegerSyncFlush: "false" } }),
  );
if (!onlyDLedger) rows.push(await run("one broker SYNC_FLUSH", { size: 1, dledger: false }));
const base = rows.at(-1).sendTps;
for (const r of rows) {
  console.log(
    `${r.label.padEnd(36)} ${String(r.sendTps).padStart(7)} msg/s acked (×${(r.sendTps / base).toFixed(2)})  send rt p50 ${r.rtP50} ms p99 ${r.rtP99} ms  e2e p50 ${r.e2eP50} ms p99 ${r.e2eP99} ms  failed ${r.failed}  broker cpu ${r.cpuMsPer1k} ms/1k msgs`,
  );
}
console.log(
  `load after: ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
