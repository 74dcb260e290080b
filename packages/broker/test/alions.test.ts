/**
 * The referee: the unmodified npm package ali-ons@3.12.0 against a real NameServer and broker
 * on 127.0.0.1 (spec §15 scenarios 1–5, 7, 13, 14, 16, 17, 18).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NameServer } from "@tidemq/namesrv";
import {
  createRequest,
  decodeMessages,
  decodeOffsetMsgId,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { createLogger, type RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import {
  closeOnsDefaultProducer,
  type OnsConsumer,
  type OnsMessage,
  type OnsProducer,
  ons,
} from "./alions.js";
import { createTopicRequest, newClient, removeDir, startBroker, tempDir } from "./helpers.js";

let dir: string;
let ns: NameServer;
let broker: BrokerController;
let raw: RemotingClient;
let nameSrv: string;
const errors: Error[] = [];
const closers: Array<() => Promise<void>> = [];

/** ali-ons logs every route refresh to the console; keep its errors only. */
const quiet = {
  info() {},
  warn() {},
  debug() {},
  error(err: unknown) {
    if (err instanceof Error) errors.push(err);
  },
};
/** Fast timers so the clients rebalance, refresh and stop quickly in tests. */
const fastTimers = {
  logger: quiet,
  pollNameServerInteval: 2000,
  heartbeatBrokerInterval: 2000,
  rebalanceInterval: 1000,
  persistConsumerOffsetInterval: 1000,
};

before(async () => {
  dir = await tempDir("broker-alions");
  ns = new NameServer({ port: 0, logger: createLogger("test-ns", "warn") });
  await ns.start();
  nameSrv = `127.0.0.1:${ns.port}`;
  broker = await startBroker(dir, { namesrvAddr: nameSrv });
  raw = newClient();
});

after(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await closeOnsDefaultProducer();
  await raw?.close();
  await broker?.shutdown();
  await ns?.stop();
  await removeDir(dir);
});

async function createTopic(topic: string, queues = 8): Promise<void> {
  const res = await raw.invoke(`127.0.0.1:${broker.port}`, createTopicRequest(topic, queues));
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
}

async function producer(group: string, nameSrvAddr = nameSrv): Promise<OnsProducer> {
  const p = new ons.Producer({ nameSrv: nameSrvAddr, httpclient: {}, producerGroup: group, ...fastTimers });
  p.on("error", (err) => errors.push(err));
  await p.ready();
  closers.push(async () => {
    await p.close();
    // close() drops every listener, but the shared client instance may still report a
    // route-refresh failure through this producer a moment later: keep collecting.
    p.on("error", (err) => errors.push(err));
  });
  return p;
}

/** A consumer whose received messages resolve `waitFor(n)` promises as they arrive. */
class Collector {
  readonly messages: OnsMessage[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  readonly handler = async (msg: OnsMessage) => {
    this.messages.push(msg);
    this.wake();
  };
  waitFor(n: number, timeoutMs = 30_000): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`received ${this.messages.length} of ${n} messages in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.messages.length < w.n) return true;
      w.resolve();
      return false;
    });
  }
}

async function consumer(
  group: string,
  topic: string,
  expr: string,
  opts: object = {},
  handler?: (msg: OnsMessage) => Promise<unknown>,
): Promise<{ c: OnsConsumer; got: Collector; close: () => Promise<void> }> {
  const got = new Collector();
  const c = new ons.Consumer({ nameSrv, httpclient: {}, consumerGroup: group, ...fastTimers, ...opts });
  c.on("error", (err) => errors.push(err));
  await c.ready();
  c.subscribe(topic, expr, handler ?? got.handler);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await c.close();
  };
  closers.push(close);
  return { c, got, close };
}

test("1: ali-ons Producer sends with tag and keys; msgId is the offsetMsgId; offsets grow per queue", async () => {
  await createTopic("ONS_T1");
  const p = await producer("PG_1");
  const perQueue = new Map<number, number[]>();
  for (let i = 0; i < 16; i++) {
    const msg = new ons.Message("ONS_T1", "TagA", `hello ${i}`);
    msg.keys = ["k1", "k2"];
    const r = await p.send(msg);
    assert.equal(r.sendStatus, "SEND_OK");
    assert.match(r.msgId, /^[0-9A-F]{32}$/);
    const decoded = decodeOffsetMsgId(r.msgId);
    assert.equal(decoded.storeHost.host, "127.0.0.1");
    assert.equal(decoded.storeHost.port, broker.port);
    assert.ok(r.messageQueue.queueId >= 0 && r.messageQueue.queueId < 8);
    const list = perQueue.get(r.messageQueue.queueId) ?? [];
    list.push(Number(r.queueOffset));
    perQueue.set(r.messageQueue.queueId, list);
  }
  for (const offsets of perQueue.values()) {
    for (let i = 1; i < offsets.length; i++) assert.ok(offsets[i]! > offsets[i - 1]!);
  }
  // What mqadmin queryMsgByKey (12) and queryMsgById (33) then send find the message.
  const addr = `127.0.0.1:${broker.port}`;
  const byKey = await raw.invoke(
    addr,
    createRequest(RequestCode.QUERY_MESSAGE, {
      topic: "ONS_T1",
      key: "k1",
      maxNum: 64,
      beginTimestamp: 0,
      endTimestamp: Date.now() + 60_000,
    }),
  );
  assert.equal(byKey.code, ResponseCode.SUCCESS, byKey.remark);
  assert.equal(decodeMessages(byKey.body!).length, 16);
  const last = await p.send(new ons.Message("ONS_T1", "TagA", "view me"));
  const view = await raw.invoke(
    addr,
    createRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: decodeOffsetMsgId(last.msgId).commitLogOffset }),
  );
  assert.equal(view.code, ResponseCode.SUCCESS, view.remark);
  const [viewed] = decodeMessages(view.body!);
  assert.equal(viewed!.msgId, last.msgId);
  assert.equal(viewed!.body.toString(), "view me");
});

test("4 + 3 + 7: a new group gets a message sent before it subscribed, large bodies intact, long polling answers fast", async () => {
  await createTopic("ONS_T4", 1);
  const p = await producer("PG_4");
  const first = await p.send(new ons.Message("ONS_T4", "TagA", "sent before subscribe"));
  const { got } = await consumer("CG_4", "ONS_T4", "*");
  await got.waitFor(1);
  const m = got.messages[0]!;
  assert.equal(m.msgId, first.msgId);
  assert.equal(m.body.toString(), "sent before subscribe");
  assert.ok(m.properties.MIN_OFFSET !== undefined && m.properties.MAX_OFFSET !== undefined);

  // 3: a body of 4096+ bytes travels zlib-compressed and arrives as sent.
  const big = Buffer.alloc(10_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
  await p.send(new ons.Message("ONS_T4", "TagA", big));
  await got.waitFor(2);
  assert.deepEqual(got.messages[1]!.body, big);

  // 7: the consumer's pull is parked now; a send wakes it at once, not after 15 s.
  const t0 = Date.now();
  await p.send(new ons.Message("ONS_T4", "TagA", "wake up"));
  await got.waitFor(3, 10_000);
  const latency = Date.now() - t0;
  assert.ok(latency < 3000, `delivered ${latency} ms after the send`);
});

test("2 + 5: tag filter in the broker; tagless messages only reach * subscribers", async () => {
  await createTopic("ONS_T5", 1);
  const p = await producer("PG_5");
  const all = await consumer("CG_5_ALL", "ONS_T5", "*");
  const tagA = await consumer("CG_5_A", "ONS_T5", "TagA || TagC");
  await p.send(new ons.Message("ONS_T5", "no tag"));
  await p.send(new ons.Message("ONS_T5", "TagB", "b"));
  await p.send(new ons.Message("ONS_T5", "TagA", "a"));
  await all.got.waitFor(3);
  await tagA.got.waitFor(1);
  assert.deepEqual(
    tagA.got.messages.map((m) => m.body.toString()),
    ["a"],
  );
  assert.deepEqual(all.got.messages.map((m) => m.body.toString()).sort(), ["a", "b", "no tag"]);
});

test("14: a restarted consumer resumes from the committed offsets without replay", async () => {
  await createTopic("ONS_T14", 2);
  const p = await producer("PG_14");
  const first = await consumer("CG_14", "ONS_T14", "*");
  for (let i = 0; i < 6; i++) await p.send(new ons.Message("ONS_T14", "T", `before ${i}`));
  await first.got.waitFor(6);
  await first.close();
  // ali-ons advances its offset after the handler returns, so the message whose handler was
  // still running at close may stay uncommitted; only those may be replayed.
  const committed = [0, 1].map((q) => broker.context.offsets.query("CG_14", "ONS_T14", q));
  const committedTotal = committed.reduce((a, b) => a + b, 0);
  assert.ok(committedTotal >= 5 && committedTotal <= 6, `committed ${committed}`);
  for (let i = 0; i < 4; i++) await p.send(new ons.Message("ONS_T14", "T", `after ${i}`));
  const second = await consumer("CG_14", "ONS_T14", "*");
  await second.got.waitFor(4 + (6 - committedTotal));
  const bodies = second.got.messages.map((m) => m.body.toString());
  for (let i = 0; i < 4; i++) assert.ok(bodies.includes(`after ${i}`));
  assert.equal(
    bodies.filter((b) => b.startsWith("before")).length,
    6 - committedTotal,
    `replayed: ${bodies}`,
  );
});

test("13 + item 9: two consumers of one group with a tag filter together get every matching message, only those, with the sent msgIds; one leaves, the other takes over", async () => {
  await createTopic("ONS_T13", 8);
  const p = await producer("PG_13");
  const c1 = await consumer("CG_13", "ONS_T13", "TagA || TagC", { instanceName: "c1" });
  const c2 = await consumer("CG_13", "ONS_T13", "TagA || TagC", { instanceName: "c2" });
  // Wait until the broker sees both members (bounded poll: no event for this).
  const addr = `127.0.0.1:${broker.port}`;
  for (let i = 0; i < 100; i++) {
    const res = await raw.invoke(
      addr,
      createRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "CG_13" }),
    );
    if (res.code === 0 && JSON.parse(res.body!.toString()).consumerIdList.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // 60 messages, tags cycling A, B, C: 40 match the filter, 20 (TagB) must never arrive.
  const sentIds = new Map<string, string>();
  const tags = ["TagA", "TagB", "TagC"];
  for (let i = 0; i < 60; i++) {
    const tag = tags[i % 3]!;
    const res = await p.send(new ons.Message("ONS_T13", tag, `m${i}`));
    assert.equal(res.sendStatus, "SEND_OK");
    if (tag !== "TagB") sentIds.set(`m${i}`, res.msgId);
  }
  const all = () => [...c1.got.messages, ...c2.got.messages];
  const deadline = Date.now() + 30_000;
  while (new Set(all().map((m) => m.body.toString())).size < sentIds.size && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const received = new Map(all().map((m) => [m.body.toString(), m]));
  assert.deepEqual([...received.keys()].sort(), [...sentIds.keys()].sort(), "exactly the matching messages");
  for (const [body, msg] of received) {
    assert.notEqual(msg.tags, "TagB");
    assert.equal(msg.msgId, sentIds.get(body), `msgId of ${body}`);
  }
  assert.ok(c1.got.messages.length > 0 && c2.got.messages.length > 0, "both members consumed");
  await c1.close();
  const before2 = c2.got.messages.length;
  for (let i = 60; i < 100; i++) await p.send(new ons.Message("ONS_T13", "TagA", `m${i}`));
  await c2.got.waitFor(before2 + 40, 30_000);
  const late = new Set(c2.got.messages.map((m) => m.body.toString()));
  for (let i = 60; i < 100; i++) assert.ok(late.has(`m${i}`), `m${i} lost`);
});

test("16: flow control with pullThresholdForQueue 1 loses nothing", async () => {
  await createTopic("ONS_T16", 1);
  const p = await producer("PG_16");
  const got = new Collector();
  await consumer("CG_16", "ONS_T16", "*", { pullThresholdForQueue: 1 }, async (msg) => {
    await new Promise((r) => setTimeout(r, 20));
    await got.handler(msg);
  });
  for (let i = 0; i < 15; i++) await p.send(new ons.Message("ONS_T16", "T", `f${i}`));
  await got.waitFor(15, 40_000);
  assert.deepEqual(
    got.messages.map((m) => m.body.toString()),
    Array.from({ length: 15 }, (_, i) => `f${i}`),
  );
});

test("17 + 18: no-route errors surface with the topic named; localhost (maybe ::1) works", async () => {
  const p = await producer("PG_17", `localhost:${ns.port}`);
  await assert.rejects(p.send(new ons.Message("ONS_NO_ROUTE", "T", "x")), (err: Error) => {
    assert.match(err.message, /ONS_NO_ROUTE/);
    return true;
  });
  await createTopic("ONS_T18", 1);
  const r = await p.send(new ons.Message("ONS_T18", "T", "via localhost"));
  assert.equal(r.sendStatus, "SEND_OK");
  const { got } = await consumer("CG_18", "ONS_T18", "*");
  await got.waitFor(1);
  assert.equal(got.messages[0]!.msgId, r.msgId);
});
