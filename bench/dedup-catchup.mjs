#!/usr/bin/env node
// How long a new DLedger leader's first keyed send waits for its de-dup window's catch-up
// (DuplicateDetector.catchUp: the committed log's tail read by fields into the window, run
// when the replica becomes the writable leader; sends with a UNIQ_KEY wait for it).
// A running store holding `stored` messages of `body` bytes (default 500), all within the window:
//   full:        a window that saw none of them (every record arrived by replication);
//   incremental: a window read up to the last catch-up, `recent` records written since.
// Prints wall ms of the catch-up, ms CPU (user and system), and the wall ms a keyed send
// admitted at the start of it waited; plus the machine.
//   feed:        the other way a replica's window could cover what it got by replication —
//                every record entered as it is dispatched (fields already in hand, so only the
//                window's own work, DuplicateWindow.addUniq): CPU per record, paid by every
//                follower for every record, against the catch-up's per record, paid once per
//                election for at most the window.
//
// Usage: node --initial-old-space-size=64 bench/dedup-catchup.mjs [--stored N] [--recent N] [--rounds N] [--body BYTES]   (build first: npx tsc -b)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const imp = (p) => import(new URL(p, `file://${REPO}`).href);
const { values: opt } = parseArgs({
  options: {
    stored: { type: "string", default: "1000000" },
    recent: { type: "string", default: "10000" },
    rounds: { type: "string", default: "3" },
    body: { type: "string", default: "500" },
  },
});
const { DuplicateDetector } = await imp("packages/broker/dist/src/dedup/DuplicateDetector.js");
const { MessageStore } = await imp("packages/store/dist/src/index.js");
const { createUniqId } = await imp("packages/protocol/dist/src/index.js");
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const cpuSplit = () => process.cpuUsage();
const usSince = (c0) => {
  const u = process.cpuUsage(c0);
  return { user: u.user, sys: u.system };
};
const body = Buffer.alloc(Number(opt.body), 120);
const message = (i) => {
  const uniq = createUniqId();
  return {
    topic: `T${i % 8}`,
    queueId: Math.floor(i / 100) % 4,
    flag: 0,
    body,
    properties: { UNIQ_KEY: uniq, TAGS: "bench" },
    uniqKey: uniq,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { host: "127.0.0.1", port: 5000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    tagsCode: 0,
  };
};
async function put(store, n, base) {
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let k = 0; k < Math.min(100, n - i); k++) batch.push(message(base + i));
    await store.putMessages(batch);
  }
}
const detector = (store) =>
  new DuplicateDetector({
    windowSeconds: 600,
    maxEntries: 1_000_000,
    rebuildMaxBytes: 256 * 1024 * 1024 /* the default duplicateRebuildMaxBytes */,
    store,
    logger,
  });

/** Times one catch-up and the wait of a keyed send admitted as it starts. */
async function timed(d, store) {
  const c0 = cpuMs();
  const s0 = cpuSplit();
  const t0 = performance.now();
  const done = d.catchUp(store);
  let waited = -1;
  const admitted = d.admit([message(0)], Date.now());
  await Promise.resolve(admitted).then(() => {
    waited = performance.now() - t0;
  });
  await done;
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, split: usSince(s0), waited, ...d.lastCatchUp };
}

/** The window's own work per record when records are entered as dispatched (fields in hand). */
async function feed(store) {
  const fields = [];
  await store.forEachRecordFields(0, store.visibleOffset, (offset, f) => {
    if (f.uniq !== undefined) fields.push([f.topic, f.uniq, offset, f.storeTimestamp]);
  });
  const d = detector(store);
  const w = d.window;
  const s0 = cpuSplit();
  const t0 = performance.now();
  for (const [topic, uniq, offset, ts] of fields) w.addUniq(topic, uniq, offset, ts);
  return { records: fields.length, ms: performance.now() - t0, split: usSince(s0) };
}

const stored = Number(opt.stored);
const recent = Number(opt.recent);
const dir = mkdtempSync(join(os.tmpdir(), "tidemq-dedup-catchup-"));
try {
  const store = await MessageStore.open({
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 256 * 1024 * 1024,
    flushDiskType: "ASYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  await put(store, stored, 0);
  for (let r = 0; r < Number(opt.rounds); r++) {
    const full = await timed(detector(store), store);
    const d = detector(store);
    await d.rebuild(store);
    await put(store, recent, stored);
    const inc = await timed(d, store);
    for (const [name, x] of [
      ["full", full],
      ["incremental", inc],
    ]) {
      console.log(
        `${name}: ${x.added} sends entered from ${x.records} records (${(x.scannedBytes / 1048576).toFixed(1)} MiB) in ${x.ms.toFixed(0)} ms wall, ${x.cpu.toFixed(0)} ms CPU (user ${(x.split.user / 1000).toFixed(0)}, sys ${(x.split.sys / 1000).toFixed(0)}; ${((x.split.user * 1000) / x.records).toFixed(0)} + ${((x.split.sys * 1000) / x.records).toFixed(0)} ns a record); a keyed send admitted at its start waited ${x.waited.toFixed(0)} ms`,
      );
    }
    const f = await feed(store);
    console.log(
      `feed: ${f.records} records entered as dispatched in ${f.ms.toFixed(0)} ms wall, CPU user ${(f.split.user / 1000).toFixed(0)} ms, sys ${(f.split.sys / 1000).toFixed(0)} ms (${((f.split.user * 1000) / f.records).toFixed(0)} + ${((f.split.sys * 1000) / f.records).toFixed(0)} ns a record)`,
    );
  }
  await store.shutdown();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `machine: ${os.cpus().length}× ${os.cpus()[0]?.model}, node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
