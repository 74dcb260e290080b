#!/usr/bin/env node
// Producer de-duplication's own work per message, as the send path calls it: admit() of a
// request's messages, then stored() with the put's result (msgIds built as the store builds
// them), window full (1 M entries, evicting on every entry), fresh createUniqId keys in a
// producer's counter order, made as the broker makes them (utf8Slice of the request bytes).
// Cases: single sends and batches of 32. With --base DIR, the same for another build of the
// repository (DIR, built) in the same process, rounds alternating (ABBA), so load from other
// processes falls on both alike. CPU ns per message (process.cpuUsage), median over rounds.
//
// Usage: node bench/dedup-admission.mjs [--base DIR] [--rounds 40] [--entries 1000000]   (build first: npx tsc -b)
import os from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    base: { type: "string" },
    rounds: { type: "string", default: "200" },
    entries: { type: "string", default: "1000000" },
  },
});
const P = await import("../packages/protocol/dist/src/index.js");
const load = async (root) => ({
  ...(await import(pathToFileURL(join(root, "packages/broker/dist/src/dedup/DuplicateDetector.js")).href)),
  ...(await import(pathToFileURL(join(root, "packages/broker/dist/src/dedup/DuplicateWindow.js")).href)),
});
const builds = { this: await load(new URL("..", import.meta.url).pathname) };
if (opt.base) builds.base = await load(opt.base);

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const TOPIC = "AbTopic";
const PER_ROUND = 4096;
const entries = Number(opt.entries);
const host = "7F00000100002A9F";
const hex16 = (n) => n.toString(16).toUpperCase().padStart(16, "0");

function detectorOf(b) {
  // No send here is a resend: the log is never read.
  const d = new b.DuplicateDetector({
    windowSeconds: 600,
    maxEntries: entries,
    rebuildMaxBytes: 0,
    store: { lookMessageByOffset: async () => undefined },
    logger,
  });
  const now = Date.now();
  // By key where the build can (addUniq): entries by hash alone keep producer runs off.
  for (let i = 0; i < entries; i++)
    if (d.window.addUniq) d.window.addUniq(TOPIC, P.createUniqId(), i * 600, now);
    else d.window.add(b.hashKey(TOPIC, P.createUniqId()), b.hashHi(), i * 600, now);
  return { d, offset: entries * 600 };
}

/**
 * Requests as the broker has them: the UNIQ_KEY a utf8Slice of the request's bytes, and the
 * put's result (msgIds as the store makes them). Made before the timed part.
 */
function requests(s, size) {
  const out = [];
  for (let r = 0; r < PER_ROUND / size; r++) {
    const inputs = [];
    const msgIds = [];
    const first = s.offset;
    for (let i = 0; i < size; i++) {
      const b = Buffer.from(`UNIQ_KEY\u0001${P.createUniqId()}\u0002`, "latin1");
      inputs.push({ topic: TOPIC, queueId: 0, uniqKey: b.utf8Slice(9, 41), body: b });
      // Flat, as the response's encoding leaves it in the broker (a concatenation until read).
      const id = host + hex16(s.offset);
      id.charCodeAt(31);
      msgIds.push(id);
      s.offset += 600;
    }
    const result = {
      status: "PUT_OK",
      queueOffset: 0,
      commitLogOffset: first,
      msgIds,
      count: size,
      storeTimestamp: 0,
    };
    out.push({ inputs, result });
  }
  return out;
}

function round(s, reqs) {
  const now = Date.now();
  const c0 = process.cpuUsage();
  for (const { inputs, result } of reqs) {
    const ticket = s.d.admit(inputs, now);
    if (typeof ticket !== "number") throw new Error("a fresh key matched");
    s.d.stored(inputs, ticket, result);
  }
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / PER_ROUND;
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(
  `machine: ${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}`,
);
const state = Object.fromEntries(Object.entries(builds).map(([k, b]) => [k, detectorOf(b)]));
for (const size of [1, 32]) {
  const ns = Object.fromEntries(Object.keys(builds).map((k) => [k, []]));
  const names = Object.keys(builds);
  for (let r = 0; r < Number(opt.rounds) + 4; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const k of order) {
      const reqs = requests(state[k], size);
      const v = round(state[k], reqs);
      if (r >= 4) ns[k].push(v); // the first rounds warm up
    }
  }
  const line = names.map((k) => `${k} ${median(ns[k]).toFixed(0)} ns/msg`).join(", ");
  console.log(
    `${size === 1 ? "single" : `batch of ${size}`}: ${line} (median of ${ns.this.length} rounds of ${PER_ROUND} messages), load ${os.loadavg()[0].toFixed(1)}`,
  );
}
