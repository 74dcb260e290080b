#!/usr/bin/env node
// Consumer flow limit (maxConsumeRatePerSecond) through a flash-sale peak: a producer offers
// --offer msg/s for --peak seconds, a consumer limited to --limit msg/s consumes; prints the
// consumed rate each second, its mean over the peak (ratio to the limit) and how long the
// backlog took to drain after the peak. NameServer and broker run in this process (ASYNC_FLUSH,
// data in a temp dir); the producer and consumer are our client.
// Usage: node bench/consume-rate.mjs [--offer 10000] [--limit 6000] [--peak 10]
// Build first: npx tsc -b
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    offer: { type: "string", default: "10000" },
    limit: { type: "string", default: "6000" },
    peak: { type: "string", default: "10" },
  },
});
const OFFER = Number(opt.offer);
const LIMIT = Number(opt.limit);
const PEAK_S = Number(opt.peak);
const { NameServer } = await import("../packages/namesrv/dist/src/index.js");
const { BrokerController, loadBrokerConfig } = await import("../packages/broker/dist/src/index.js");
const { Producer, PushConsumer, Admin, ConsumeResult } = await import("../packages/client/dist/src/index.js");
const { createLogger } = await import("../packages/remoting/dist/src/index.js");

const cpus = os.cpus();
console.log(
  `machine: ${cpus[0]?.model ?? "?"} × ${cpus.length} cores, node ${process.version}; load ${os.loadavg()[0].toFixed(2)}`,
);
const dir = mkdtempSync(join(os.tmpdir(), "tidemq-rate-"));
const logger = createLogger("bench", "warn");
const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger });
await namesrv.start();
const ns = `127.0.0.1:${namesrv.port}`;
const { config } = await loadBrokerConfig({
  env: {},
  overrides: {
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    namesrvAddr: ns,
    storePathRootDir: dir,
    storePathCommitLog: join(dir, "commitlog"),
  },
});
const broker = new BrokerController(config, { logger });
await broker.start();
const admin = new Admin({ endpoints: ns, logger });
await admin.createTopic({
  topic: "FlashSale",
  brokerAddr: broker.brokerAddr,
  readQueueNums: 8,
  writeQueueNums: 8,
});
await admin.shutdown();

const fast = { pollNameServerInterval: 300, rebalanceInterval: 1000, heartbeatBrokerInterval: 1000 };
let consumed = 0;
const consumer = new PushConsumer({
  endpoints: ns,
  consumerGroup: "db-writer",
  subscriptions: new Map([["FlashSale", "*"]]),
  consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
  maxConsumeRatePerSecond: LIMIT,
  messageListener: {
    consume() {
      consumed++;
      return ConsumeResult.SUCCESS;
    },
  },
  logger,
  ...fast,
});
const producer = new Producer({ endpoints: ns, logger, ...fast });
await producer.startup();
await consumer.startup();

const body = Buffer.alloc(200, "o");
let sent = 0;
const t0 = Date.now();
const perSecond = [];
let lastConsumed = 0;
const sampler = setInterval(() => {
  perSecond.push(consumed - lastConsumed);
  lastConsumed = consumed;
  console.log(
    `t=${perSecond.length}s consumed ${perSecond.at(-1)} /s, sent ${sent}, backlog ${sent - consumed}`,
  );
}, 1000);
// Paced offer: every 10 ms send what is due.
while (Date.now() - t0 < PEAK_S * 1000) {
  const due = Math.floor(((Date.now() - t0) / 1000) * OFFER) - sent;
  const batch = [];
  for (let i = 0; i < due; i++) batch.push(producer.send({ topic: "FlashSale", body }));
  sent += due;
  await Promise.all(batch);
  await new Promise((r) => setTimeout(r, 10));
}
const peakEnd = Date.now();
const consumedAtPeakEnd = consumed;
for (let guard = 0; consumed < sent && guard < 100_000; guard++) await new Promise((r) => setTimeout(r, 10));
const drained = Date.now();
clearInterval(sampler);
const steady = perSecond.slice(1, PEAK_S); // skip the first (start-up) second
const mean = steady.reduce((a, b) => a + b, 0) / Math.max(1, steady.length);
console.log(
  `offered ${OFFER}/s for ${PEAK_S} s (${sent} messages), limit ${LIMIT}/s: consumed ${mean.toFixed(0)}/s during the peak ` +
    `(${((mean / LIMIT) * 100).toFixed(1)} % of the limit; per-second min ${Math.min(...steady)} max ${Math.max(...steady)}), ` +
    `${consumedAtPeakEnd} consumed by the end of the peak, backlog drained ${((drained - peakEnd) / 1000).toFixed(1)} s after it ` +
    `(${((drained - t0) / 1000).toFixed(1)} s in all; ${sent} / ${LIMIT} = ${(sent / LIMIT).toFixed(1)} s at the limit)`,
);
await consumer.shutdown();
await producer.shutdown();
await broker.shutdown();
await namesrv.stop();
rmSync(dir, { recursive: true, force: true });
