#!/usr/bin/env node
// Cost of producer de-duplication (broker duplicateDetectionEnable): ns per send for the
// window lookup + entry (admit) + its offset once stored (stored) at steady state (window full at duplicateWindowMaxEntries), memory
// (heap + array buffers) per remembered send, and the start-up rebuild time of a store holding N recent
// messages (MessageStore.forEachRecordSince + inserts). Also ns per consumer stats record
// (ConsumeStatsWindow, on the consume path of every message). Prints figures and the machine.
//
// Usage: node --expose-gc bench/dedup-window.mjs [--entries N] [--stored N]   (build first: npx tsc -b)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const imp = (p) => import(new URL(p, `file://${REPO}`).href);
const { values: opt } = parseArgs({
  options: { entries: { type: "string", default: "1000000" }, stored: { type: "string", default: "200000" } },
});
const { DuplicateDetector } = await imp("packages/broker/dist/src/dedup/DuplicateDetector.js");
const { ConsumeStatsWindow } = await imp("packages/client/dist/src/ConsumeStatsWindow.js");
const { MessageStore } = await imp("packages/store/dist/src/index.js");
const { createUniqId, encodeProperties } = await imp("packages/protocol/dist/src/index.js");
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const gc = globalThis.gc ?? (() => {});
/** Process CPU time (user + system), ns: wall clock would count time other processes ran. */
const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

const entries = Number(opt.entries);
const machine = `${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, node ${process.version}`;
console.log(`machine: ${machine}`);

// 1. Steady state: window at its bound, each send = one check (miss) + one record (insert + evict).
{
  // No send here is a resend, so the log is never read: a store that holds nothing will do.
  const store = { lookMessageByOffset: async () => undefined };
  // Memory: JS heap + array buffers (the window's arrays are reserved when it is made), and RSS.
  const mem = () => {
    const u = process.memoryUsage();
    return u.heapUsed + u.arrayBuffers;
  };
  gc();
  const heap0 = mem();
  const rss0 = process.memoryUsage().rss;
  const d = new DuplicateDetector({
    windowSeconds: 600,
    maxEntries: entries,
    rebuildMaxBytes: 0,
    store,
    logger,
  });
  const topic = "BrokerBench";
  const input = (uniq) => ({ topic, queueId: 0, uniqKey: uniq });
  // Properties text as the broker receives it; uniqKey is a slice of it, as in the send path.
  const makeInput = () => {
    const text = encodeProperties({ TAGS: "bench", UNIQ_KEY: createUniqId(), WAIT: "true" });
    const i = text.indexOf("UNIQ_KEY\u0001") + 9;
    return input(text.slice(i, i + 32));
  };
  gc();
  const result = { msgIds: ["7F00000100002A9F0000000000000000"], queueOffset: 0, commitLogOffset: 0 };
  let now = Date.now();
  for (let i = 0; i < entries; i++) {
    result.commitLogOffset += 620;
    const batch = [makeInput()];
    d.stored(batch, d.admit(batch, now), result);
  }
  gc();
  const perEntry = (mem() - heap0) / entries;
  const rssMiB = (process.memoryUsage().rss - rss0) / 1048576;
  const rounds = 5;
  const n = 200_000;
  const inputs = Array.from({ length: n }, makeInput);
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = cpuNs();
    for (let i = 0; i < n; i++) {
      const batch = [inputs[i]];
      result.commitLogOffset += 620;
      const ticket = d.admit(batch, now);
      if (typeof ticket === "number") d.stored(batch, ticket, result);
    }
    times.push((cpuNs() - t0) / n);
    for (let i = 0; i < n; i++) inputs[i] = makeInput();
    now += 1;
  }
  times.sort((a, b) => a - b);
  console.log(
    `window of ${entries} sends: ${Math.round(perEntry)} bytes (heap + array buffers) per send, window arrays ${(d.window.bytes / 1048576).toFixed(1)} MiB, RSS +${rssMiB.toFixed(0)} MiB; admit+stored ${times[0].toFixed(0)}-${times[rounds - 1].toFixed(0)} ns per send (median ${times[2].toFixed(0)}, ${rounds} rounds of ${n})`,
  );
  // The same, keys in random order: what the window costs for keys that do not come in a
  // producer's counter order (each send's bucket a random cache and TLB miss).
  const shuffled = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) inputs[i] = makeInput();
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [inputs[i], inputs[j]] = [inputs[j], inputs[i]];
    }
    const t0 = cpuNs();
    for (let i = 0; i < n; i++) {
      const batch = [inputs[i]];
      result.commitLogOffset += 620;
      const ticket = d.admit(batch, now);
      if (typeof ticket === "number") d.stored(batch, ticket, result);
    }
    shuffled.push((cpuNs() - t0) / n);
    now += 1;
  }
  shuffled.sort((a, b) => a - b);
  console.log(
    `  keys in random order: admit+stored ${shuffled[0].toFixed(0)}-${shuffled[rounds - 1].toFixed(0)} ns per send (median ${shuffled[2].toFixed(0)})`,
  );
  // A duplicate's lookup (the resend path) up to the candidate: confirming it reads the record from the log.
  const hits = inputs.slice(0, 10_000);
  for (const h of hits) {
    const ticket = d.admit([h], now);
    if (typeof ticket === "number") d.stored([h], ticket, result);
  }
  const t0 = cpuNs();
  for (let k = 0; k < 10; k++) for (const h of hits) d.admit([h], now);
  console.log(
    `duplicate candidate: ${((cpuNs() - t0) / (10 * hits.length)).toFixed(0)} ns per lookup (+ one log read to confirm)`,
  );
}

// 2. Consumer stats on the consume path.
{
  const w = new ConsumeStatsWindow();
  const n = 2_000_000;
  const t0 = cpuNs();
  for (let i = 0; i < n; i++) w.record("BrokerBench", true, 1, Date.now());
  console.log(`ConsumeStatsWindow.record + Date.now(): ${((cpuNs() - t0) / n).toFixed(0)} ns per message`);
}

// 3. Start-up rebuild: a store with `stored` messages of 500 bytes, all within the window.
{
  const dir = mkdtempSync(join(os.tmpdir(), "tidemq-dedup-bench-"));
  try {
    const stored = Number(opt.stored);
    const cfg = {
      storePathRootDir: dir,
      mappedFileSizeCommitLog: 256 * 1024 * 1024,
      flushDiskType: "ASYNC_FLUSH",
      storeHost: { host: "127.0.0.1", port: 10911 },
      logger,
    };
    let store = await MessageStore.open(cfg);
    const body = Buffer.alloc(500, 120);
    for (let i = 0; i < stored; i += 100) {
      const batch = [];
      for (let k = 0; k < 100; k++) {
        const uniq = createUniqId();
        batch.push({
          topic: `T${i % 8}`,
          queueId: Math.floor(i / 100) % 4,
          flag: 0,
          body,
          properties: { UNIQ_KEY: uniq, TAGS: "bench" },
          sysFlag: 0,
          bornTimestamp: Date.now(),
          bornHost: { host: "127.0.0.1", port: 5000 },
          reconsumeTimes: 0,
          preparedTransactionOffset: 0,
          tagsCode: 0,
        });
      }
      await store.putMessages(batch);
    }
    await store.shutdown();
    store = await MessageStore.open(cfg);
    const d = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: entries,
      rebuildMaxBytes: 256 * 1024 * 1024,
      store,
      logger,
    });
    const cpu0 = cpuNs();
    const r = await d.rebuild(store);
    const cpuMs = (cpuNs() - cpu0) / 1e6;
    console.log(
      `start-up rebuild: ${r.kept} sends from ${r.records} records (${Math.round((stored * 620) / 1024 / 1024)} MiB of log) in ${r.ms} ms (${cpuMs.toFixed(0)} ms CPU, ${((cpuMs * 1000) / r.records).toFixed(1)} µs CPU per record)`,
    );
    await store.shutdown();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
