#!/usr/bin/env node
// Same-process A/B of the store's hot path (putMessage from 64 concurrent appenders, dispatch,
// then pulls of 256 reading everything back) for two builds of @tidemq/store, alternating the
// order every round, on /dev/shm (no disk). Prints CPU µs per message (this process, all
// threads) per round and the medians: steadier than msg/s on a shared machine.
// Usage: node bench/store-ab.mjs <A dist/src/index.js> <B dist/src/index.js> [rounds=8]
// e.g. a base build: mkdir /tmp/base && git archive <commit> | tar -x -C /tmp/base &&
//      cp -a node_modules /tmp/base/ && (cd /tmp/base && npx tsc -b)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [a, b] = process.argv.slice(2);
if (!a || !b) {
  console.error("usage: node bench/store-ab.mjs <A index.js> <B index.js> [rounds]");
  process.exit(2);
}
const sides = {
  base: await import(pathToFileURL(path.resolve(a)).href),
  split: await import(pathToFileURL(path.resolve(b)).href),
};
const cpus = os.cpus();
console.log(
  `machine: ${cpus[0]?.model ?? "?"} × ${cpus.length} cores, node ${process.version}; A = ${a}, B = ${b}`,
);
const quiet = { debug() {}, info() {}, warn() {}, error: (m) => console.error(m) };
const body = Buffer.alloc(500, 97);
const msg = (i) => ({
  topic: "T",
  queueId: i & 3,
  flag: 0,
  body,
  properties: { TAGS: "a", KEYS: `k${i}` },
  sysFlag: 0,
  bornTimestamp: Date.now(),
  bornHost: { host: "127.0.0.1", port: 1 },
  reconsumeTimes: 0,
  preparedTransactionOffset: 0,
});
const res = { base: [], split: [] };
for (let round = -1; round < Number(process.argv[4] ?? 8); round++) {
  for (const name of round % 2 ? ["split", "base"] : ["base", "split"]) {
    const dir = fs.mkdtempSync(path.join("/dev/shm", "ab-"));
    const store = await sides[name].MessageStore.open({
      storePathRootDir: dir,
      storeHost: { host: "127.0.0.1", port: 10911 },
      logger: quiet,
      mappedFileSizeCommitLog: 256 * 1024 * 1024,
    });
    const N = 150000;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < N) {
        const i = next++;
        await store.putMessage(msg(i));
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
    let pulled = 0;
    for (let q = 0; q < 4; q++) {
      let off = 0;
      for (;;) {
        const r = await store.getMessage("T", q, off, 256);
        if (r.status !== "FOUND") break;
        pulled += r.messageCount;
        off = r.nextBeginOffset;
      }
    }
    const c = process.cpuUsage(c0);
    const us = (c.user + c.system) / N;
    if (round >= 0) res[name].push(us); // round -1 warms both builds up
    await store.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(
      `round ${round} ${name === "base" ? "A" : "B"}: ${us.toFixed(2)} cpu µs/msg (put+dispatch+pull), ${Math.round(N / ((performance.now() - t0) / 1000))} msg/s, pulled ${pulled}`,
    );
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(
  `median cpu µs/msg: A ${med(res.base).toFixed(2)}, B ${med(res.split).toFixed(2)}; load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
