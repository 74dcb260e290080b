#!/usr/bin/env node
// The broker's CPU cost per send with producer de-duplication on against off, measured so
// that a busy machine hits both alike: brokers in this one process (data under --dir,
// default /dev/shm), "on" with duplicateDetectionEnable=true and "off" with false (and, with
// --three, a second off broker: the A/A control), and rounds of sends given to each in turn
// (rotations forwards and back), each round timed by process.cpuUsage, user and system time
// apart. A round: decode each request frame, run the broker's send handler (header decode,
// checks, de-duplication when on, store put), encode the response — what broker-inproc.mjs
// does for one broker. Load from other processes (CPU steal, cache pollution) changes by the
// millisecond, so it falls on both sides of the comparison instead of on one run or the
// other, as it does between runs of broker-send.mjs.
//
// Fixed work: every round is a fixed number of messages and every case a fixed number of
// rounds (--rounds), the same for every side, so every broker has written the same bytes
// at any point of the run. On this VM a process's system time per message grows with the
// bytes it has written (page-cache copies into fresh guest memory), so a time-based run
// measures its later rounds dearer and a faster side writes more: never compare runs of
// different lengths, and read user and system time apart (de-duplication is user time only:
// its system time must come out as the A/A's).
//
// Keys: every send a fresh UNIQ_KEY from createUniqId() (a producer's counter order), written
// into the frames between rounds (not timed). The window starts full (--prefill, default
// the default 1 M entries) so every send also evicts, as in a long-running broker.
// Cases: "single" (SEND_MESSAGE_V2, one message per request, 128 requests per round) and
// "batch" (SEND_BATCH_MESSAGE of 32 messages, what the producer's auto-batching sends, 8
// requests per round).
// Prints per case and side: CPU µs per message, user and system; per compared pair (on/off,
// A/A off2/off, base/off): the ratio of the sums, and the median and quartiles of per-block
// ratios (blocks of --block rounds), for user+system and for user alone; and the extra CPU
// per message (on - off) in ns, user and system, median of blocks.
// THE COST PER SEND is the on/off ratio of user+system CPU, median of blocks, read next to
// the A/A's median and quartiles in the same run (its spread is what the gap must exceed).
//
// Usage: node --initial-old-space-size=64 bench/dedup-ab-inproc.mjs [--rounds 3000] [--dir /dev/shm]
//        [--cases single,batch] [--prefill 1000000] [--aa]   (build first: npx tsc -b)
//   --rounds N  rounds per side and case (fixed work; --seconds S instead: time-based, as before)
//   --block N   rounds per block (default 60)
//   --aa   both brokers off: the spread of two identical sides (what a ratio must exceed to mean anything)
//   --only on|off   rounds for one side only (a CPU profile of one side: --prof DIR); a list
//                   (--only off,base) runs those sides only: two builds' plain paths compared
//                   with each build's code run equally often (with more sides of this build
//                   than of the base, the base's rounds came out 6–24 % dearer in A/A-like
//                   runs: its separate copy of the send path's code is colder)
//   --prof DIR  a CPU profile (.cpuprofile, node:inspector) of the timed rounds only, not of
//               the prefill and warm-up (read it with bench/cpuprofile-share.mjs)
//   --off-first     make the off broker first (A/A runs showed a bias by creation order)
//   --three         a third broker, off too, in the same rounds: prints on/off and the A/A
//                   ratio off2/off of one run (the noise floor next to the gap it must be below)
//   --entries N     duplicateWindowMaxEntries of the brokers (default: the broker's default)
//   --base DIR      also a broker with de-dup on from another build of the repository (DIR,
//                   built), in the same rounds: prints its on/off next to this build's
//   --base-off      with --base: the base build's broker has de-dup off (the plain path of
//                   this build against the base's: base/off is then base-off over this off)
//   --swap          the on and off sides swap brokers every round: two brokers, both made with
//                   de-dup on and prefilled, one serving the on side's round with its detector
//                   and the other the off side's with its detector switched off (the send
//                   processor's), the other way round in the next round. Whatever differs
//                   between two broker instances of one process (in A/A runs: up to ~8 %, by
//                   creation order or memory placement) then falls on both sides. With
//                   --three, the A/A control is two more brokers (off) swapped the same way;
//                   with --base, two brokers of the base build used in turn.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { inprocConnection } from "./lib/inproc.mjs";

const { values: opt } = parseArgs({
  options: {
    seconds: { type: "string" },
    rounds: { type: "string", default: "3000" },
    block: { type: "string", default: "60" },
    prof: { type: "string" },
    "base-off": { type: "boolean", default: false },
    swap: { type: "boolean", default: false },
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
  const conn = inprocConnection();
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

const quantile = (v, q) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(q * v.length))];
const median = (v) => quantile(v, 0.5);
const only = opt.only?.split(",");

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
if (opt.swap) {
  on = await openBroker(!opt.aa);
  off = await openBroker(!opt.aa);
} else if (opt["off-first"]) {
  off = await openBroker(false);
  on = await openBroker(!opt.aa);
} else {
  on = await openBroker(!opt.aa);
  off = await openBroker(false);
}
const off2 = opt.three ? await openBroker(false) : undefined;
const off3 = opt.three && opt.swap ? await openBroker(false) : undefined;
/** --swap: the detector of a broker's send processor on or off (a bench may reach in). */
const setDedup = (b, enabled) => {
  const proc = b.broker.sendProcessor;
  b.detector ??= proc.dedup;
  proc.dedup = enabled ? b.detector : undefined;
};
const baseOn = baseBuild ? await openBroker(!opt["base-off"], baseBuild) : undefined;
// --swap: the base side too is two brokers used in turn (instance differences averaged).
const baseOn2 = baseBuild && opt.swap ? await openBroker(!opt["base-off"], baseBuild) : undefined;
try {
  // A full window: the same entries a long-running broker has (they are never looked up again).
  for (const [b, build] of [
    [on, here],
    ...(opt.swap ? [[off, here]] : []),
    [baseOn, baseBuild],
    [baseOn2, baseBuild],
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
    // A side: its brokers (--swap: two, used in turn, de-dup switched on or off), its frames.
    const sides = opt.swap
      ? { on: [[on, off], makeFrames(kind), true], off: [[off, on], makeFrames(kind), false] }
      : { on: [[on], makeFrames(kind)], off: [[off], makeFrames(kind)] };
    if (off2) sides.off2 = [off3 ? [off2, off3] : [off2], makeFrames(kind)];
    if (off3) sides.off3 = [[off3, off2], makeFrames(kind)];
    if (baseOn) sides.base = [baseOn2 ? [baseOn, baseOn2] : [baseOn], makeFrames(kind)];
    const brokerOf = (side, r) => {
      const [brokers, , dedup] = sides[side];
      const b = brokers[r % brokers.length];
      if (dedup !== undefined) setDedup(b, dedup);
      return b;
    };
    for (let i = 0; i < 50; i++) {
      for (const side of Object.keys(sides)) {
        const round = sides[side][1];
        renewKeys(round);
        await runRound(brokerOf(side, i), round);
      }
    }
    // ABBA for two sides; with more, each in each position alike (rotations, forwards and back).
    const names = Object.keys(sides);
    const orders = [];
    for (let r = 0; r < names.length; r++) {
      const rot = [...names.slice(r), ...names.slice(0, r)];
      orders.push(rot, [...rot].reverse());
    }
    const fixed = opt.seconds === undefined;
    const end = fixed ? Number.POSITIVE_INFINITY : performance.now() + Number(opt.seconds) * 1000;
    const maxRounds = fixed ? Number(opt.rounds) : Number.POSITIVE_INFINITY;
    const blockRounds = Number(opt.block);
    const zero = () => ({ on: 0, off: 0, off2: 0, off3: 0, base: 0 });
    const sumU = zero();
    const sumS = zero();
    let bU = zero();
    let bS = zero();
    const blocks = []; // per block: { u, s } of each side
    let rounds = 0;
    const session = opt.prof ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 100 });
      await session.post("Profiler.start");
    }
    while (rounds < maxRounds && performance.now() < end) {
      for (const side of orders[rounds % orders.length]) {
        if (only && !only.includes(side)) continue;
        const round = sides[side][1];
        const b = brokerOf(side, rounds);
        renewKeys(round);
        const c0 = process.cpuUsage();
        await runRound(b, round);
        const c = process.cpuUsage(c0);
        sumU[side] += c.user;
        sumS[side] += c.system;
        bU[side] += c.user;
        bS[side] += c.system;
      }
      rounds++;
      if (rounds % blockRounds === 0) {
        blocks.push({ u: bU, s: bS });
        bU = zero();
        bS = zero();
      }
    }
    if (session) {
      const { profile } = await session.post("Profiler.stop");
      mkdirSync(opt.prof, { recursive: true });
      const file = join(opt.prof, `${kind}-${opt.only ?? "all"}-${process.pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      console.log(`profile of the timed rounds: ${file}`);
    }
    const perMsg = sides.on[1].messages;
    const msgs = rounds * perMsg;
    const us = (v) => (v / msgs).toFixed(3);
    const line = [
      `${kind.padEnd(6)} ${rounds} rounds of ${perMsg} messages, ${blocks.length} blocks of ${blockRounds}`,
    ];
    for (const side of Object.keys(sides)) {
      if (only && !only.includes(side)) continue;
      line.push(
        `  ${side.padEnd(4)} ${us(sumU[side] + sumS[side])} µs/msg (user ${us(sumU[side])}, sys ${us(sumS[side])})` +
          (blocks.length >= 2
            ? `; sys first block ${(blocks[0].s[side] / (blockRounds * perMsg)).toFixed(3)}, last ${(blocks.at(-1).s[side] / (blockRounds * perMsg)).toFixed(3)}`
            : ""),
      );
    }
    const pair = (a, label, o = "off") => {
      if (!sides[a] || blocks.length === 0 || (only && !(only.includes(a) && only.includes(o)))) return;
      const tot = blocks.map((x) => (x.u[a] + x.s[a]) / (x.u[o] + x.s[o]));
      const usr = blocks.map((x) => x.u[a] / x.u[o]);
      const dU = blocks.map((x) => ((x.u[a] - x.u[o]) / (blockRounds * perMsg)) * 1000);
      const dS = blocks.map((x) => ((x.s[a] - x.s[o]) / (blockRounds * perMsg)) * 1000);
      const q = (v, d = 4) =>
        `${median(v).toFixed(d)} [${quantile(v, 0.25).toFixed(d)}–${quantile(v, 0.75).toFixed(d)}]`;
      line.push(
        `  ${label.padEnd(10)} total ${((sumU[a] + sumS[a]) / (sumU[o] + sumS[o])).toFixed(4)}, block median [quartiles] ${q(tot)}; user ${(sumU[a] / sumU[o]).toFixed(4)}, blocks ${q(usr)}; extra ns/msg user ${q(dU, 0)}, sys ${q(dS, 0)}`,
      );
    };
    pair("on", "on/off");
    if (off3) pair("off2", "A/A off2/off3", "off3");
    else pair("off2", "A/A off2");
    pair("base", opt["base-off"] ? "baseOff" : "base on");
    line.push(`  load ${load()}`);
    console.log(line.join("\n"));
  }
} finally {
  await on.broker.shutdown();
  await off.broker.shutdown();
  await off2?.broker.shutdown();
  await off3?.broker.shutdown();
  await baseOn?.broker.shutdown();
  await baseOn2?.broker.shutdown();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
