#!/usr/bin/env node
import { execFile } from "node:child_process";
// Replicated ×3 (DLedger, ack after majority fsync) beside one unreplicated SYNC_FLUSH broker, in
// one run: `tidemq bench producer` (500-byte messages, window 128, our client) and `tidemq bench
// consumer` for end-to-end latency. Usage: node bench/dledger-throughput.mjs [--seconds 20]
// [--relaxed] (adds a dLegerSyncFlush=false group). Prints figures and the machine.
import { readFileSync } from "node:fs";
import os from "node:os";
import { benchTool, Cluster, TIDEMQ } from "./dledgerCluster.mjs";

const argv = process.argv.slice(2);
const seconds = Number(argv[argv.indexOf("--seconds") + 1] || 20) || 20;
const relaxed = argv.includes("--relaxed");

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; else NaN). On a
 *  machine shared with other work, CPU per message is the figure the load does not distort. */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

async function run(label, opts) {
  const c = await Cluster.start(opts);
  try {
    if (opts.dledger !== false && !(await c.leader(30_000))) throw new Error(`${label}: no leader`);
    const topic = `Bench${Date.now()}`;
    const pids = c.replicas.map((r) => r.child.pid);
    const cpu0 = pids.map(cpuSeconds);
    // The topic exists and the consumer is subscribed before the producer starts: e2e latency
    // then measures delivery, not a backlog the consumer found at its start (that put ~2 s in
    // every p99 before).
    await new Promise((resolve, reject) =>
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
    const consumer = benchTool("consumer", [
      "-n",
      c.nsAddr,
      "-t",
      topic,
      "-g",
      `g${Date.now()}`,
      "--from",
      "first",
      "-d",
      String(seconds + 6),
    ]);
    await new Promise((r) => setTimeout(r, 3000)); // the consumer's start and first rebalance
    const producer = benchTool("producer", [
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
    const p = await producer;
    const cpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - cpu0[i], 0);
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
const rows = [];
rows.push(await run("DLedger ×3 (fsync before ack)", { size: 3 }));
if (relaxed)
  rows.push(
    await run("DLedger ×3 (dLegerSyncFlush=false)", { size: 3, extra: { dLegerSyncFlush: "false" } }),
  );
rows.push(await run("one broker SYNC_FLUSH", { size: 1, dledger: false }));
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
