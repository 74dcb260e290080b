#!/usr/bin/env node
// A DLedger follower's per-entry cost, without network or Raft core: what DLedgerNode.write +
// complete do with the entries of one Ready — decode the wire form (EntryData), append the
// records at the leader's offsets (MessageStore.appendReplicated: decode for dispatch, copy),
// append the Raft index records, then wait until both are durable (commit-log group-commit
// fdatasync + index fdatasync) — then commit them (dispatch into consume queues and index).
//
// Usage: node bench/dledger-follower-append.mjs [--rounds 300] [--msgs 128] [--entries 1]
//        [--size 500] [--depth 1] [--queues 8] [--dir DIR] [--root /path/to/other/checkout (A/B: its dist)]
//        [--no-index-sync (measures what the index fdatasync adds; unsafe for a replica)]
//   --msgs: records per entry; --entries: entries per round (one Ready); --depth: rounds in
//   flight at once (the follower pipelines Readies). Needs a build: npx tsc -b
// Prints, per round: wall ms (p50/p99), event-loop ms spent appending (decode + copy + index
// append), CPU µs per message (this process, all threads), index/log fdatasyncs per round.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const ROUNDS = Number(opt("rounds", "300"));
const MSGS = Number(opt("msgs", "128"));
const ENTRIES = Number(opt("entries", "1"));
const SIZE = Number(opt("size", "500"));
const DEPTH = Number(opt("depth", "1"));
const QUEUES = Number(opt("queues", "8"));
// What the index fdatasync adds to a round (not safe for a replica: an acknowledged entry
// must be durable in both files).
const INDEX_SYNC = !args.includes("--no-index-sync");
const baseDir = opt("dir", os.tmpdir());
const root = path.resolve(opt("root", path.join(path.dirname(new URL(import.meta.url).pathname), "..")));
const mod = (p) => import(pathToFileURL(path.join(root, p)).href);

const { MessageStore } = await mod("packages/store/dist/src/index.js");
const { encodeMessage } = await mod("packages/protocol/dist/src/index.js");
const { RaftLogIndex } = await mod("packages/broker/dist/src/dledger/RaftLogIndex.js");
const { encodeEntryData, decodeEntryData } = await mod("packages/broker/dist/src/dledger/EntryData.js");

const quiet = { debug() {}, info() {}, warn: (m) => console.error(m), error: (m) => console.error(m) };
const dir = fs.mkdtempSync(path.join(baseDir, "tidemq-follower-"));

/** The leader's side: records as a producer's sends make them (UNIQ_KEY, TAGS, WAIT). */
let logEnd = 0;
const queueNext = new Array(QUEUES).fill(0);
let uniq = 0;
function makeEntry(queueId) {
  const recs = [];
  const start = logEnd;
  for (let i = 0; i < MSGS; i++) {
    const rec = encodeMessage({
      topic: "BenchTopic",
      queueId,
      flag: 0,
      queueOffset: queueNext[queueId]++,
      commitLogOffset: logEnd,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { host: "127.0.0.1", port: 40000 },
      storeTimestamp: Date.now(),
      storeHost: { host: "127.0.0.1", port: 10911 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: Buffer.alloc(SIZE, 97),
      properties: {
        UNIQ_KEY: `7F00000100002A9F0000${(uniq++).toString(16).toUpperCase().padStart(12, "0")}`,
        TAGS: "TagA",
        WAIT: "true",
      },
    });
    recs.push(rec);
    logEnd += rec.length;
  }
  return encodeEntryData(logEnd, [{ offset: start, bytes: Buffer.concat(recs) }]);
}

const rounds = [];
let q = 0;
for (let r = 0; r < ROUNDS; r++) {
  const ents = [];
  for (let e = 0; e < ENTRIES; e++) ents.push(makeEntry(q++ % QUEUES));
  rounds.push(ents);
}

const gate = { committedOffset: 0 };
const store = await MessageStore.open({
  storePathRootDir: dir,
  mappedFileSizeCommitLog: 1024 * 1024 * 1024,
  flushDiskType: "SYNC_FLUSH",
  storeHost: { host: "127.0.0.1", port: 10911 },
  commitGate: gate,
  logger: quiet,
});
const index = RaftLogIndex.open(path.join(dir, "dledger"), ["n0", "n1", "n2"], store.commitLogDir);
let lastIndex = 0;

/** DLedgerNode.write for a follower: append the entries' bytes, then their index records. */
function write(ents) {
  const recs = [];
  let end = 0;
  for (const data of ents) {
    const d = decodeEntryData(data);
    for (const c of d.chunks) store.appendReplicated(c.offset, c.bytes, store.segmentSize).catch(() => {});
    end = d.end;
    recs.push({ index: ++lastIndex, term: 1, type: "normal", end, wire: data });
  }
  index.append(recs);
  return end;
}

const walls = [];
// Every round's wall time in order, to see the slow ones line up with the store's
// once-a-second consume-queue/index persist (--trace-slow MS prints rounds over MS).
const SLOW = Number(opt("trace-slow", "0"));
let appendMs = 0;
const syncs0 = { log: store.flushTimes.count, index: index.syncCount };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let next = 0;
async function lane() {
  while (next < rounds.length) {
    const ents = rounds[next++];
    const w0 = performance.now();
    const end = write(ents);
    appendMs += performance.now() - w0;
    await Promise.all([store.whenConfirmed(end), INDEX_SYNC ? index.sync() : undefined]);
    const wall = performance.now() - w0;
    walls.push(wall);
    if (SLOW > 0 && wall > SLOW)
      console.log(`slow round at ${(w0 - t0).toFixed(0)} ms: ${wall.toFixed(1)} ms`);
    // The leader's commit index follows (dispatch into consume queues + index runs here).
    if (end > gate.committedOffset) {
      gate.committedOffset = end;
      store.commitAdvanced();
    }
  }
}
await Promise.all(Array.from({ length: DEPTH }, lane));
const elapsed = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const msgs = ROUNDS * ENTRIES * MSGS;
walls.sort((a, b) => a - b);
const pct = (p) => walls[Math.min(walls.length - 1, Math.floor((p / 100) * walls.length))].toFixed(2);
console.log(
  `machine: ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}, node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}; root ${root}`,
);
console.log(
  `${ROUNDS} rounds × ${ENTRIES} entries × ${MSGS} msgs of ${SIZE} B, depth ${DEPTH}${INDEX_SYNC ? "" : ", NO index fdatasync"}: ` +
    `${Math.round(msgs / (elapsed / 1000))} msg/s; round wall p50 ${pct(50)} ms p99 ${pct(99)} ms; ` +
    `append (event loop) ${((appendMs / ROUNDS) * 1000).toFixed(0)} µs/round ${((appendMs * 1000) / msgs).toFixed(2)} µs/msg; ` +
    `cpu ${((cpu.user + cpu.system) / msgs).toFixed(2)} µs/msg; ` +
    `fdatasyncs/round log ${((store.flushTimes.count - syncs0.log) / ROUNDS).toFixed(2)} index ${((index.syncCount - syncs0.index) / ROUNDS).toFixed(2)}`,
);
index.close();
await store.shutdown();
fs.rmSync(dir, { recursive: true, force: true });
