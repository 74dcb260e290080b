#!/usr/bin/env node
// The PRODUCER's CPU per transactional send (beginTransaction, send(msg, tx), commit) beside its
// CPU per plain send (autoBatch on), with the broker in a child process (a NameServer + broker,
// ASYNC_FLUSH, the tidemq bin's heap flag) and the producer in this process, a window of
// operations in flight. CPU is this process's process.cpuUsage over a phase: only the client's
// work (and this bench's lanes) is counted, the broker's is not.
// --base DIR: also loads the client of another build (DIR/packages/client/dist) into this process
// and alternates the two in the same rounds against the same broker (phase order A B B A, so
// drift of the machine hits both alike); prints each pair and the medians of new / base.
// --count N: each timed phase does N operations (fixed work: the broker's page-cache costs grow
// with the bytes written, so a time-based phase that writes more makes later ones dearer);
// without it each phase runs --seconds.
// Usage: node bench/tx-producer-cpu.mjs [--base DIR] [--seconds 2 | --count N] [--rounds 5]
//        [--window 64] [--size 500] [--only tx|plain] [--json] [--alloc]
// --alloc: after the timed rounds, one more phase per build and kind under V8's sampling heap
// profiler (objects already collected included): bytes allocated per operation and the top
// sites. Steady under machine load, where CPU µs swing ±20 %.
// Build first: npx tsc -b
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { benchBroker } from "./lib/benchBroker.mjs";
import { createRoutedTopic } from "./lib/common.mjs";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const { values: opt } = parseArgs({
  options: {
    base: { type: "string" },
    seconds: { type: "string", default: "2" },
    count: { type: "string" },
    rounds: { type: "string", default: "5" },
    window: { type: "string", default: "64" },
    size: { type: "string", default: "500" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
    alloc: { type: "boolean", default: false },
  },
});
const SECONDS = Number(opt.seconds);
const COUNT = opt.count === undefined ? undefined : Number(opt.count);
const ROUNDS = Number(opt.rounds);
const WINDOW = Number(opt.window);
const body = Buffer.alloc(Number(opt.size), "x");
const dist = (root, pkg) => pathToFileURL(join(root, `packages/${pkg}/dist/src/index.js`)).href;
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(`[error] ${m}`) };

const dir = mkdtempSync(join(os.tmpdir(), "tidemq-txcpu-"));
const broker = benchBroker({ dir });
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const [nsAddr, brokerAddr] = await broker.start();

const TOPIC = "TxCpu";
const builds = [["new", REPO]];
if (opt.base) builds.unshift(["base", resolve(opt.base)]);
const sides = {};
for (const [name, root] of builds) {
  const { Admin, Producer } = await import(dist(root, "client"));
  if (!sides.admin) {
    const admin = new Admin({ endpoints: nsAddr, logger: quiet });
    await createRoutedTopic(admin, TOPIC, brokerAddr);
    sides.admin = admin;
  }
  const p = new Producer({
    endpoints: nsAddr,
    producerGroup: `TxCpu_${name}`,
    topic: TOPIC,
    logger: quiet,
    checker: { check: () => "COMMIT" },
  });
  await p.startup();
  sides[name] = {
    producer: p,
    tx: async () => {
      const tx = p.beginTransaction();
      await p.send({ topic: TOPIC, body }, tx);
      await tx.commit();
    },
    plain: () => p.send({ topic: TOPIC, body }),
  };
}

/**
 * One phase: `op` in WINDOW lanes for `seconds`, or `count` operations in all when given;
 * returns [CPU µs per op, ops/s, user µs per op, system µs per op].
 */
async function phase(op, seconds, count) {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  let left = count ?? Number.POSITIVE_INFINITY;
  const lane = async () => {
    while (count === undefined ? Date.now() < end : left-- > 0) {
      await op();
      n++;
    }
  };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WINDOW }, lane));
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return [(c.user + c.system) / n, n / s, c.user / n, c.system / n];
}

const kinds = opt.only ? [opt.only] : ["tx", "plain"];
const names = builds.map(([n]) => n);
for (const k of kinds) for (const n of names) await phase(sides[n][k], 1); // warm-up
let out_alloc;
const res = Object.fromEntries(names.map((n) => [n, Object.fromEntries(kinds.map((k) => [k, []]))]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? names : [...names].reverse();
  for (const k of kinds) for (const n of order) res[n][k].push(await phase(sides[n][k], SECONDS, COUNT));
}
if (opt.alloc) {
  const { Session } = await import("node:inspector/promises");
  const sess = new Session();
  sess.connect();
  await sess.post("HeapProfiler.enable");
  const alloc = {};
  for (const n of names) {
    alloc[n] = {};
    for (const k of kinds) {
      await sess.post("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMinorGC: true,
        includeObjectsCollectedByMajorGC: true,
      });
      const end = Date.now() + SECONDS * 1000;
      let count = 0;
      const op = sides[n][k];
      await Promise.all(
        Array.from({ length: WINDOW }, async () => {
          while (Date.now() < end) {
            await op();
            count++;
          }
        }),
      );
      const { profile } = await sess.post("HeapProfiler.stopSampling");
      const sites = new Map();
      let total = 0;
      const walk = (node) => {
        const bytes = node.selfSize;
        if (bytes > 0) {
          const f = node.callFrame;
          const where = `${f.functionName || "(anonymous)"} ${f.url.replace(/.*\/(packages|bench)\//, "$1/")}:${f.lineNumber + 1}`;
          sites.set(where, (sites.get(where) ?? 0) + bytes);
          total += bytes;
        }
        for (const c of node.children) walk(c);
      };
      walk(profile.head);
      alloc[n][k] = {
        bytesPerOp: Math.round(total / count),
        top: [...sites]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([w, b]) => [w, Math.round(b / count)]),
      };
    }
  }
  sess.disconnect();
  out_alloc = alloc;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = {
  window: WINDOW,
  seconds: COUNT === undefined ? SECONDS : undefined,
  count: COUNT,
  rounds: ROUNDS,
  size: body.length,
  producerCpuUsPerOp: {},
  userUsPerOp: {},
  sysUsPerOp: {},
  opsPerSec: {},
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model}, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}`,
};
for (const n of names) {
  out.producerCpuUsPerOp[n] = {};
  out.opsPerSec[n] = {};
  for (const k of kinds) {
    out.producerCpuUsPerOp[n][k] = res[n][k].map(([u]) => +u.toFixed(2));
    out.userUsPerOp[n] ??= {};
    out.sysUsPerOp[n] ??= {};
    out.userUsPerOp[n][k] = res[n][k].map(([, , u]) => +u.toFixed(2));
    out.sysUsPerOp[n][k] = res[n][k].map(([, , , sy]) => +sy.toFixed(2));
    out.opsPerSec[n][k] = res[n][k].map(([, s]) => Math.round(s));
  }
}
if (opt.base) {
  out.newOverBase = {};
  for (const k of kinds) {
    const ratios = (j) => res.new[k].map((r, i) => r[j] / res.base[k][i][j]);
    const summary = (xs) => ({ pairs: xs.map((x) => +x.toFixed(3)), median: +median(xs).toFixed(3) });
    out.newOverBase[k] = { ...summary(ratios(0)), user: summary(ratios(2)), sys: summary(ratios(3)) };
  }
}
if (out_alloc) out.allocation = out_alloc;
for (const n of names) await sides[n].producer.shutdown();
await sides.admin.shutdown();
await broker.stop();
if (opt.json) console.log(JSON.stringify(out));
else {
  console.log(
    `producer CPU per operation, window ${WINDOW}, ${body.length} B, ${ROUNDS} x ${COUNT === undefined ? `${SECONDS} s` : `${COUNT} ops`} per phase`,
  );
  for (const n of names)
    for (const k of kinds)
      console.log(
        `  ${n.padEnd(5)} ${k.padEnd(6)} µs/op: ${out.producerCpuUsPerOp[n][k].join(" ")}   (median ${median(out.producerCpuUsPerOp[n][k])}; user ${out.userUsPerOp[n][k].join(" ")}; sys ${out.sysUsPerOp[n][k].join(" ")}; ops/s ${out.opsPerSec[n][k].join(" ")})`,
      );
  if (out.newOverBase)
    for (const k of kinds)
      console.log(
        `  new / base ${k.padEnd(6)} per pair: ${out.newOverBase[k].pairs.join(" ")}   median ${out.newOverBase[k].median}   (user ${out.newOverBase[k].user.pairs.join(" ")}, median ${out.newOverBase[k].user.median}; sys ${out.newOverBase[k].sys.pairs.join(" ")}, median ${out.newOverBase[k].sys.median})`,
      );
  if (out.allocation)
    for (const n of names)
      for (const k of kinds) {
        const a = out.allocation[n][k];
        console.log(`  ${n} ${k}: ${a.bytesPerOp} B allocated per op; top sites (B/op):`);
        for (const [w, b] of a.top) console.log(`      ${String(b).padStart(6)}  ${w}`);
      }
  console.log(`  machine: ${out.machine}`);
}
