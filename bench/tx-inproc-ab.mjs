#!/usr/bin/env node
// The broker's CPU per transaction (or per batched plain message) of two builds, paired in ONE
// process: a broker of each build (ASYNC_FLUSH, data under /dev/shm), the same requests as
// bench/tx-inproc.mjs (SEND_HALF_BATCH of 64 halves then the END_TRANSACTION_BATCH committing
// them, 4 such pairs at a time; plain: 16 SEND_BATCH_MESSAGE of 64 x 500 B), rounds of a fixed
// amount of work alternating A B, B A, ... so the machine's load hits both alike. Per pair the
// ratio B/A of user and user+sys CPU; the medians of those ratios are the result. Give the same
// build twice for an A/A control. (The harness commitpath used in session 10, made a bench.)
// Both brokers share this process's heap, so each side's garbage is partly collected in the
// other's rounds: compare ratios, not absolute figures, and always beside an A/A run.
// Usage: node --initial-old-space-size=64 bench/tx-inproc-ab.mjs --a DIR --b DIR
//          [--pairs 40] [--iters 20] [--case tx|plain]
// (--iters: batches per round, 256 transactions or 1024 plain messages each.) Build first.
import { mkdtempSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { commitBatchFrame, halfBatchRequest, inprocConnection } from "./lib/inproc.mjs";

const { values: opt } = parseArgs({
  options: {
    a: { type: "string" },
    b: { type: "string" },
    pairs: { type: "string", default: "40" },
    iters: { type: "string", default: "20" },
    case: { type: "string", default: "tx" },
  },
});
if (!opt.a || !opt.b)
  throw new Error("usage: tx-inproc-ab.mjs --a DIR --b DIR [--pairs N] [--iters N] [--case tx|plain]");
const TX = opt.case === "tx";
const ITERS = Number(opt.iters);
const PAIRS = Number(opt.pairs);
const TOPIC = "TxAbTopic";
const conn = inprocConnection();

/** A broker of the build under `dir`, and its round (one batch of requests). */
async function side(dir, tag) {
  const root = pathToFileURL(`${resolve(dir)}/`);
  const P = await import(new URL("packages/protocol/dist/src/index.js", root).href);
  const { BrokerController, loadBrokerConfig } = await import(
    new URL("packages/broker/dist/src/index.js", root).href
  );
  const { createLogger } = await import(new URL("packages/remoting/dist/src/index.js", root).href);
  const data = mkdtempSync(`/dev/shm/tidemq-txab-${tag}-`);
  const { config } = await loadBrokerConfig({
    namesrvAddr: "127.0.0.1:1",
    listenPort: 0,
    overrides: {
      brokerIP1: "127.0.0.1",
      storePathRootDir: data,
      autoCreateTopicEnable: true,
      flushDiskType: "ASYNC_FLUSH",
      registerNameServerPeriod: 3_600_000,
    },
  });
  const broker = new BrokerController(config, { logger: createLogger("ab", "error") });
  await broker.start().catch(() => undefined); // no NameServer here: registration fails, serving does not
  const handlers = broker.context.server.handlers; // private in TypeScript; a bench may look
  const create = P.createRequest(P.RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic: TOPIC,
    defaultTopic: "TBW102",
    readQueueNums: 4,
    writeQueueNums: 4,
    perm: 6,
    topicFilterType: "SINGLE_TAG",
    topicSysFlag: 0,
    order: false,
  });
  const created = await handlers.get(P.RequestCode.UPDATE_AND_CREATE_TOPIC)(create, conn);
  if (created.code !== 0) throw new Error(`create topic: ${created.remark}`);
  // Every message carries a UNIQ_KEY made new each round (its last 8 hex digits rewritten).
  const spots = [];
  const note = (frame, uniqs) => {
    for (const u of uniqs) spots.push([frame, frame.indexOf(u) + u.length - 8]);
  };
  let no = 0;
  const renew = () => {
    const hex = (no++).toString(16).padStart(8, "0");
    for (const [f, at] of spots) f.write(hex, at, "latin1");
  };
  const frameOf = (req, uniqs) => {
    const f = P.encodeFrame(req).subarray(4);
    note(f, uniqs);
    return f;
  };
  const halfFrame = (queueId) => {
    const uniqs = Array.from({ length: 64 }, () => P.createUniqId());
    const req = halfBatchRequest(P, TOPIC, uniqs, queueId);
    return frameOf(req, uniqs);
  };
  const batchFrame = () => {
    const uniqs = Array.from({ length: 64 }, () => P.createUniqId());
    const body = P.encodeBatchBody(
      uniqs.map((u) => ({
        flag: 0,
        body: Buffer.alloc(500, 97),
        properties: { TAGS: "bench", UNIQ_KEY: u },
      })),
    );
    const header = P.sendHeaderToV2({
      producerGroup: "bench_p",
      topic: TOPIC,
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: P.encodeProperties({ WAIT: "true" }),
      reconsumeTimes: 0,
      unitMode: false,
      batch: true,
    });
    const req = P.createRequest(P.RequestCode.SEND_BATCH_MESSAGE, header, body, { serializeType: 1 });
    req.opaque = 7;
    return frameOf(req, uniqs);
  };
  const call = async (frame) => {
    const req = P.decodeFrame(frame);
    const res = await handlers.get(req.code)(req, conn);
    const parts = P.encodeFrameParts(res);
    const back = P.decodeFrame(parts.length === 1 ? parts[0].subarray(4) : Buffer.concat(parts).subarray(4));
    if (back.code !== 0) throw new Error(`request ${req.code}: ${back.code} ${back.remark}`);
    return back;
  };
  const halves = Array.from({ length: 4 }, (_, q) => halfFrame(q));
  const plains = Array.from({ length: 16 }, () => batchFrame());
  const txRound = () =>
    Promise.all(
      halves.map(async (f) => {
        const results = P.decodeHalfBatchResults((await call(f)).body, 64);
        const entries = results.map((r) => ({
          tranStateTableOffset: r.queueOffset,
          commitLogOffset: Number.parseInt(r.msgId.slice(-16), 16),
          commitOrRollback: 8,
        }));
        const ended = await call(commitBatchFrame(P, entries));
        for (const r of P.decodeEndTransactionResults(ended.body, 64))
          if (r.code !== 0) throw new Error(`end: ${r.code} ${r.remark}`);
      }),
    );
  const plainRound = () => Promise.all(plains.map(call));
  return {
    broker,
    data,
    store: broker.context.store,
    run: TX ? txRound : plainRound,
    per: TX ? 256 : 1024,
    renew,
  };
}

const a = await side(opt.a, "a");
const b = await side(opt.b, "b");
for (const s of [a, b]) {
  for (let i = 0; i < 150; i++) {
    s.renew();
    await s.run();
  }
}

/** One round of a side: its CPU µs per transaction / message, and the log bytes it wrote. */
async function measure(s) {
  const c0 = process.cpuUsage();
  const b0 = s.store.maxPhysicalOffset;
  for (let i = 0; i < ITERS; i++) {
    s.renew();
    await s.run();
  }
  const c = process.cpuUsage(c0);
  const n = ITERS * s.per;
  return { user: c.user / n, sys: c.system / n, bytes: (s.store.maxPhysicalOffset - b0) / n };
}

const rows = [];
for (let p = 0; p < PAIRS; p++) {
  const r = {};
  for (const s of p % 2 ? [b, a] : [a, b]) r[s === a ? "a" : "b"] = await measure(s);
  rows.push(r);
}
const q = (xs, f) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length * f)];
const med = (xs) => q(xs, 0.5);
const f2 = (x) => x.toFixed(2);
const all = (side) => rows.map((r) => r[side].user + r[side].sys);
const what = TX ? "transaction" : "message";
console.log(
  `${opt.case}: ${PAIRS} pairs of ${ITERS * (TX ? 256 : 1024)} ${what}s a round; A=${opt.a} B=${opt.b}; load ${(await import("node:os")).loadavg().map(f2).join(" ")}`,
);
console.log(
  `  median CPU µs per ${what}: A user ${f2(med(rows.map((r) => r.a.user)))} sys ${f2(med(rows.map((r) => r.a.sys)))}, ${f2(rows[0].a.bytes)} log bytes;  B user ${f2(med(rows.map((r) => r.b.user)))} sys ${f2(med(rows.map((r) => r.b.sys)))}, ${f2(rows[0].b.bytes)} log bytes`,
);
console.log(
  `  median of paired B/A: user ${f2(med(rows.map((r) => r.b.user / r.a.user)))}, sys ${f2(med(rows.map((r) => r.b.sys / r.a.sys)))}, user+sys ${f2(med(rows.map((r) => (r.b.user + r.b.sys) / (r.a.user + r.a.sys))))}`,
);
console.log(
  `  user+sys min / p25: A ${f2(q(all("a"), 0))} / ${f2(q(all("a"), 0.25))}  B ${f2(q(all("b"), 0))} / ${f2(q(all("b"), 0.25))}`,
);
for (const s of [a, b]) {
  await s.broker.shutdown();
  rmSync(s.data, { recursive: true, force: true });
}
