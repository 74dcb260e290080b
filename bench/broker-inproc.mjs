#!/usr/bin/env node
// The broker's CPU cost per message without sockets or other processes: a BrokerController
// in this process (ASYNC_FLUSH, data under --dir, default /dev/shm), requests encoded as
// frames once, then per round: decode each frame, run the registered handler (header
// decode, checks, store put), encode the response frame. Reports CPU µs per message
// (process.cpuUsage, so other load on the machine matters less than for wall-clock rates).
// Every send carries a UNIQ_KEY made new each round (the round number written over the 8 hex
// digits before its counter, the same work with and without --dedup), so producer
// de-duplication sees new sends. For on/off pairs see dedup-ab-inproc.mjs (both in one process).
// Usage: node bench/broker-inproc.mjs [--seconds 3] [--dir /dev/shm] [--sync] [--dedup | --no-dedup]
//        [--cases json,rocketmq,batch] (which of the three to run)
// Build first: npx tsc -b packages/broker packages/client
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { inprocConnection } from "./lib/inproc.mjs";

const { values: opt } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    dir: { type: "string", default: "/dev/shm" },
    sync: { type: "boolean", default: false },
    cases: { type: "string", default: "json,rocketmq,batch" },
    dedup: { type: "boolean", default: false },
    "no-dedup": { type: "boolean", default: false },
  },
});
const P = await import("../packages/protocol/dist/src/index.js");
const { BrokerController, loadBrokerConfig } = await import("../packages/broker/dist/src/index.js");
const { createLogger } = await import("../packages/remoting/dist/src/index.js");

const data = mkdtempSync(join(opt.dir, "tidemq-inproc-"));
const logger = createLogger("inproc", "warn");
const { config } = await loadBrokerConfig({
  namesrvAddr: "127.0.0.1:1",
  listenPort: 0,
  overrides: {
    brokerIP1: "127.0.0.1",
    storePathRootDir: data,
    autoCreateTopicEnable: true,
    flushDiskType: opt.sync ? "SYNC_FLUSH" : "ASYNC_FLUSH",
    registerNameServerPeriod: 3_600_000,
    ...(opt.dedup ? { duplicateDetectionEnable: true } : {}),
    ...(opt["no-dedup"] ? { duplicateDetectionEnable: false } : {}),
  },
});
const broker = new BrokerController(config, { logger });
await broker.start().catch(() => undefined);
const ctx = broker.context;
const handlers = ctx.server.handlers; // private in TypeScript; a bench may look
const conn = inprocConnection();
const TOPIC = "InprocTopic";
await ctx.topics.createOrUpdate?.({ topicName: TOPIC, readQueueNums: 1, writeQueueNums: 1, perm: 6 });
if (!ctx.topics.get(TOPIC)) {
  const res = await handlers.get(P.RequestCode.UPDATE_AND_CREATE_TOPIC)(
    P.createRequest(P.RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: TOPIC,
      defaultTopic: "TBW102",
      readQueueNums: 1,
      writeQueueNums: 1,
      perm: 6,
      topicFilterType: "SINGLE_TAG",
      topicSysFlag: 0,
      order: false,
    }),
    conn,
  );
  if (res.code !== 0) throw new Error(`create topic: ${res.remark}`);
}

/** Where each frame's UNIQ_KEYs are: [frame, position of the key's last 8 hex digits]. */
const uniqSpots = [];

function sendFrame(serializeType, batch) {
  const uniqs = Array.from({ length: batch || 1 }, () => P.createUniqId());
  const body = batch
    ? P.encodeBatchBody(
        uniqs.map((u) => ({
          flag: 0,
          body: Buffer.alloc(500, 97),
          properties: { TAGS: "bench", UNIQ_KEY: u },
        })),
      )
    : Buffer.alloc(500, 97);
  const header = P.sendHeaderToV2({
    producerGroup: "bench_p",
    topic: TOPIC,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: P.encodeProperties(
      batch ? { WAIT: "true" } : { TAGS: "bench", WAIT: "true", UNIQ_KEY: uniqs[0] },
    ),
    reconsumeTimes: 0,
    unitMode: false,
    batch: !!batch,
  });
  const code = batch ? P.RequestCode.SEND_BATCH_MESSAGE : P.RequestCode.SEND_MESSAGE_V2;
  const req = P.createRequest(code, header, body, { serializeType });
  req.opaque = 7;
  const frame = P.encodeFrame(req).subarray(4);
  for (const u of uniqs) {
    const at = frame.indexOf(u);
    if (at < 0) throw new Error("UNIQ_KEY not found in the frame");
    // The 8 hex digits before the key's counter (its last 4): overwriting the last 8 made
    // every key of a round the same, so --dedup measured resends, not new sends.
    uniqSpots.push([frame, at + u.length - 12]);
  }
  return frame;
}

let roundNo = 0;
/** New UNIQ_KEYs for every frame: the round number in the 8 hex digits before the counter. */
function renewKeys() {
  const hex = (roundNo++).toString(16).padStart(8, "0");
  for (const [frame, at] of uniqSpots) frame.write(hex, at, "latin1");
}

async function round(frames) {
  renewKeys();
  const pending = [];
  for (const f of frames) {
    const req = P.decodeFrame(f);
    const r = handlers.get(req.code)(req, conn);
    pending.push(Promise.resolve(r).then((res) => P.encodeFrameParts(res)));
  }
  const parts = await Promise.all(pending);
  for (const p of parts) {
    const res = P.decodeFrame(p[0].subarray(4));
    if (res.code !== 0) throw new Error(`send: ${res.code} ${res.remark}`);
  }
}

async function measure(name, frames, perFrame) {
  for (let i = 0; i < 50; i++) await round(frames); // warm-up
  const end = performance.now() + Number(opt.seconds) * 1000;
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < end) {
    await round(frames);
    n += frames.length * perFrame;
  }
  const c = process.cpuUsage(c0);
  const wall = (performance.now() - t0) / 1000;
  console.log(
    `${name.padEnd(34)} ${((c.user + c.system) / n).toFixed(2).padStart(7)} CPU µs/msg  ${Math.round(n / wall)
      .toLocaleString("en")
      .padStart(10)} msg/s in this process`,
  );
}

console.log(
  `broker in-process, ${config.flushDiskType}, duplicateDetectionEnable=${config.duplicateDetectionEnable}, data ${opt.dir}, node ${process.version}`,
);
const cases = opt.cases.split(",");
if (cases.includes("json"))
  await measure(
    "send 500 B, JSON header, 128/round",
    Array.from({ length: 128 }, () => sendFrame(0)),
    1,
  );
if (cases.includes("rocketmq"))
  await measure(
    "send 500 B, ROCKETMQ header, 128/round",
    Array.from({ length: 128 }, () => sendFrame(1)),
    1,
  );
if (cases.includes("batch"))
  await measure(
    "sendBatch 64 × 500 B, 16/round",
    Array.from({ length: 16 }, () => sendFrame(1, 64)),
    64,
  );
await broker.shutdown();
rmSync(data, { recursive: true, force: true });
