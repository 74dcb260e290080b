#!/usr/bin/env node
// Store benchmark: append (ASYNC_FLUSH / SYNC_FLUSH × 1/16/256 appenders), read-back, RSS
// while writing a large volume, each beside the raw disk measured in the same run.
// Usage: node bench/store-bench.mjs [--dir DIR] [--seconds 4] [--read-messages 1000000]
//        [--volume-gib 2] [--big (= 10 GiB)] [--skip-volume] [--volume-only] [--skip-read]
//        [--modes ASYNC_FLUSH,SYNC_FLUSH] [--appenders 1,16,64,128,256] [--skip-batches]
//        [--store path/to/dist/src/index.js (A/B runs against another build)]
// Needs a build first: npx tsc -b packages/store
// "cpu µs/msg" is this process's CPU time (all threads) per message: steadier than msg/s on
// a shared machine.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(opt("seconds", "4"));
const VOLUME_GIB = args.includes("--big") ? 10 : Number(opt("volume-gib", "2"));
const baseDir = opt("dir", os.tmpdir());
const MODES = opt("modes", "ASYNC_FLUSH,SYNC_FLUSH").split(",");
const APPENDERS = opt("appenders", "1,16,64,128,256").split(",").map(Number);
const storeModule = opt("store", undefined);
const { MessageStore } = await import(
  storeModule ? pathToFileURL(path.resolve(storeModule)).href : "../packages/store/dist/src/index.js"
);
const quiet = { debug() {}, info() {}, warn: (m) => console.error(m), error: (m) => console.error(m) };

function machine() {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? "?"} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${os.platform()} ${os.release()}`,
  );
  console.log(
    `data dir: ${baseDir}; load average at start ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
}

function rawDisk(dir) {
  const file = path.join(dir, "raw-disk.dat");
  const fd = fs.openSync(file, "w+");
  try {
    const mb = Buffer.alloc(1 << 20, 7);
    const total = 512;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < total; i++) fs.writeSync(fd, mb, 0, mb.length, i * mb.length);
    fs.fdatasyncSync(fd);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const seqMBs = total / secs;
    const small = Buffer.alloc(4096, 1);
    const lat = [];
    for (let i = 0; i < 1000; i++) {
      fs.writeSync(fd, small, 0, 4096, total * mb.length + i * 4096);
      const t = process.hrtime.bigint();
      fs.fdatasyncSync(fd);
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    lat.sort((a, b) => a - b);
    return { seqMBs, fsyncMedianMs: lat[500], fsyncP99Ms: lat[990] };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

let uniq = 0;
function message(queueId, body) {
  uniq++;
  return {
    topic: "BenchTopic",
    queueId,
    flag: 0,
    body,
    properties: {
      TAGS: "TagA",
      UNIQ_KEY: `0A0000010000${uniq.toString(16).toUpperCase().padStart(20, "0")}`,
    },
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { host: "10.0.0.2", port: 50000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  };
}

/** kind: "single" (putMessage), "queue" (putMessages, one queue), "independent" (putMessagesBatch over 8 queues). */
async function appendRun(flushDiskType, appenders, batch = 1, kind = batch === 1 ? "single" : "queue") {
  const dir = fs.mkdtempSync(path.join(baseDir, "tidemq-bench-"));
  const store = await MessageStore.open({
    storePathRootDir: dir,
    storeHost: { host: "10.0.0.1", port: 10911 },
    flushDiskType,
    logger: quiet,
  });
  const body = Buffer.alloc(500, 0x61);
  const h = monitorEventLoopDelay({ resolution: 1 });
  let count = 0;
  let timeouts = 0;
  const deadline = performance.now() + SECONDS * 1000;
  h.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: appenders }, async (_, i) => {
      while (performance.now() < deadline) {
        if (kind === "single") {
          const r = await store.putMessage(message(i % 8, body));
          if (r.status !== "PUT_OK") timeouts++;
        } else if (kind === "queue") {
          const r = await store.putMessages(Array.from({ length: batch }, () => message(i % 8, body)));
          if (r.status !== "PUT_OK") timeouts++;
        } else {
          const rs = await store.putMessagesBatch(
            Array.from({ length: batch }, (_, k) => message(k % 8, body)),
          );
          if (rs[0].status !== "PUT_OK") timeouts++;
        }
        count += batch;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  const bytes = store.stats.putMessageSizeTotal;
  await store.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    rate: count / secs,
    mbs: bytes / secs / 1e6,
    loopMaxMs: h.max / 1e6,
    loopP99Ms: h.percentile(99) / 1e6,
    cpuUsPerMsg: (cpu.user + cpu.system) / count,
    timeouts,
  };
}

async function readBack(total) {
  const dir = fs.mkdtempSync(path.join(baseDir, "tidemq-bench-"));
  const cfg = { storePathRootDir: dir, storeHost: { host: "10.0.0.1", port: 10911 }, logger: quiet };
  let store = await MessageStore.open(cfg);
  const body = Buffer.alloc(500, 0x62);
  for (let i = 0; i < total; i += 256) {
    await Promise.all(Array.from({ length: 256 }, () => store.putMessage(message(0, body))));
  }
  await store.shutdown();
  // Reopen: nothing in the in-memory tail, every read goes to the files (page cache).
  store = await MessageStore.open(cfg);
  const out = {};
  for (const batch of [32, 256]) {
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t0 = performance.now();
    let offset = 0;
    let n = 0;
    let bytes = 0;
    for (;;) {
      const r = await store.getMessage("BenchTopic", 0, offset, batch);
      if (r.status !== "FOUND") break;
      n += r.messageCount;
      bytes += r.body.length;
      offset = r.nextBeginOffset;
    }
    const secs = (performance.now() - t0) / 1000;
    h.disable();
    out[batch] = { rate: n / secs, mbs: bytes / secs / 1e6, n, loopMaxMs: h.max / 1e6 };
  }
  await store.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

async function volumeRun(gib) {
  const dir = fs.mkdtempSync(path.join(baseDir, "tidemq-bench-"));
  const store = await MessageStore.open({
    storePathRootDir: dir,
    storeHost: { host: "10.0.0.1", port: 10911 },
    logger: quiet,
    diskMaxUsedSpaceRatio: 99,
  });
  const body = Buffer.alloc(500, 0x63);
  const target = gib * 2 ** 30;
  let maxRss = 0;
  const progress = [];
  let nextMark = 2 ** 30;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    maxRss = Math.max(maxRss, rss);
    if (store.stats.putMessageSizeTotal >= nextMark) {
      progress.push(`${(nextMark / 2 ** 30).toFixed(0)} GiB: RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
      nextMark += 2 ** 30;
    }
  }, 50);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 256 }, async (_, i) => {
      while (store.stats.putMessageSizeTotal < target) await store.putMessage(message(i % 16, body));
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  h.disable();
  clearInterval(sampler);
  maxRss = Math.max(maxRss, process.memoryUsage.rss());
  const bytes = store.stats.putMessageSizeTotal;
  const msgs = store.stats.putMessageTimesTotal;
  await store.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    bytes,
    msgs,
    secs,
    mbs: bytes / secs / 1e6,
    maxRssMiB: maxRss / 2 ** 20,
    loopMaxMs: h.max / 1e6,
    progress,
  };
}

machine();
const raw = rawDisk(baseDir);
const volumeOnly = args.includes("--volume-only");
console.log(
  `raw disk: sequential write ${raw.seqMBs.toFixed(0)} MB/s (1 MiB fs.writeSync), fdatasync of 4 KiB median ${raw.fsyncMedianMs.toFixed(3)} ms, p99 ${raw.fsyncP99Ms.toFixed(3)} ms`,
);
console.log(
  `append of 500-byte messages, ${SECONDS} s each (msg/s | MB/s of records | event-loop delay max/p99 ms):`,
);
const line = (mode, label, r) =>
  console.log(
    `  ${mode.padEnd(11)} ${label}: ${Math.round(r.rate).toLocaleString("en-US").padStart(9)} msg/s  ${r.mbs.toFixed(1).padStart(6)} MB/s (${((r.mbs / raw.seqMBs) * 100).toFixed(0)}% of raw)  cpu ${r.cpuUsPerMsg.toFixed(2)} µs/msg  loop max ${r.loopMaxMs.toFixed(1)} p99 ${r.loopP99Ms.toFixed(1)}${r.timeouts ? `  timeouts ${r.timeouts}` : ""}`,
  );
for (const mode of volumeOnly ? [] : MODES) {
  for (const n of APPENDERS) line(mode, `${String(n).padStart(3)} appenders`, await appendRun(mode, n));
}
for (const mode of volumeOnly || args.includes("--skip-batches") ? [] : MODES) {
  line(mode, " 16 appenders, putMessages batches of 32", await appendRun(mode, 16, 32));
  line(mode, " 16 appenders, putMessages batches of 64", await appendRun(mode, 16, 64));
  if (typeof MessageStore.prototype.putMessagesBatch === "function") {
    line(
      mode,
      " 16 appenders, putMessagesBatch of 64 (8 queues)",
      await appendRun(mode, 16, 64, "independent"),
    );
  } else {
    console.log(
      `  ${mode.padEnd(11)}  16 appenders, putMessagesBatch of 64: n/a (this build has no putMessagesBatch)`,
    );
  }
}
const rb =
  volumeOnly || args.includes("--skip-read") ? {} : await readBack(Number(opt("read-messages", "1000000")));
for (const [batch, r] of Object.entries(rb)) {
  console.log(
    `read-back (reopened store, page cache) ${r.n} msgs, pulls of ${batch}: ${Math.round(r.rate).toLocaleString("en-US")} msg/s, ${r.mbs.toFixed(0)} MB/s, loop max ${r.loopMaxMs.toFixed(1)} ms`,
  );
}
if (!args.includes("--skip-volume")) {
  const v = await volumeRun(VOLUME_GIB);
  console.log(`  RSS while writing: ${v.progress.join(", ")}`);
  console.log(
    `volume: ${(v.bytes / 2 ** 30).toFixed(2)} GiB (${v.msgs.toLocaleString("en-US")} msgs, ASYNC, 256 appenders) in ${v.secs.toFixed(1)} s = ${v.mbs.toFixed(0)} MB/s (${((v.mbs / raw.seqMBs) * 100).toFixed(0)}% of raw), max RSS ${v.maxRssMiB.toFixed(0)} MiB, loop max ${v.loopMaxMs.toFixed(1)} ms`,
  );
}
console.log(
  `load average at end ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
