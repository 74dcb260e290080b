#!/usr/bin/env node
// Broker start-up time with producer de-duplication and a full window: a store holding N
// recent messages with UNIQ_KEYs (default 1 M, the default duplicateWindowMaxEntries), started
// in a fresh child process (node --initial-old-space-size=64, as the tidemq bin) per case,
// the cases alternating for --rounds rounds:
//   off       duplicateDetectionEnable=false
//   snapshot  on, the window loaded from the snapshot a clean stop wrote (no log read)
//   scan      on, no snapshot (as after a crash before the first one, or on a slave): the log's
//             tail read by dispatch fields
//   decode    off + the previous rebuild run in the same process after start (every record
//             decoded whole: store.forEachRecordSince + decodeMessage) — what "on" cost before
// Prints wall ms of BrokerController.start() (and of the extra rebuild for decode), CPU ms, RSS
// after start, and the clean stop's ms (which writes the snapshot when on), plus the machine.
//
// Usage: node bench/dedup-startup.mjs [--messages N] [--rounds R] [--body BYTES]   (build first: npx tsc -b)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const imp = (p) => import(new URL(p, `file://${REPO}`).href);
const { values: opt } = parseArgs({
  options: {
    messages: { type: "string", default: "1000000" },
    rounds: { type: "string", default: "3" },
    body: { type: "string", default: "64" },
    child: { type: "string" },
    dir: { type: "string" },
  },
});
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const SEGMENT = 256 * 1024 * 1024;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function brokerConfig(dir, on) {
  const { loadBrokerConfig } = await imp("packages/broker/dist/src/loadBrokerConfig.js");
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      brokerName: "bench-dedup",
      brokerIP1: "127.0.0.1",
      listenPort: 0,
      storePathRootDir: dir,
      storePathCommitLog: join(dir, "commitlog"),
      mappedFileSizeCommitLog: SEGMENT,
      duplicateDetectionEnable: on,
    },
  });
  return config;
}

if (opt.child) {
  // One case in a fresh process: start, measure, stop cleanly, print one JSON line.
  const dir = opt.dir;
  const { BrokerController } = await imp("packages/broker/dist/src/BrokerController.js");
  const on = opt.child === "snapshot" || opt.child === "scan";
  if (opt.child === "scan") rmSync(join(dir, "duplicateWindow"), { force: true });
  const broker = new BrokerController(await brokerConfig(dir, on), { logger });
  const c0 = cpuMs();
  const t0 = performance.now();
  await broker.start();
  let startMs = performance.now() - t0;
  let extraMs = 0;
  let kept = on ? broker.dedup?.window.size : undefined;
  if (opt.child === "decode") {
    // The rebuild before snapshots (DuplicateDetector.rebuild until 746de93), on the started store.
    const { DuplicateWindow, hashHi, hashKey } = await imp(
      "packages/broker/dist/src/dedup/DuplicateWindow.js",
    );
    const { MessageConst } = await imp("packages/protocol/dist/src/index.js");
    const store = broker.context.store;
    const w = new DuplicateWindow({ windowMs: 600_000, maxEntries: 1_000_000 });
    const since = Date.now() - 600_000;
    const t1 = performance.now();
    await store.forEachRecordSince(
      since,
      (r) => {
        const m = r.message;
        const uniq = m.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX];
        if (!uniq || m.topic.charCodeAt(0) === 37 || m.storeTimestamp < since) return;
        w.add(hashKey(m.topic, uniq), hashHi(), r.offset, m.storeTimestamp);
      },
      256 * 1024 * 1024,
    );
    extraMs = performance.now() - t1;
    startMs += extraMs;
    kept = w.size;
  }
  const cpu = cpuMs() - c0;
  const rssMiB = process.memoryUsage().rss / 1048576;
  const s0 = performance.now();
  await broker.shutdown();
  const stopMs = performance.now() - s0;
  const rebuildMs = broker.dedup?.lastRebuild?.ms;
  console.log(JSON.stringify({ case: opt.child, startMs, extraMs, rebuildMs, cpu, rssMiB, stopMs, kept }));
  process.exit(0);
}

const machine = `${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, node ${process.version}, load ${os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(" ")}`;
console.log(`machine: ${machine}`);
const { MessageStore } = await imp("packages/store/dist/src/index.js");
const { createUniqId } = await imp("packages/protocol/dist/src/index.js");
const dir = mkdtempSync(join(os.tmpdir(), "tidemq-dedup-startup-"));
try {
  const n = Number(opt.messages);
  const store = await MessageStore.open({
    storePathRootDir: dir,
    storePathCommitLog: join(dir, "commitlog"),
    mappedFileSizeCommitLog: SEGMENT,
    flushDiskType: "ASYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  const body = Buffer.alloc(Number(opt.body), 120);
  const w0 = performance.now();
  for (let i = 0; i < n; i += 200) {
    const batch = [];
    for (let k = 0; k < 200 && i + k < n; k++) {
      batch.push({
        topic: `T${(i / 200) % 8}`,
        queueId: Math.floor(i / 1600) % 4,
        flag: 0,
        body,
        properties: { UNIQ_KEY: createUniqId(), TAGS: "bench", WAIT: "true" },
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost: { host: "127.0.0.1", port: 5000 },
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      });
    }
    await store.putMessages(batch);
  }
  const logBytes = store.maxPhysicalOffset;
  await store.shutdown();
  console.log(
    `store: ${n} messages with UNIQ_KEY, ${(logBytes / 1048576).toFixed(0)} MiB of log, written in ${((performance.now() - w0) / 1000).toFixed(1)} s`,
  );
  const run = (c) => {
    const r = spawnSync(
      process.execPath,
      ["--initial-old-space-size=64", fileURLToPath(import.meta.url), "--child", c, "--dir", dir],
      { encoding: "utf8" },
    );
    const line = r.stdout.trim().split("\n").at(-1);
    if (r.status !== 0 || !line?.startsWith("{")) throw new Error(`${c}: ${r.stderr || r.stdout}`);
    return JSON.parse(line);
  };
  // The first "scan" start writes the snapshot (clean stop) that "snapshot" loads.
  run("scan");
  const rows = [];
  for (let r = 0; r < Number(opt.rounds); r++) {
    for (const c of ["off", "snapshot", "scan", "decode"]) {
      const x = run(c);
      rows.push(x);
      console.log(
        `round ${r + 1} ${c.padEnd(8)} start ${x.startMs.toFixed(0).padStart(6)} ms${x.extraMs ? ` (rebuild ${x.extraMs.toFixed(0)})` : x.rebuildMs !== undefined ? ` (load ${x.rebuildMs})` : ""}  cpu ${x.cpu.toFixed(0).padStart(6)} ms  rss ${x.rssMiB.toFixed(0)} MiB  stop ${x.stopMs.toFixed(0)} ms  window ${x.kept ?? "-"}`,
      );
    }
  }
  const median = (c, k) => {
    const v = rows
      .filter((x) => x.case === c)
      .map((x) => x[k])
      .sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const off = median("off", "startMs");
  console.log(
    `median start ms: off ${off.toFixed(0)}, snapshot ${median("snapshot", "startMs").toFixed(0)} (+${(median("snapshot", "startMs") - off).toFixed(0)}), scan ${median("scan", "startMs").toFixed(0)} (+${(median("scan", "startMs") - off).toFixed(0)}), decode ${median("decode", "startMs").toFixed(0)} (+${(median("decode", "startMs") - off).toFixed(0)})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
