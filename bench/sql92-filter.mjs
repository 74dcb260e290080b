#!/usr/bin/env node
// SQL92 filter benchmark: (1) ns per evaluation of compiled expressions on a property map;
// (2) pulling through a queue of N stored messages of which 1 % match, with the broker's
// SQL92 pull path (filter/sqlPull.ts) beside a tag subscription on the same 1 % (the tag
// filter reads only the consume queue) and an unfiltered pull of everything.
// Usage: node bench/sql92-filter.mjs [--messages 1000000] [--dir /tmp] [--body 200]
// Needs a build first: npx tsc -b
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const MESSAGES = Number(opt("messages", "1000000"));
const BODY = Number(opt("body", "200"));
const baseDir = opt("dir", os.tmpdir());

const { compileSql92 } = await import("../packages/broker/dist/src/filter/sql92/index.js");
const { getMessageMatchingSql } = await import("../packages/broker/dist/src/filter/sqlPull.js");
const { sqlMatchIndexOf } = await import("../packages/broker/dist/src/filter/SqlMatchIndex.js");
const { MessageStore } = await import("../packages/store/dist/src/index.js");
const { javaStringHashCode, StoredMessage } = await import("../packages/protocol/dist/src/index.js");
const { RawProperties } = await import("../packages/broker/dist/src/filter/RawProperties.js");
const props = new RawProperties();

const cpus = os.cpus();
console.log(
  `machine: ${cpus[0]?.model ?? "?"} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${os.platform()} ${os.release()}; load ${os.loadavg()[0].toFixed(2)}`,
);

// ---- (1) evaluation cost ----
const sample = { amount: "1500", region: "EU", TAGS: "paid", KEYS: "order-42", UNIQ_KEY: "7F000001ABCD" };
const get = (name) => sample[name];
for (const expr of [
  "region = 'EU'",
  "amount > 1000",
  "amount > 1000 AND region = 'EU'",
  "amount BETWEEN 100 AND 2000 AND region IN ('EU', 'UK') AND TAGS IS NOT NULL",
]) {
  const f = compileSql92(expr);
  const n = 2_000_000;
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (f.matches(get)) hits++;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (f.matches(get)) hits++;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`evaluate ${JSON.stringify(expr)}: ${ns.toFixed(1)} ns (${hits > 0 ? "match" : "no match"})`);
}
{
  const n = 20_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) compileSql92(`amount > ${i} AND region = 'EU'`);
  console.log(
    `compile "amount > N AND region = 'EU'": ${(Number(process.hrtime.bigint() - t0) / n / 1000).toFixed(1)} µs`,
  );
}

// ---- (2) pull scan over a stored queue with 1 % matching ----
const dir = fs.mkdtempSync(path.join(baseDir, "tidemq-sqlbench-"));
const quiet = { debug() {}, info() {}, warn: (m) => console.error(m), error: (m) => console.error(m) };
const store = await MessageStore.open({
  storePathRootDir: dir,
  storePathCommitLog: path.join(dir, "commitlog"),
  flushDiskType: "ASYNC_FLUSH",
  storeHost: { host: "127.0.0.1", port: 10911 },
  logger: quiet,
});
try {
  const body = Buffer.alloc(BODY, "x");
  const host = { host: "127.0.0.1", port: 1 };
  const t0 = Date.now();
  const batch = 512;
  for (let i = 0; i < MESSAGES; i += batch) {
    const msgs = [];
    for (let j = i; j < Math.min(MESSAGES, i + batch); j++) {
      const hit = j % 100 === 0;
      msgs.push({
        topic: "SqlBench",
        queueId: 0,
        flag: 0,
        body,
        properties: {
          TAGS: hit ? "hit" : "miss",
          amount: String(hit ? 5000 : j % 1000),
          region: hit ? "EU" : "US",
        },
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost: host,
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      });
    }
    await store.putMessagesBatch(msgs);
  }
  console.log(
    `stored ${MESSAGES.toLocaleString()} messages of ${BODY} B in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  async function drain(label, pull) {
    let offset = 0;
    let got = 0;
    let pulls = 0;
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    for (let guard = 0; guard < 10_000_000 && offset < MESSAGES; guard++) {
      const r = await pull(offset);
      pulls++;
      got += r.messageCount;
      if (r.nextBeginOffset <= offset) break;
      offset = r.nextBeginOffset;
    }
    const secs = Number(process.hrtime.bigint() - w0) / 1e9;
    const cpu = process.cpuUsage(c0);
    console.log(
      `${label}: ${got.toLocaleString()} delivered of ${MESSAGES.toLocaleString()} scanned in ${secs.toFixed(2)} s ` +
        `(${Math.round(MESSAGES / secs).toLocaleString()} scanned/s, ${pulls} pulls = ${Math.round((pulls * 1e6) / MESSAGES)} per 1 M scanned, CPU ${(((cpu.user + cpu.system) / 1e3 / MESSAGES) * 1e3).toFixed(2)} µs per stored message)`,
    );
  }
  const sql = compileSql92("amount > 1000 AND region = 'EU'");
  const hitCode = javaStringHashCode("hit");
  // Each kind twice, interleaved: the first round also carries whatever the store still does
  // after the writes (flushes, index building) and the JIT's warm-up.
  // The same expression (one trailing space: another subscription to the match index) with
  // match bits: the index is told to cover the queue from offset 0, as it would have had the
  // subscription existed while the messages arrived; its evaluation pass is timed apart.
  const indexedSql = compileSql92("amount > 1000 AND region = 'EU' ");
  for (const round of [1, 2]) {
    await drain(`round ${round}: SQL92 'amount > 1000 AND region = ''EU''' (1 % match)`, (o) =>
      getMessageMatchingSql(store, "SqlBench", 0, o, 32, sql, undefined),
    );
    {
      // Round 1: the pass right after the writes (what arrivals cost then); round 2: the
      // same pass for another expression, warm (one more subscription of the queue).
      const index = sqlMatchIndexOf(store);
      const e0 = index.evaluated;
      const c0 = process.cpuUsage();
      const w0 = process.hrtime.bigint();
      index.track(
        "SqlBench",
        0,
        round === 1 ? indexedSql : compileSql92("amount > 1000 AND region = 'EU'  "),
        0,
      );
      await index.settled();
      const secs = Number(process.hrtime.bigint() - w0) / 1e9;
      const cpu = process.cpuUsage(c0);
      console.log(
        `round ${round}: match index: ${(index.evaluated - e0).toLocaleString()} messages evaluated once (as they would be on arrival) in ${secs.toFixed(2)} s, ` +
          `CPU ${(((cpu.user + cpu.system) / 1e3 / MESSAGES) * 1e3).toFixed(2)} µs per stored message`,
      );
    }
    await drain(`round ${round}: SQL92 with match index (1 % match)`, (o) =>
      getMessageMatchingSql(store, "SqlBench", 0, o, 32, indexedSql, undefined),
    );
    // The indexed path before it looped (one store read of ≤ 800 consume-queue entries per
    // pull, then the same re-evaluation), kept here so before and after run side by side.
    await drain(`round ${round}: SQL92 with match index, one read per pull (previous path)`, async (o) => {
      const bits = sqlMatchIndexOf(store).track("SqlBench", 0, indexedSql);
      const r = await store.getMessage("SqlBench", 0, o, 32, (_c, q) => !bits.covers(q) || bits.has(q));
      if (r.status !== "FOUND") return r;
      let pos = 0;
      let n = 0;
      for (let i = 0; i < r.messageCount; i++) {
        const rec = new StoredMessage(r.body, pos);
        props.reset(r.body, rec.propertiesStart, pos + rec.storeSize);
        if (indexedSql.matches(props.get)) n++;
        pos += rec.storeSize;
      }
      return { ...r, messageCount: n };
    });
    await drain(`round ${round}: tag 'hit' (1 % match, consume queue only)`, (o) =>
      store.getMessage("SqlBench", 0, o, 32, (code) => code === hitCode),
    );
    await drain(`round ${round}: no filter (everything, 32 per pull)`, (o) =>
      store.getMessage("SqlBench", 0, o, 32),
    );
  }
} finally {
  await store.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}
