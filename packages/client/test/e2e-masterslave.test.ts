import assert from "node:assert/strict";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  createRequest,
  decodeMessages,
  type MessageExt,
  PullSysFlag,
  RecordLayout,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { Admin, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { closeOnsDefaultProducer, ons, onsTimers } from "./alions.js";
import { FAST, testLogger, uniq } from "./cluster.js";
import { type HaBroker, HaGroup, type HaRole, stopBroker } from "./haGroup.js";

/*
 * Classic master/slave replication over real processes: a master and a slave broker, each a
 * child process, a NameServer in this process, our producer. Kill -9 of the master leaves
 * every acknowledged message on the slave at the same queue offsets; SYNC_MASTER answers
 * only after a slave has the message; a restarted slave catches up.
 */

let ha: HaGroup;
let raw: RemotingClient;

before(async () => {
  ha = await HaGroup.start({
    dirPrefix: "tidemq-ha-",
    settings: { mappedFileSizeCommitLog: 1024 * 1024, maxMessageSize: 64 * 1024 },
  });
  raw = new RemotingClient({ logger: testLogger("raw") });
});
after(async () => {
  await closeOnsDefaultProducer();
  await raw?.close();
  await ha?.stop();
});

const nsAddr = () => ha.nsAddr;

/** Broker `id` of the master/slave group `name` (each test its own), store `<name>-<id>`. */
const startBroker = (
  name: string,
  id: number,
  role: HaRole,
  extra: Record<string, unknown> = {},
): Promise<HaBroker> => ha.startBroker(`${name}-${id}`, id, role, { brokerName: name, ...extra });

/** Polls (bounded) for a state no event announces across processes. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 10_000; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** Every message of a queue on one broker, by raw PULL_MESSAGE (undefined until `count` are there). */
async function pullAll(
  addr: string,
  topic: string,
  queueId: number,
  count: number,
): Promise<MessageExt[] | undefined> {
  const out: MessageExt[] = [];
  let offset = 0;
  for (let i = 0; i < 1000 && out.length < count; i++) {
    const res = await raw.invoke(
      addr,
      createRequest(RequestCode.PULL_MESSAGE, {
        consumerGroup: "ha_reader",
        topic,
        queueId,
        queueOffset: offset,
        maxMsgNums: 64,
        sysFlag: PullSysFlag.SUBSCRIPTION,
        commitOffset: 0,
        suspendTimeoutMillis: 0,
        subscription: "*",
        subVersion: 0,
      }),
      5000,
    );
    if (res.code !== ResponseCode.SUCCESS) return undefined;
    const msgs = decodeMessages(res.body!);
    out.push(...msgs);
    offset = Number(res.extFields!.nextBeginOffset);
  }
  return out.length >= count ? out : undefined;
}

async function runtimeInfo(addr: string): Promise<Record<string, string>> {
  const r = await raw.invoke(addr, createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 3000);
  return JSON.parse(r.body!.toString()).table as Record<string, string>;
}

async function createTopic(masterAddr: string, topic: string, queues: number): Promise<void> {
  const admin = new Admin({ endpoints: nsAddr(), logger: testLogger("admin") });
  try {
    await admin.createTopic({ topic, brokerAddr: masterAddr, readQueueNums: queues, writeQueueNums: queues });
  } finally {
    await admin.shutdown();
  }
}

test("ASYNC_MASTER + SLAVE: the slave copies log and metadata, refuses sends, registers as brokerId 1; after kill -9 of the master every acknowledged message is on the slave at its queue offset", async () => {
  const name = uniq("msa");
  const master = await startBroker(name, 0, "ASYNC_MASTER");
  const slave = await startBroker(name, 1, "SLAVE");
  const topic = uniq("HaTopic");
  await createTopic(master.addr, topic, 2);

  const p = new Producer({ endpoints: nsAddr(), logger: testLogger("producer"), ...FAST });
  await p.startup();
  const sent = new Map<string, { queueId: number; queueOffset: number; body: string }>();
  try {
    for (let i = 0; i < 300; i++) {
      const body = `ha-${i}-${"x".repeat(i % 200)}`;
      const r = await p.send({ topic, body, keys: [`key-${i}`] });
      assert.equal(r.sendStatus, "SEND_OK");
      assert.equal(r.brokerAddr, master.addr);
      sent.set(r.messageId, { queueId: r.messageQueue.queueId, queueOffset: r.queueOffset, body });
    }
  } finally {
    await p.shutdown();
  }
  const perQueue = [0, 1].map((q) => [...sent.values()].filter((s) => s.queueId === q).length);

  // The route lists the slave under brokerId 1.
  const route = await raw.invoke(
    nsAddr(),
    createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }),
    3000,
  );
  const brokerData = JSON.parse(route.body!.toString()).brokerDatas.find(
    (b: { brokerName: string }) => b.brokerName === name,
  );
  assert.equal(brokerData.brokerAddrs["0"], master.addr);
  assert.equal(brokerData.brokerAddrs["1"], slave.addr);

  // A send to the slave is refused with a retryable code.
  const direct = await raw.invoke(
    slave.addr,
    createRequest(
      RequestCode.SEND_MESSAGE,
      {
        producerGroup: "g",
        topic,
        defaultTopic: "TBW102",
        defaultTopicQueueNums: 4,
        queueId: 0,
        sysFlag: 0,
        bornTimestamp: Date.now(),
        flag: 0,
        properties: "",
        reconsumeTimes: 0,
        unitMode: false,
        batch: false,
      },
      Buffer.from("to the slave"),
    ),
    3000,
  );
  assert.equal(direct.code, ResponseCode.SERVICE_NOT_AVAILABLE, direct.remark);
  assert.match(direct.remark ?? "", /is a slave/);
  // Metadata changes too: the slave's tables are the master's copies.
  const group = await raw.invoke(
    slave.addr,
    createRequest(
      RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
      {},
      Buffer.from(JSON.stringify({ groupName: "on_slave" })),
    ),
    3000,
  );
  assert.equal(group.code, ResponseCode.SYSTEM_ERROR);
  assert.match(group.remark ?? "", /from slave broker/);

  // A consumer offset committed on the master reaches the slave.
  const admin = new Admin({ endpoints: nsAddr(), logger: testLogger("admin") });
  try {
    await raw.invoke(
      master.addr,
      createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
        consumerGroup: "ha_group",
        topic,
        queueId: 0,
        commitOffset: 7,
      }),
      3000,
    );
  } finally {
    await admin.shutdown();
  }
  await eventually("the committed offset on the slave", async () => {
    const r = await raw.invoke(
      slave.addr,
      createRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: "ha_group", topic, queueId: 0 }),
      3000,
    );
    return r.code === ResponseCode.SUCCESS && Number(r.extFields!.offset) === 7 ? true : undefined;
  });
  // Everything acknowledged is on the slave before the kill (replication is asynchronous).
  for (const q of [0, 1])
    await eventually(`queue ${q} on the slave`, () => pullAll(slave.addr, topic, q, perQueue[q]!));

  // Runtime info (brokerStatus) shows the replication state on both.
  const info = async (addr: string) =>
    JSON.parse(
      (await raw.invoke(addr, createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 3000)).body!.toString(),
    ).table as Record<string, string>;
  const m = await eventually("the master to see the slave caught up", async () => {
    const t = await info(master.addr);
    return t.haReplicationLagBytes === "0" ? t : undefined;
  });
  assert.equal(m.brokerRole, "ASYNC_MASTER");
  assert.equal(m.haSlaveCount, "1");
  const s = await info(slave.addr);
  assert.equal(s.brokerRole, "SLAVE");
  assert.equal(s.haMasterConnected, "true");

  await stopBroker(master);
  for (const q of [0, 1]) {
    const got = (await pullAll(slave.addr, topic, q, perQueue[q]!))!;
    assert.equal(got.length, perQueue[q]);
    for (const m of got) {
      const s = sent.get(m.properties.UNIQ_KEY!);
      assert.ok(s, "a message nobody sent");
      assert.equal(m.queueOffset, s.queueOffset);
      assert.equal(m.queueId, s.queueId);
      assert.equal(m.body.toString(), s.body);
    }
  }
  // Look-ups on the slave: by key (its own index) and by offsetMsgId (same offsets as the master).
  const byKey = await raw.invoke(
    slave.addr,
    createRequest(RequestCode.QUERY_MESSAGE, {
      topic,
      key: "key-42",
      maxNum: 16,
      beginTimestamp: 0,
      endTimestamp: Date.now() + 60_000,
    }),
    5000,
  );
  assert.equal(byKey.code, ResponseCode.SUCCESS, byKey.remark);
  const [found] = decodeMessages(byKey.body!);
  assert.equal(found!.body.toString(), `ha-42-${"x".repeat(42)}`);
  const view = await raw.invoke(
    slave.addr,
    createRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: found!.commitLogOffset }),
    5000,
  );
  assert.equal(view.code, ResponseCode.SUCCESS, view.remark);
  assert.equal(decodeMessages(view.body!)[0]!.msgId, found!.msgId);
  await stopBroker(slave, "SIGTERM");
});

test("SYNC_MASTER: SLAVE_NOT_AVAILABLE without a slave; SEND_OK only once the slave holds the message; FLUSH_SLAVE_TIMEOUT while the slave is paused; a restarted slave catches up", async () => {
  const name = uniq("mss");
  const master = await startBroker(name, 0, "SYNC_MASTER", { syncFlushTimeout: 1000 });
  const topic = uniq("SyncTopic");
  await createTopic(master.addr, topic, 1);
  const p = new Producer({ endpoints: nsAddr(), logger: testLogger("producer"), ...FAST });
  await p.startup();
  try {
    const alone = await p.send({ topic, body: "no slave yet" });
    assert.equal(alone.sendStatus, "SLAVE_NOT_AVAILABLE");

    const slave = await startBroker(name, 1, "SLAVE");
    // Acknowledged = on the slave: the first SEND_OK after it connected is readable there at once.
    const ok = await eventually("a SEND_OK with the slave connected", async () => {
      const r = await p.send({ topic, body: "replicated" });
      return r.sendStatus === "SEND_OK" ? r : undefined;
    });
    const onSlave = await eventually(
      "the topic on the slave",
      () => pullAll(slave.addr, topic, 0, ok.queueOffset + 1),
      10_000,
    );
    assert.equal(onSlave.at(-1)!.body.toString(), "replicated");

    // A paused slave acknowledges nothing: the master stores, answers FLUSH_SLAVE_TIMEOUT.
    process.kill(slave.child.pid!, "SIGSTOP");
    const t0 = Date.now();
    const late = await p.send({ topic, body: "slave paused" });
    assert.equal(late.sendStatus, "FLUSH_SLAVE_TIMEOUT");
    assert.ok(Date.now() - t0 >= 900, `answered after ${Date.now() - t0} ms, before syncFlushTimeout`);
    process.kill(slave.child.pid!, "SIGCONT");

    // The slave copies the last message once resumed; then it is killed and its last record
    // torn (bytes of its body garbled, as by a write cut short): at restart its recovery cuts
    // the torn record, it reports the shorter end and the master sends the rest again.
    await eventually("the resumed slave caught up", async () =>
      (await runtimeInfo(master.addr)).haReplicationLagBytes === "0" ? true : undefined,
    );
    const lastOnMaster = (await pullAll(master.addr, topic, 0, late.queueOffset + 1))!.at(-1)!;
    assert.equal(lastOnMaster.body.toString(), "slave paused");
    await stopBroker(slave);
    const segmentSize = 1024 * 1024;
    const at = lastOnMaster.commitLogOffset;
    const segment = join(
      ha.dir,
      `${name}-1`,
      "commitlog",
      String(Math.floor(at / segmentSize) * segmentSize).padStart(20, "0"),
    );
    const fh = await open(segment, "r+");
    await fh.write(Buffer.from("XXXX"), 0, 4, (at % segmentSize) + RecordLayout.BODY + 2);
    await fh.close();
    // A write can only be cut short past the last fsync the checkpoint records; the slave's
    // checkpoint may already cover the last record (it flushes on its own schedule), so it goes:
    // recovery then checks every record, as after a crash before the first checkpoint.
    await rm(join(ha.dir, `${name}-1`, "checkpoint"), { force: true });
    // More sends (SLAVE_NOT_AVAILABLE once the master sees the slave gone); the slave restarts on its store and catches up.
    const more: number[] = [];
    for (let i = 0; i < 50; i++) more.push((await p.send({ topic, body: `later-${i}` })).queueOffset);
    const restarted = await startBroker(name, 1, "SLAVE");
    const total = more.at(-1)! + 1;
    const all = await eventually("the restarted slave caught up", () =>
      pullAll(restarted.addr, topic, 0, total),
    );
    assert.deepEqual(
      all.map((m) => m.queueOffset),
      Array.from({ length: total }, (_, i) => i),
    );
    assert.equal(all.at(-1)!.body.toString(), "later-49");
    assert.ok(all.some((m) => m.body.toString() === "slave paused"));
    // Byte for byte the master's records (the torn one was cut and copied again).
    const fromMaster = (await pullAll(master.addr, topic, 0, total))!;
    assert.deepEqual(
      all.map((m) => [m.commitLogOffset, m.storeSize, m.properties, m.body.toString()]),
      fromMaster.map((m) => [m.commitLogOffset, m.storeSize, m.properties, m.body.toString()]),
    );
    await stopBroker(restarted, "SIGTERM");
  } finally {
    await p.shutdown();
    await stopBroker(master, "SIGTERM");
  }
});

async function getTotal(addr: string): Promise<number> {
  const r = await raw.invoke(addr, createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 3000);
  return Number(JSON.parse(r.body!.toString()).table.msgGetTotalTodayNow);
}

test("read/write splitting (slaveReadEnable): a consumer behind by more than accessMessageInMemoryMaxRatio is sent to the slave and reads there; our client and unmodified ali-ons both follow", async () => {
  const name = uniq("msr");
  // Ratio 0: any backlog counts as "not in memory", so the rule shows without gigabytes of data.
  const split = { slaveReadEnable: true, accessMessageInMemoryMaxRatio: 0 };
  const master = await startBroker(name, 0, "ASYNC_MASTER", split);
  const slave = await startBroker(name, 1, "SLAVE", split);
  const topic = uniq("SplitTopic");
  await createTopic(master.addr, topic, 1);
  const p = new Producer({ endpoints: nsAddr(), logger: testLogger("producer"), ...FAST });
  await p.startup();
  const n = 2000;
  try {
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => p.send({ topic, body: `split-${i + k}` })));
    }
  } finally {
    await p.shutdown();
  }
  await eventually("the backlog on the slave", () => pullAll(slave.addr, topic, 0, n));

  for (const client of ["tidemq", "ali-ons"]) {
    const slaveBefore = await getTotal(slave.addr);
    const masterBefore = await getTotal(master.addr);
    const got = new Set<string>();
    let close: () => Promise<void>;
    if (client === "tidemq") {
      const c = new PushConsumer({
        endpoints: nsAddr(),
        consumerGroup: uniq("SplitG"),
        subscriptions: new Map([[topic, "*"]]),
        consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
        messageListener: {
          consume(m) {
            got.add(m.body.toString());
            return ConsumeResult.SUCCESS;
          },
        },
        logger: testLogger("consumer"),
        ...FAST,
      });
      await c.startup();
      close = () => c.shutdown();
    } else {
      const c = new ons.Consumer({
        nameSrv: nsAddr(),
        consumerGroup: uniq("SplitOns"),
        consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
        ...onsTimers,
        pollNameServerInteval: 2000,
        heartbeatBrokerInterval: 2000,
      });
      c.on("error", () => undefined);
      await c.ready();
      c.subscribe(topic, "*", async (m) => {
        got.add(m.body.toString());
      });
      close = () => c.close();
    }
    try {
      await eventually(
        `${client} consumed the backlog`,
        async () => (got.size >= n ? true : undefined),
        60_000,
      );
    } finally {
      await close();
    }
    const fromSlave = (await getTotal(slave.addr)) - slaveBefore;
    const fromMaster = (await getTotal(master.addr)) - masterBefore;
    // The first pull goes to the master, which redirects; the backlog is read on the slave.
    assert.ok(
      fromSlave >= n / 2,
      `${client}: ${fromSlave} messages read on the slave, ${fromMaster} on the master`,
    );
  }
  await stopBroker(slave, "SIGTERM");
  await stopBroker(master, "SIGTERM");
});

test("a slave started before its master finds it through the NameServer within seconds and copies what it is sent", async () => {
  const name = uniq("msf");
  const slave = await startBroker(name, 1, "SLAVE");
  const master = await startBroker(name, 0, "ASYNC_MASTER");
  const topic = uniq("EarlySlave");
  await createTopic(master.addr, topic, 1);
  const p = new Producer({ endpoints: nsAddr(), logger: testLogger("producer"), ...FAST });
  await p.startup();
  try {
    for (let i = 0; i < 10; i++) await p.send({ topic, body: `early-${i}` });
  } finally {
    await p.shutdown();
  }
  const got = await eventually("the messages on the slave", () => pullAll(slave.addr, topic, 0, 10), 20_000);
  assert.deepEqual(
    got.map((m) => m.body.toString()),
    Array.from({ length: 10 }, (_, i) => `early-${i}`),
  );
  await stopBroker(slave, "SIGTERM");
  await stopBroker(master, "SIGTERM");
});

test("a consumer reading from a slave that hangs (SIGSTOP: still in the route, connection open) goes back to the master after one failed pull", async () => {
  const name = uniq("msk");
  const split = { slaveReadEnable: true, accessMessageInMemoryMaxRatio: 0 };
  const master = await startBroker(name, 0, "ASYNC_MASTER", split);
  const slave = await startBroker(name, 1, "SLAVE", split);
  const topic = uniq("SlaveDies");
  await createTopic(master.addr, topic, 1);
  const p = new Producer({ endpoints: nsAddr(), logger: testLogger("producer"), ...FAST });
  await p.startup();
  const n = 3000;
  try {
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => p.send({ topic, body: `d-${i + k}` })));
    }
  } finally {
    await p.shutdown();
  }
  await eventually("the backlog on the slave", () => pullAll(slave.addr, topic, 0, n));
  const got = new Set<string>();
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const c = new PushConsumer({
    endpoints: nsAddr(),
    consumerGroup: uniq("DiesG"),
    subscriptions: new Map([[topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    messageListener: {
      async consume(m) {
        // Held after 200 until the slave is dead: most of the backlog is still to pull then.
        if (got.size >= 200) await gate;
        got.add(m.body.toString());
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await c.startup();
  try {
    await eventually("200 consumed (from the slave)", async () => (got.size >= 200 ? true : undefined));
    assert.ok((await runtimeInfo(slave.addr)).msgGetTotalTodayNow !== "0");
    // A hung (or unreachable) slave stays in the route for up to 120 s, unlike a killed one
    // whose NameServer connection closes at once: 30 s proves the consumer left it.
    process.kill(slave.child.pid!, "SIGSTOP");
    release();
    await eventually(
      "the rest consumed from the master",
      async () => (got.size >= n ? true : undefined),
      30_000,
    );
  } finally {
    release();
    await c.shutdown();
    await stopBroker(slave);
    await stopBroker(master, "SIGTERM");
  }
});
