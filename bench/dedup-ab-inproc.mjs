#!/usr/bin/env node
// The broker's CPU cost per send with producer de-duplication on against off, measured so
// that a busy machine hits both alike: TWO brokers in this one process (data under --dir,
// default /dev/shm), A with duplicateDetectionEnable=true and B with false, and rounds of
// sends given to A and B in turn (ABBA order), each round timed by process.cpuUsage. A
// round: decode each request frame, run the broker's send handler (header decode, checks,
// de-duplication when on, store put), encode the response — what broker-inproc.mjs does
// for one broker. Load from other processes (CPU steal, cache pollution) changes by the
// millisecond, so it falls on both sides of the comparison instead of on one run or the
// other, as it does between runs of broker-send.mjs.
//
// Keys: every send a fresh UNIQ_KEY from createUniqId() (a producer's counter order), written
// into the frames between rounds (not timed). The window starts full (--prefill, default
// the default 1 M entries) so every send also evicts, as in a long-running broker.
// Cases: "single" (SEND_MESSAGE_V2, one message per request, 128 requests per round) and
// "batch" (SEND_BATCH_MESSAGE of 32 messages, what the producer's auto-batching sends, 8
// requests per round).
// Prints per case: CPU µs per message for on and off, their ratio (sum over all rounds), the
// median of per-block ratios (blocks of 50 round pairs), and the machine.
//
// Usage: node --initial-old-space-size=64 bench/dedup-ab-inproc.mjs [--seconds 20] [--dir /dev/shm]
//        [--cases single,batch] [--prefill 1000000] [--aa]   (build first: npx tsc -b)
//   --aa   both brokers off: the spread of two identical sides (what a ratio must exceed to mean anything)
//   --only on|off   rounds for one side only (a CPU profile of one side: node --cpu-prof ...)
//   --off-first     make the off broker first (A/A runs showed a bias by creation order)
//   --three         a third broker, off too, in the same rounds: prints on/off and the A/A
//                   ratio off2/off of one run (the noise floor next to the gap it must be below)
//   --entries N     duplicateWindowMaxEntries of the brokers (default: the broker's default)
//   --base DIR      also a broker with de-dup on from another build of the repository (DIR,
//                   built), in the same rounds: prints its on/off next to this build's
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    seconds: { type: "string", default: "20" },
    dir: { type: "string", default: "/dev/shm" },
    cases: { type: "string", default: "single,batch" },
    prefill: { type: "string", default: "1000000" },
    aa: { type: "boolean", default: false },
    only: { type: "string" },
    "off-first": { type: "boolean", default: false },
    three: { type: "boolean", default: false },
    base: { type: "string" },
    entries: { type: "string" },
  },
});
const P = await import("../packages/protocol/dist/src/index.js");
const here = { ...(await import("../packages/broker/dist/src/index.js")) };
Object.assign(here, await import("../packages/broker/dist/src/dedup/DuplicateWindow.js"));
const baseBuild = opt.base
  ? {
      ...(await import(pathToFileURL(join(opt.base, "packages/broker/dist/src/index.js")).href)),
      ...(await import(
        pathToFileURL(join(opt.base, "packages/broker/dist/src/dedup/DuplicateWindow.js")).href
      )),
    }
  : undefined;

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const TOPIC = "AbTopic";
const dirs = [];

async function openBroker(dedup, build = here) {
  const { BrokerController, loadBrokerConfig } = build;
  const data = mkdtempSync(join(opt.dir, "tidemq-dedup-ab-"));
  dirs.push(data);
  const { config } = await loadBrokerConfig({
    namesrvAddr: "127.0.0.1:1",
    listenPort: 0,
    overrides: {
      brokerIP1: "127.0.0.1",
      storePathRootDir: data,
      autoCreateTopicEnable: true,
      flushDiskType: "ASYNC_FLUSH",
      registerNameServerPeriod: 3_600_000,
      duplicateDetectionEnable: dedup,
      duplicateSnapshotIntervalSeconds: 0,
      ...(opt.entries ? { duplicateWindowMaxEntries: Number(opt.entries) } : {}),
    },
  });
  const broker = new BrokerController(config, { logger });
  await broker.start().catch(() => undefined);
  const handlers = broker.context.server.handlers; // private in TypeScript; a bench may look
  const conn = {
    id: 1,
    remoteAddress: "127.0.0.1",
    remotePort: 50000,
    localPort: 1,
    closed: false,
    send() {},
    invoke: () => Promise.reject(new Error("no")),
    invokeOneway: () => Promise.resolve(),
    close() {},
    onClose() {},
  };
  const res = await handlers.get(P.RequestCode.UPDATE_AND_CREATE_TOPIC)(
    P.createRequest(P.RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: TOPIC,
      defaultTopic: "TBW102",
      readQueueNums: 1,
      writeQueueNums: 1,
      perm: 6,
      topicFilterType: "SINGLE_TAG",
      topicSysFlag: 0,
      order: false,
    }),
    conn,
  );
  if (res.code !== 0) throw new Error(`create topic: ${res.remark}`);
  return { broker, handlers, conn };
}

/** Frames of one round and where their UNIQ_KEYs are (rewritten before each round). */
function makeFrames(kind) {
  const frames = [];
  const spots = [];
  const requests = kind === "batch" ? 8 : 128;
  for (let r = 0; r < requests; r++) {
    const n = kind === "batch" ? 32 : 1;
    const uniqs = Array.from({ length: n }, () => P.createUniqId());
    const body =
      kind === "batch"
        ? P.encodeBatchBody(
            uniqs.map((u) => ({
              flag: 0,
              body: Buffer.alloc(500, 97),
              properties: { TAGS: "bench", UNIQ_KEY: u },
            })),
          )
        : Buffer.alloc(500, 97);
    const header = P.sendHeaderToV2({
      producerGroup: "bench_p",
      topic: TOPIC,
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: P.encodeProperties(
        kind === "batch" ? { WAIT: "true" } : { TAGS: "bench", WAIT: "true", UNIQ_KEY: uniqs[0] },
      ),
      reconsumeTimes: 0,
      unitMode: false,
      batch: kind === "batch",
    });
    const code = kind === "batch" ? P.RequestCode.SEND_BATCH_MESSAGE : P.RequestCode.SEND_MESSAGE_V2;
    const req = P.createRequest(code, header, body, { serializeType: 1 });
    req.opaque = 7;
    const frame = P.encodeFrame(req).subarray(4);
    for (const u of uniqs) spots.push([frame, frame.indexOf(u)]);
    frames.push(frame);
  }
  return { frames, spots, messages: spots.length };
}

/** Fresh keys, as a producer makes them (createUniqId: a counter at the end). Not timed. */
function renewKeys(round) {
  for (const [frame, at] of round.spots) frame.write(P.createUniqId(), at, "latin1");
}

async function runRound(b, round) {
  const pending = [];
  for (const f of round.frames) {
    const req = P.decodeFrame(f);
    pending.push(
      Promise.resolve(b.handlers.get(req.code)(req, b.conn)).then((res) => P.encodeFrameParts(res)),
    );
  }
  const parts = await Promise.all(pending);
  for (const p of parts) {
    const res = P.decodeFrame(p[0].subarray(4));
    if (res.code !== 0) throw new Error(`send: ${res.code} ${res.remark}`);
  }
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const machine = `${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, node ${process.version}`;
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
console.log(`machine: ${machine}, load ${load()}`);
// --aa: both brokers off (an A/A run: how far apart two identical sides come out).
// --off-first: the off broker is made first (the batch case showed a bias for the broker made
// second even in A/A runs: run both orders).
let on;
let off;
if (opt["off-first"]) {
  off = await openBroker(false);
  on = await openBroker(!opt.aa);
} else {
  on = await openBroker(!opt.aa);
  off = await openBroker(false);
}
const off2 = opt.three ? await openBroker(false) : undefined;
const baseOn = baseBuild ? await openBroker(true, baseBuild) : undefined;
try {
  // A full window: the same entries a long-running broker has (they are never looked up again).
  for (const [b, build] of [
    [on, here],
    [baseOn, baseBuild],
  ]) {
    const window = b?.broker.dedup?.window;
    if (!window) continue;
    const prefill = Math.min(Number(opt.prefill), b.broker.config.duplicateWindowMaxEntries);
    const now = Date.now();
    // Keys as a long-running broker holds them: entered by key (addUniq, where the build has
    // it: entries by hash alone would keep its producer runs off until they left the window).
    for (let i = 0; i < prefill; i++)
      if (window.addUniq) window.addUniq(TOPIC, P.createUniqId(), i * 600, now);
      else window.add(build.hashKey(TOPIC, P.createUniqId()), build.hashHi(), i * 600, now);
    console.log(`window: ${window.size} entries prefilled, ${(window.bytes / 1048576).toFixed(1)} MiB`);
  }
  if (opt.aa) console.log("A/A: both brokers off");
  for (const kind of opt.cases.split(",")) {
    const sides = { on: [on, makeFrames(kind)], off: [off, makeFrames(kind)] };
    if (off2) sides.off2 = [off2, makeFrames(kind)];
    if (baseOn) sides.base = [baseOn, makeFrames(kind)];
    for (let i = 0; i < 50; i++) {
      for (const [b, round] of Object.values(sides)) {
        renewKeys(round);
        await runRound(b, round);
      }
    }
    // ABBA for two sides; with more, each in each position alike (rotations, forwards and back).
    const names = Object.keys(sides);
    const orders = [];
    for (let r = 0; r < names.length; r++) {
      const rot = [...names.slice(r), ...names.slice(0, r)];
      orders.push(rot, [...rot].reverse());
    }
    const end = performance.now() + Number(opt.seconds) * 1000;
    const zero = () => ({ on: 0, off: 0, off2: 0, base: 0 });
    const sum = zero();
    let rounds = 0;
    const blockRatios = [];
    const blockAa = [];
    const blockBase = [];
    let block = zero();
    while (performance.now() < end) {
      for (const side of orders[rounds % orders.length]) {
        if (opt.only && side !== opt.only) continue;
        const [b, round] = sides[side];
        renewKeys(round);
        const c0 = cpuUs();
        await runRound(b, round);
        const us = cpuUs() - c0;
        sum[side] += us;
        block[side] += us;
      }
      rounds++;
      if (rounds % 60 === 0) {
        blockRatios.push(block.on / block.off);
        blockAa.push(block.off2 / block.off);
        blockBase.push(block.base / block.off);
        block = zero();
      }
    }
    const msgs = rounds * sides.on[1].messages;
    const med = (v) => (v.length > 0 ? median(v).toFixed(4) : "-");
    console.log(
      `${kind.padEnd(6)} ${rounds} rounds of ${sides.on[1].messages} messages: on ${(sum.on / msgs).toFixed(3)} µs/msg, off ${(sum.off / msgs).toFixed(3)} µs/msg, on/off ${(sum.on / sum.off).toFixed(4)} (median of ${blockRatios.length} blocks ${med(blockRatios)})` +
        (off2
          ? `; A/A off2 ${(sum.off2 / msgs).toFixed(3)} µs/msg, off2/off ${(sum.off2 / sum.off).toFixed(4)} (median ${med(blockAa)})`
          : "") +
        (baseOn
          ? `; base build on ${(sum.base / msgs).toFixed(3)} µs/msg, base/off ${(sum.base / sum.off).toFixed(4)} (median ${med(blockBase)})`
          : "") +
        `, load ${load()}`,
    );
  }
} finally {
  await on.broker.shutdown();
  await off.broker.shutdown();
  await off2?.broker.shutdown();
  await baseOn?.broker.shutdown();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
