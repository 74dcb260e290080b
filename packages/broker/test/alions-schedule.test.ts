/**
 * Delay levels and retries with back-off, driven by the unmodified ali-ons against broker
 * processes: level 3 arrives 10–11 s after the send, a handler that always fails sees its
 * redeliveries spaced by the level back-off, then the message is in %DLQ%<group>.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NameServer } from "@tidemq/namesrv";
import { ResponseCode } from "@tidemq/protocol";
import { createLogger, type RemotingClient } from "@tidemq/remoting";
import { closeOnsDefaultProducer, type OnsClient, type OnsMessage, ons } from "./alions.js";
import { type ChildBroker, killAllChildren, spawnBroker } from "./childBroker.js";
import { createTopicRequest, eventually, newClient, pullAll, removeDir, tempDir } from "./helpers.js";

const quiet = { info() {}, warn() {}, debug() {}, error() {} };
const fastTimers = {
  logger: quiet,
  pollNameServerInteval: 1000,
  heartbeatBrokerInterval: 1000,
  rebalanceInterval: 500,
  persistConsumerOffsetInterval: 500,
};

let dir: string;
let ns: NameServer;
let nameSrv: string;
let raw: RemotingClient;
/** Default levels (1s 5s 10s …). */
let standard: ChildBroker;
/** Short levels for the retry test: level 3 + n = 300, 400, 500 ms. */
let fast: ChildBroker;
const closers: Array<() => Promise<void>> = [];

function overrides(name: string, extra: object = {}): object {
  return {
    brokerName: name,
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    namesrvAddr: nameSrv,
    storePathRootDir: `${dir}/${name}`,
    mappedFileSizeCommitLog: 8 * 1024 * 1024,
    ...extra,
  };
}

before(async () => {
  dir = await tempDir("sched-alions");
  ns = new NameServer({ port: 0, logger: createLogger("test-ns", "warn") });
  await ns.start();
  nameSrv = `127.0.0.1:${ns.port}`;
  raw = newClient();
  [standard, fast] = await Promise.all([
    spawnBroker(overrides("broker-std")),
    spawnBroker(overrides("broker-fast", { messageDelayLevel: "100ms 200ms 300ms 400ms 500ms" })),
  ]);
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await closeOnsDefaultProducer();
  await raw?.close();
  await killAllChildren();
  await ns?.stop();
  await removeDir(dir);
});

async function createTopic(b: ChildBroker, topic: string): Promise<void> {
  const res = await raw.invoke(b.addr, createTopicRequest(topic, 2));
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
}

async function start<T extends OnsClient>(c: T): Promise<T> {
  c.on("error", () => undefined);
  await c.ready();
  closers.push(() => c.close());
  return c;
}

/** Resolves the n-th call of `record` (bounded by a timeout). */
function arrivals() {
  const times: Array<{ at: number; msg: OnsMessage }> = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  return {
    times,
    record(msg: OnsMessage) {
      times.push({ at: Date.now(), msg });
      if (waiter && times.length >= waiter.n) waiter.resolve();
    },
    wait(n: number, timeoutMs: number): Promise<void> {
      if (times.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`${times.length} of ${n} deliveries in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiter = {
          n,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        };
      });
    },
  };
}

test("ali-ons: delay level 3 arrives at least 10 s and less than 11 s after the send", async () => {
  const topic = "ONS_DELAY3";
  await createTopic(standard, topic);
  const got = arrivals();
  const c = await start(
    new ons.Consumer({ nameSrv, httpclient: {}, consumerGroup: "CG_DELAY3", ...fastTimers }),
  );
  c.subscribe(topic, "*", async (msg) => got.record(msg));
  const p = await start(
    new ons.Producer({ nameSrv, httpclient: {}, producerGroup: "PG_DELAY3", ...fastTimers }),
  );
  const msg = new ons.Message(topic, "TagA", "close order 42");
  msg.keys = ["order-42"];
  msg.delayTimeLevel = 3;
  const sentAt = Date.now();
  const r = await p.send(msg);
  assert.equal(r.sendStatus, "SEND_OK");
  await got.wait(1, 30_000);
  const after = got.times[0]!.at - sentAt;
  assert.ok(after >= 10_000, `arrived ${after} ms after the send: early`);
  assert.ok(after < 11_000, `arrived ${after} ms after the send: more than 1 s late`);
  assert.equal(got.times[0]!.msg.body.toString(), "close order 42");
  assert.equal(got.times.length, 1);
});

test("ali-ons: a handler that always fails is redelivered with the level back-off, then the message is in %DLQ%<group> with its body and keys", async () => {
  const topic = "ONS_REFUND";
  const group = "CG_REFUND";
  await createTopic(fast, topic);
  const got = arrivals();
  const c = await start(
    new ons.Consumer({ nameSrv, httpclient: {}, consumerGroup: group, maxReconsumeTimes: 3, ...fastTimers }),
  );
  c.subscribe(topic, "*", async (msg) => {
    got.record(msg);
    throw new Error("payment provider down");
  });
  const p = await start(
    new ons.Producer({ nameSrv, httpclient: {}, producerGroup: "PG_REFUND", ...fastTimers }),
  );
  const msg = new ons.Message(topic, "Refund", "refund order 7");
  msg.keys = ["refund-7"];
  assert.equal((await p.send(msg)).sendStatus, "SEND_OK");

  // The first delivery and 3 retries (maxReconsumeTimes 3), then the DLQ.
  await got.wait(4, 30_000);
  assert.deepEqual(
    got.times.map((t) => t.msg.reconsumeTimes),
    [0, 1, 2, 3],
  );
  const backoff = [300, 400, 500]; // levels 3, 4, 5 of "100ms 200ms 300ms 400ms 500ms"
  for (let i = 1; i < 4; i++) {
    const gap = got.times[i]!.at - got.times[i - 1]!.at;
    assert.ok(
      gap >= backoff[i - 1]!,
      `retry ${i} came ${gap} ms after the previous delivery, before its ${backoff[i - 1]} ms`,
    );
  }
  let dead: Awaited<ReturnType<typeof pullAll>>["messages"] = [];
  await eventually(
    async () => {
      dead = (await pullAll(raw, fast.addr, `%DLQ%${group}`, 0)).messages;
      return dead.length > 0;
    },
    "the message in the DLQ",
    10_000,
  );
  assert.equal(dead.length, 1);
  const d = dead[0]!;
  assert.equal(d.body.toString(), "refund order 7");
  assert.equal(d.properties.KEYS, "refund-7");
  assert.equal(d.properties.RETRY_TOPIC, topic);
  assert.ok(d.properties.ORIGIN_MESSAGE_ID, "ORIGIN_MESSAGE_ID kept");
  assert.equal(d.properties.DELAY, undefined);
  assert.equal(d.reconsumeTimes, 4);
  assert.equal(got.times.length, 4, "no delivery after the DLQ");
});
