#!/usr/bin/env node
// Transactional send throughput as a ratio of plain sends, in the same run: a NameServer +
// broker in a child process (fresh temp dir, ASYNC_FLUSH unless --sync), one producer process
// (this one) with a window of in-flight operations. Phases alternate (plain, tx, plain, tx …)
// so drift of the machine hits both alike:
//   plain        producer.send(msg)                      (autoBatch on: the default producer)
//   plain-single producer.send(msg) with autoBatch off   (one request per message, as a half is)
//   tx           beginTransaction, send(msg, tx), commit  (half + END_TRANSACTION), on the default
//                producer (autoBatch on): the halves of one turn share a SEND_HALF_BATCH request
//                and the commits an END_TRANSACTION_BATCH (TXSINGLE=1: the autoBatch-off producer,
//                one request per half)
// Prints msg/s per phase kind (median of rounds), tx / plain and tx / plain-single, and the
// machine.
//
// Usage: node bench/tx-throughput.mjs [--window 64] [--seconds 4] [--rounds 3] [--size 500] [--sync] [--json]
// Env: TX_ONLY=1 runs the tx phase alone; BROKER_NODE_OPTS="--cpu-prof --cpu-prof-dir=DIR"
// profiles the broker; TXPROF=1 first prints sequential latencies (half, commit; plain;
// half alone), TXGAP=ms pauses that long after each commit.
// Build first: npx tsc -b
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { benchBroker } from "./lib/benchBroker.mjs";
import { createRoutedTopic } from "./lib/common.mjs";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const dist = (pkg) => new URL(`packages/${pkg}/dist/src/index.js`, `file://${REPO}`).href;
const { values: opt } = parseArgs({
  options: {
    window: { type: "string", default: "64" },
    seconds: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    size: { type: "string", default: "500" },
    sync: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const WINDOW = Number(opt.window);
const SECONDS = Number(opt.seconds);
const ROUNDS = Number(opt.rounds);
const body = Buffer.alloc(Number(opt.size), "x");
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(`[error] ${m}`) };

const dir = mkdtempSync(join(os.tmpdir(), "tidemq-txbench-"));
const broker = benchBroker({
  dir,
  flush: opt.sync ? "SYNC_FLUSH" : "ASYNC_FLUSH",
  nodeOpts: (process.env.BROKER_NODE_OPTS ?? "").split(" ").filter(Boolean),
});
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const startBroker = () => broker.start();
const brokerCpuUs = () => broker.cpuUs();
const [nsAddr, brokerAddr] = await startBroker();

const { Admin, Producer } = await import(dist("client"));
const TOPIC = "TxBench";
const admin = new Admin({ endpoints: nsAddr, logger: quiet });
await createRoutedTopic(admin, TOPIC, brokerAddr);
const mk = (autoBatch) =>
  new Producer({
    endpoints: nsAddr,
    producerGroup: `TxBench${autoBatch ? "B" : "S"}`,
    topic: TOPIC,
    autoBatch,
    logger: quiet,
    checker: { check: () => "COMMIT" },
  });
const batched = mk(true);
const single = mk(false);
await batched.startup();
await single.startup();

const only = process.env.TX_ONLY;
const txProducer = process.env.TXSINGLE ? single : batched;
const ops = only
  ? {
      tx: async () => {
        const tx = txProducer.beginTransaction();
        await txProducer.send({ topic: TOPIC, body }, tx);
        await tx.commit();
      },
    }
  : {
      plain: () => batched.send({ topic: TOPIC, body }),
      "plain-single": () => single.send({ topic: TOPIC, body }),
      tx: async () => {
        const tx = txProducer.beginTransaction();
        await txProducer.send({ topic: TOPIC, body }, tx);
        await tx.commit();
      },
    };

async function phase(name, seconds) {
  const op = ops[name];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  const lane = async () => {
    while (Date.now() < end) {
      await op();
      n++;
    }
  };
  const cpu0 = await brokerCpuUs();
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: WINDOW }, lane));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = (await brokerCpuUs()) - cpu0;
  const own = process.cpuUsage(own0);
  cpuPerMsg[name].push(cpu / n);
  clientCpuPerMsg[name].push((own.user + own.system) / n);
  return n / s;
}
const cpuPerMsg = { plain: [], "plain-single": [], tx: [] };
const clientCpuPerMsg = { plain: [], "plain-single": [], tx: [] };

for (const name of Object.keys(ops)) await phase(name, 1); // warm-up
if (process.env.TXPROF) {
  const t = [];
  for (let i = 0; i < 300; i++) {
    const a = performance.now();
    const tx = single.beginTransaction();
    await single.send({ topic: TOPIC, body }, tx);
    const b = performance.now();
    await tx.commit();
    t.push([b - a, performance.now() - b]);
    if (process.env.TXGAP) await new Promise((r) => setTimeout(r, Number(process.env.TXGAP)));
  }
  console.log("half ms, commit ms (p50 by commit):", t.sort((x, y) => x[1] - y[1])[150]);
  const u = [];
  for (let i = 0; i < 300; i++) {
    const a = performance.now();
    await single.send({ topic: TOPIC, body });
    u.push(performance.now() - a);
  }
  console.log("plain ms p50:", u.sort((x, y) => x - y)[150]);
  const w = [];
  for (let i = 0; i < 300; i++) {
    const a = performance.now();
    await single.send({ topic: TOPIC, body }, single.beginTransaction());
    w.push(performance.now() - a);
  }
  console.log("half-only ms p50:", w.sort((x, y) => x - y)[150]);
}
for (const k of Object.keys(cpuPerMsg)) {
  cpuPerMsg[k].length = 0;
  clientCpuPerMsg[k].length = 0;
}
const results = { plain: [], "plain-single": [], tx: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const name of Object.keys(ops)) results[name].push(await phase(name, SECONDS));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
const status = await import(dist("client")).then((c) => c.transactionStatus(admin, brokerAddr));
const out = {
  window: WINDOW,
  seconds: SECONDS,
  rounds: ROUNDS,
  size: body.length,
  flush: opt.sync ? "SYNC_FLUSH" : "ASYNC_FLUSH",
  msgPerSec: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v)])),
  perRound: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map(Math.round)])),
  brokerCpuUsPerMsg: Object.fromEntries(
    Object.entries(cpuPerMsg).map(([k, v]) => [k, v.length ? +median(v).toFixed(1) : null]),
  ),
  producerCpuUsPerMsg: Object.fromEntries(
    Object.entries(clientCpuPerMsg).map(([k, v]) => [k, v.length ? +median(v).toFixed(1) : null]),
  ),
  ratioTxToPlain: +(m.tx / m.plain).toFixed(3),
  ratioTxToPlainSingle: +(m.tx / m["plain-single"]).toFixed(3),
  halvesPendingAfter: status.pending,
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`,
};
await batched.shutdown();
await single.shutdown();
await admin.shutdown();
const stopBroker = () => broker.stop();
await stopBroker();
// Start-up over the log this run left: from the transaction-state checkpoint the clean stop
// wrote, then (the file removed) by reading every half and op record, as before checkpoints.
const [, , restartMs, halvesInLog] = await startBroker();
await stopBroker();
rmSync(join(dir, "config", "transactionState.json"), { force: true });
const [, , fullScanMs] = await startBroker();
await stopBroker();
out.restart = { ms: restartMs, halvesInLog, withoutCheckpointMs: fullScanMs };
rmSync(dir, { recursive: true, force: true });
if (opt.json) console.log(JSON.stringify(out));
else {
  console.log(
    `transactional send (half + commit) vs plain send, window ${WINDOW}, ${body.length} B, ${out.flush}, ${ROUNDS} x ${SECONDS} s per kind (median)`,
  );
  for (const k of Object.keys(out.msgPerSec))
    console.log(
      `  ${k.padEnd(13)} CPU per message: broker ${out.brokerCpuUsPerMsg[k]} µs, producer ${out.producerCpuUsPerMsg[k]} µs`,
    );
  for (const [k, v] of Object.entries(out.msgPerSec))
    console.log(`  ${k.padEnd(13)} ${String(v).padStart(7)} msg/s   rounds: ${out.perRound[k].join(" ")}`);
  console.log(`  tx / plain        = ${out.ratioTxToPlain}`);
  console.log(`  tx / plain-single = ${out.ratioTxToPlainSingle}`);
  console.log(`  halves pending after the run: ${out.halvesPendingAfter}`);
  console.log(
    `  broker restart over the run's log (${out.restart.halvesInLog} halves): ${out.restart.ms} ms from the checkpoint, ${out.restart.withoutCheckpointMs} ms without it (every record read)`,
  );
  console.log(`  machine: ${out.machine}`);
}
