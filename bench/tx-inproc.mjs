#!/usr/bin/env node
// The broker's CPU cost of a transactional send (half + commit) against a plain batched send,
// without sockets or other processes (bench/broker-inproc.mjs's method): a BrokerController in
// this process (ASYNC_FLUSH, data under --dir, default /dev/shm), requests encoded as frames,
// then per round: decode each frame, run the registered handler, encode the answer frame.
//   plain  SEND_BATCH_MESSAGE of 64 × 500 B, 16 at a time, --messages per round   (per message)
//   tx     SEND_HALF_BATCH of 64 halves, then one END_TRANSACTION_BATCH committing them,
//          4 such pairs at a time (the end batch built from the half batch's answer),
//          --transactions per round                                              (per transaction)
// Reports user and system CPU µs per message / transaction separately and their sum
// (process.cpuUsage: other load on the machine matters less than for wall-clock rates), and
// the ratio, alternating the cases --rounds times (plain, tx, plain, tx, ...).
// Rounds are a fixed amount of work, not a time: on this VM the system time per message grows
// with the bytes a process has written to the page cache (from ~0.3 µs to ~2 µs per plain
// message after ~2 GB), so a time-based round of a faster case wrote more bytes and made the
// later rounds dearer. For the same reason every --fresh rounds of each case run on a new
// broker with a new store directory (the old one is shut down and its files removed), which
// keeps a broker's bytes at about --messages + 2.5 x --transactions x 600 B per round.
// Every message carries a UNIQ_KEY made new each batch.
// --halves single: each half its own SEND_MESSAGE_V2 frame (what a producer without
// SEND_HALF_BATCH sends; a broker without it can be measured this way too).
// --root DIR: measure the build under DIR (another worktree or /tmp/base10; default this one),
// so A/B pairs of builds can alternate in separate processes with the same bench.
// Usage: node bench/tx-inproc.mjs [--messages 786432] [--transactions 131072] [--rounds 3]
//          [--fresh 1] [--dir /dev/shm] [--halves batch|single] [--root DIR] [--alloc] [--json]
// --alloc: also bytes allocated per message / transaction (sampled heap profile), steady under load.
// --json: one JSON line with every round's figures after the table (for scripts pairing runs).
// Env: TXPROF_INPROC=1 with node --cpu-prof: only the tx case (a profile of the broker's tx path).
// TXALLOC_TOP=N: list the N biggest allocation sites with --alloc (default 8).
// The broker runs in this process, so the bench re-runs itself with the heap flag the tidemq bin
// starts brokers with (--initial-old-space-size=64) unless given; with --cpu-prof give it
// yourself (node --initial-old-space-size=64 --cpu-prof ...) for a single profile.
// Build first: npx tsc -b
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { commitBatchFrame, halfBatchRequest, inprocConnection } from "./lib/inproc.mjs";

if (!process.execArgv.some((a) => a.startsWith("--initial-old-space-size"))) {
  // Without it the figures measure V8's heap heuristics, not the broker (GC ~21 % vs ~17 %).
  const args = [...process.execArgv, "--initial-old-space-size=64", fileURLToPath(import.meta.url)];
  const r = spawnSync(process.execPath, [...args, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}

const { values: opt } = parseArgs({
  options: {
    messages: { type: "string", default: "786432" },
    transactions: { type: "string", default: "131072" },
    rounds: { type: "string", default: "3" },
    fresh: { type: "string", default: "1" },
    root: { type: "string" },
    json: { type: "boolean", default: false },
    dir: { type: "string", default: "/dev/shm" },
    halves: { type: "string", default: "batch" },
    alloc: { type: "boolean", default: false },
  },
});
const root = opt.root ? pathToFileURL(`${resolve(opt.root)}/`) : new URL("../", import.meta.url);
const P = await import(new URL("packages/protocol/dist/src/index.js", root).href);
const { BrokerController, loadBrokerConfig } = await import(
  new URL("packages/broker/dist/src/index.js", root).href
);
const { createLogger } = await import(new URL("packages/remoting/dist/src/index.js", root).href);
const logger = createLogger("inproc", "warn");

const conn = inprocConnection();
const TOPIC = "TxInprocTopic";
/** The broker the rounds talk to: started by freshBroker, shut down and removed by dropBroker. */
let broker;
let data;
let handlers;

async function freshBroker() {
  data = mkdtempSync(join(opt.dir, "tidemq-txinproc-"));
  const { config } = await loadBrokerConfig({
    namesrvAddr: "127.0.0.1:1",
    listenPort: 0,
    overrides: {
      brokerIP1: "127.0.0.1",
      storePathRootDir: data,
      autoCreateTopicEnable: true,
      flushDiskType: "ASYNC_FLUSH",
      registerNameServerPeriod: 3_600_000,
    },
  });
  broker = new BrokerController(config, { logger });
  await broker.start().catch(() => undefined);
  handlers = broker.context.server.handlers; // private in TypeScript; a bench may look
  const created = await handlers.get(P.RequestCode.UPDATE_AND_CREATE_TOPIC)(
    P.createRequest(P.RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: TOPIC,
      defaultTopic: "TBW102",
      readQueueNums: 4,
      writeQueueNums: 4,
      perm: 6,
      topicFilterType: "SINGLE_TAG",
      topicSysFlag: 0,
      order: false,
    }),
    conn,
  );
  if (created.code !== 0) throw new Error(`create topic: ${created.remark}`);
}

async function dropBroker() {
  await broker.shutdown();
  rmSync(data, { recursive: true, force: true });
}

/** Where each frame's UNIQ_KEYs are: [frame, position of the key's last 8 hex digits]. */
const uniqSpots = [];
function noteUniqs(frame, uniqs) {
  for (const u of uniqs) {
    const at = frame.indexOf(u);
    if (at < 0) throw new Error("UNIQ_KEY not found in the frame");
    uniqSpots.push([frame, at + u.length - 8]);
  }
}
let roundNo = 0;
function renewKeys() {
  const hex = (roundNo++).toString(16).padStart(8, "0");
  for (const [frame, at] of uniqSpots) frame.write(hex, at, "latin1");
}

function batchFrame(n) {
  const uniqs = Array.from({ length: n }, () => P.createUniqId());
  const body = P.encodeBatchBody(
    uniqs.map((u) => ({ flag: 0, body: Buffer.alloc(500, 97), properties: { TAGS: "bench", UNIQ_KEY: u } })),
  );
  const header = P.sendHeaderToV2({
    producerGroup: "bench_p",
    topic: TOPIC,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: P.encodeProperties({ WAIT: "true" }),
    reconsumeTimes: 0,
    unitMode: false,
    batch: true,
  });
  const req = P.createRequest(P.RequestCode.SEND_BATCH_MESSAGE, header, body, { serializeType: 1 });
  req.opaque = 7;
  const frame = P.encodeFrame(req).subarray(4);
  noteUniqs(frame, uniqs);
  return frame;
}

/** A SEND_HALF_BATCH of n halves as our producer sends them (TRAN_MSG, PGROUP, UNIQ_KEY, TAGS). */
function halfBatchFrame(n, queueId) {
  const uniqs = Array.from({ length: n }, () => P.createUniqId());
  const req = halfBatchRequest(P, TOPIC, uniqs, queueId);
  const frame = P.encodeFrame(req).subarray(4);
  noteUniqs(frame, uniqs);
  return frame;
}

/** The same halves as 64 SEND_MESSAGE_V2 frames (--halves single). */
function singleHalfFrames(n, queueId) {
  return Array.from({ length: n }, () => {
    const u = P.createUniqId();
    const header = P.sendHeaderToV2({
      producerGroup: "bench_tx",
      topic: TOPIC,
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId,
      sysFlag: 4,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: P.encodeProperties({ TAGS: "bench", UNIQ_KEY: u, TRAN_MSG: "true", PGROUP: "bench_tx" }),
    });
    const req = P.createRequest(P.RequestCode.SEND_MESSAGE_V2, header, Buffer.alloc(500, 97), {
      serializeType: 1,
    });
    req.opaque = 9;
    const frame = P.encodeFrame(req).subarray(4);
    noteUniqs(frame, [u]);
    return frame;
  });
}

/**
 * The commit-log offset of an offset msgId as our producer reads it (client Transaction.ts's
 * commitLogOffsetOf: the last 16 hex digits), so the bench's producer-side work per half is
 * what the producer does, not decodeOffsetMsgId's Buffer and host string.
 */
function commitLogOffsetOf(msgId) {
  const n = msgId.length;
  if (n === 32 || n === 56) {
    const offset = Number.parseInt(msgId.slice(n - 16), 16);
    if (Number.isSafeInteger(offset)) return offset;
  }
  return P.decodeOffsetMsgId(msgId).commitLogOffset;
}

async function call(frame) {
  const req = P.decodeFrame(frame);
  const res = await handlers.get(req.code)(req, conn);
  const parts = P.encodeFrameParts(res);
  const back = P.decodeFrame(parts.length === 1 ? parts[0].subarray(4) : Buffer.concat(parts).subarray(4));
  if (back.code !== 0) throw new Error(`request ${req.code}: ${back.code} ${back.remark}`);
  return back;
}

async function plainRound(frames) {
  await Promise.all(frames.map(call));
}

async function txRound(frames) {
  await Promise.all(
    frames.map(async (f) => {
      const results = Array.isArray(f)
        ? (await Promise.all(f.map(call))).map((r) => ({
            code: r.code,
            msgId: r.extFields.msgId,
            queueOffset: Number(r.extFields.queueOffset),
          }))
        : P.decodeHalfBatchResults((await call(f)).body, 64);
      const entries = results.map((r) => {
        if (r.code !== 0) throw new Error(`half: ${r.code} ${r.remark}`);
        return {
          tranStateTableOffset: r.queueOffset,
          commitLogOffset: commitLogOffsetOf(r.msgId),
          commitOrRollback: 8,
        };
      });
      const ended = await call(commitBatchFrame(P, entries));
      for (const r of P.decodeEndTransactionResults(ended.body, 64))
        if (r.code !== 0) throw new Error(`end: ${r.code} ${r.remark}`);
    }),
  );
}

const cases = {
  plain: {
    run: plainRound,
    frames: Array.from({ length: 16 }, () => batchFrame(64)),
    per: 64 * 16,
    count: Number(opt.messages),
  },
  tx: {
    run: txRound,
    frames: Array.from({ length: 4 }, (_, q) =>
      opt.halves === "single" ? singleHalfFrames(64, q) : halfBatchFrame(64, q),
    ),
    per: 64 * 4,
    count: Number(opt.transactions),
  },
};
const only = process.env.TXPROF_INPROC ? ["tx"] : Object.keys(cases);
for (const name of only) {
  const c = cases[name];
  if (!(c.count >= c.per))
    throw new Error(`--${name === "tx" ? "transactions" : "messages"}: at least ${c.per}`);
  c.steps = Math.ceil(c.count / c.per); // a round is this many batches: the same work every round
}

/** One round of a case: its fixed number of batches; CPU µs per message / transaction. */
async function measure(name) {
  const c = cases[name];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < c.steps; i++) {
    renewKeys();
    await c.run(c.frames);
  }
  const cpu = process.cpuUsage(c0);
  const n = c.steps * c.per;
  return {
    user: cpu.user / n,
    sys: cpu.system / n,
    us: (cpu.user + cpu.system) / n,
    rate: n / ((performance.now() - t0) / 1000),
  };
}

async function warmUp() {
  for (const name of only) {
    for (let i = 0; i < 30; i++) {
      renewKeys();
      await cases[name].run(cases[name].frames);
    }
  }
}

const fresh = Math.max(1, Number(opt.fresh));
const got = Object.fromEntries(only.map((k) => [k, []]));
for (let r = 0; r < Number(opt.rounds); r++) {
  if (r % fresh === 0) {
    if (broker) await dropBroker();
    await freshBroker();
    await warmUp(); // the code is warm after the first broker; this is the new broker's own start-up
  }
  for (const name of only) got[name].push(await measure(name));
}
/**
 * --alloc: bytes allocated per message / transaction, from V8's sampling heap profiler with
 * objects the GC already collected included (the short-lived ones are most of it). Unlike CPU
 * time this hardly moves with other load on the machine, so it tells small changes apart.
 */
const allocs = {};
if (opt.alloc) {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  for (const name of only) {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 1024,
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true,
    });
    const c = cases[name];
    const n = c.steps * c.per;
    for (let i = 0; i < c.steps; i++) {
      renewKeys();
      await c.run(c.frames);
    }
    const { profile } = await session.post("HeapProfiler.stopSampling");
    const sites = new Map();
    let total = 0;
    const walk = (node) => {
      total += node.selfSize;
      if (node.selfSize > 0) {
        const f = node.callFrame;
        const where = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/packages\//, "")}:${f.lineNumber + 1}`;
        sites.set(where, (sites.get(where) ?? 0) + node.selfSize);
      }
      for (const child of node.children) walk(child);
    };
    walk(profile.head);
    allocs[name] = {
      perOp: total / n,
      top: [...sites]
        .sort((a, b) => b[1] - a[1])
        .slice(0, Number(process.env.TXALLOC_TOP ?? 8))
        .map(([k, v]) => [k, v / n]),
    };
  }
  session.disconnect();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `broker in-process (--initial-old-space-size=64), ASYNC_FLUSH, halves ${opt.halves === "single" ? "one SEND_MESSAGE_V2 each" : "in SEND_HALF_BATCH"}, data ${opt.dir}, build ${opt.root ?? "this worktree"}, ${opt.rounds} rounds per case (median) of ${only.map((k) => `${cases[k].steps * cases[k].per} ${k === "tx" ? "transactions" : "messages"}`).join(" / ")}, a fresh broker every ${fresh} round(s), node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}, load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(" ");
for (const name of only) {
  const per = name === "tx" ? "transaction" : "message";
  const g = got[name];
  console.log(
    `  ${name.padEnd(6)} CPU µs per ${per}: user ${median(g.map((x) => x.user)).toFixed(2)} + sys ${median(g.map((x) => x.sys)).toFixed(2)} = ${median(g.map((x) => x.us)).toFixed(2)}   rounds user: ${fmt(g.map((x) => x.user))}  sys: ${fmt(g.map((x) => x.sys))}  total: ${fmt(g.map((x) => x.us))}`,
  );
}
for (const [name, a] of Object.entries(allocs)) {
  console.log(
    `  ${name.padEnd(6)} ${a.perOp.toFixed(0).padStart(7)} bytes allocated per ${name === "tx" ? "transaction" : "message"} (sampled; the bench's own frame work included); most at:`,
  );
  for (const [where, bytes] of a.top) console.log(`           ${bytes.toFixed(0).padStart(6)}  ${where}`);
}
if (got.plain && got.tx) {
  const ratio = (k) => (median(got.plain.map((x) => x[k])) / median(got.tx.map((x) => x[k]))).toFixed(3);
  console.log(
    `  plain / tx CPU = ${ratio("us")} (user only ${ratio("user")}; the tx/plain throughput ratio if the broker's CPU were all that counted)`,
  );
}
if (opt.json) console.log(JSON.stringify({ build: opt.root ?? ".", load: os.loadavg()[0], got }));
await dropBroker();
