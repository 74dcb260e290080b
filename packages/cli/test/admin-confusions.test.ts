/**
 * The first-hour confusions of issue 14, each against the real executable and a real cluster:
 * resetOffsetByTime with ali-ons consumers online, -n given a broker's port, queryMsgById with
 * a client message id and no -t, and one topic-name limit everywhere.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import { nameOption, UsageError } from "../src/admin/args.js";
import { resetSupport, unawareOfReset } from "../src/admin/resetAwareness.js";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { run } from "./processes.js";
import { REPO_ROOT } from "./readme.js";

const require = createRequire(import.meta.url);
interface OnsConsumer {
  on(event: "error", f: (err: Error) => void): void;
  ready(): Promise<void>;
  subscribe(topic: string, expr: string, handler: (msg: unknown) => Promise<unknown>): void;
  close(): Promise<void>;
}
const ons = require("ali-ons") as { Consumer: new (opts: object) => OnsConsumer };
// ali-ons keeps an inner producer (and its timers) for the whole process: closed in after().
const MQProducer = require("ali-ons/lib/producer/mq_producer.js") as {
  defaultProducer?: { close(): Promise<void> };
};
const quiet = { info() {}, warn() {}, debug() {}, error() {} };

const TIDEMQ = `${REPO_ROOT}packages/cli/bin/tidemq.js`;
let cluster: TestCluster;
before(async () => {
  cluster = await startTestCluster("tidemq-confusions-");
});
after(async () => {
  await MQProducer.defaultProducer?.close().catch(() => undefined);
  await cluster?.stop();
});

function tidemq(args: string[]) {
  return run(process.execPath, [TIDEMQ, ...args], { env: { ...process.env, NAMESRV_ADDR: cluster.nsAddr } });
}

test("resetSupport: ali-ons and unknown clients are named; Java and TideMQ clients apply", () => {
  const base = { clientId: "c", clientAddr: "127.0.0.1:1" };
  assert.equal(resetSupport({ ...base, language: "JAVA", version: 409 }).applies, true);
  assert.equal(resetSupport({ ...base, language: "JAVA", version: 373 }).applies, true);
  const ali = resetSupport({ ...base, language: "JAVA", version: 121 });
  assert.equal(ali.applies, false);
  assert.match(ali.why, /ali-ons/);
  assert.match(resetSupport({ ...base, language: "PYTHON", version: 100 }).why, /not known to apply/);
  assert.deepEqual(
    unawareOfReset([
      { ...base, clientId: "ours", language: "JAVA", version: 409 },
      { ...base, clientId: "ons", language: "JAVA", version: 121 },
    ]).map((c) => c.clientId),
    ["ons"],
  );
});

test("resetOffsetByTime with an ali-ons consumer online: refused by name unless --allow-ignored", async () => {
  const topic = "ResetWithOns";
  const group = "OnsResetGroup";
  const made = await tidemq([
    "admin",
    "updateTopic",
    "-t",
    topic,
    "-c",
    cluster.cluster,
    "-r",
    "2",
    "-w",
    "2",
  ]);
  assert.equal(made.code, 0, made.output);
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: quiet });
  await producer.startup();
  const consumer = new ons.Consumer({
    nameSrv: cluster.nsAddr,
    consumerGroup: group,
    logger: quiet,
    httpclient: {},
    pollNameServerInteval: 1000,
    heartbeatBrokerInterval: 1000,
    rebalanceInterval: 1000,
    persistConsumerOffsetInterval: 500,
  });
  consumer.on("error", () => {});
  const admin = new Admin({ endpoints: cluster.nsAddr, logger: quiet });
  try {
    await consumer.ready();
    let got = 0;
    consumer.subscribe(topic, "*", async () => {
      got++;
    });
    for (let i = 0; i < 4; i++) await producer.send({ topic, body: Buffer.from(`m${i}`) });
    // Until ali-ons has consumed and committed (the reset needs a group with offsets): bounded.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const stats = await admin.getConsumeStats(group, topic).catch(() => undefined);
      if (got >= 4 && stats && stats.queues.length === 2 && stats.diffTotal === 0) break;
      assert.ok(Date.now() < deadline, `ali-ons did not consume and commit (got ${got})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The group's retry topic reaches the NameServer with the broker's next registration: bounded wait.
    let clientId: string | undefined;
    while (!clientId) {
      clientId = (await admin.getConsumerConnectionList(group).catch(() => undefined))?.connectionSet[0]
        ?.clientId;
      assert.ok(clientId || Date.now() < deadline, "ali-ons' connection did not show up");
      if (!clientId) await new Promise((r) => setTimeout(r, 100));
    }

    const refused = await tidemq(["admin", "resetOffsetByTime", "-g", group, "-t", topic, "-s", "0"]);
    assert.equal(refused.code, 1, refused.output);
    assert.match(
      refused.output,
      /nothing reset: 1 online consumer\(s\) of group OnsResetGroup would not apply it/,
    );
    assert.ok(refused.output.includes(clientId), `names the client ${clientId}:\n${refused.output}`);
    assert.match(refused.output, /ali-ons/);
    assert.match(refused.output, /--allow-ignored/);
    const still = await admin.getConsumeStats(group, topic);
    assert.equal(still.diffTotal, 0, "nothing moved");

    const forced = await tidemq([
      "admin",
      "resetOffsetByTime",
      "-g",
      group,
      "-t",
      topic,
      "-s",
      "0",
      "--allow-ignored",
    ]);
    assert.equal(forced.code, 0, forced.output);
    assert.match(forced.output, /warning: these online consumers did not apply the reset .*ali-ons/);
    assert.ok(forced.output.includes(clientId));
    assert.match(forced.output, /^broker-a\s+0\s+0$/m);
  } finally {
    await admin.shutdown();
    await consumer.close();
    await producer.shutdown();
  }
});

test("admin -n pointed at a broker says it is not a NameServer", async () => {
  const r = await tidemq(["admin", "clusterList", "-n", cluster.broker.brokerAddr]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /REQUEST_CODE_NOT_SUPPORTED/);
  assert.ok(
    r.output.includes(`${cluster.broker.brokerAddr} is not a NameServer — a broker, probably`),
    r.output,
  );
});

test("queryMsgById: a client message id without -t is named as such, no made-up host is dialled", async () => {
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: quiet });
  await producer.startup();
  try {
    const sent = await producer.send({ topic: "QueryById", body: Buffer.from("x") });
    const r = await tidemq(["admin", "queryMsgById", "-i", sent.messageId]);
    assert.equal(r.code, 1, r.output);
    assert.match(r.output, /is not an offset message id \(its port field \d+ is no TCP port/);
    assert.match(r.output, /pass -t <topic>/);
    assert.doesNotMatch(r.output, /unreachable|ECONNREFUSED|connect/);
    const withTopic = await tidemq(["admin", "queryMsgById", "-i", sent.messageId, "-t", "QueryById"]);
    assert.equal(withTopic.code, 0, withTopic.output);
    assert.ok(withTopic.output.includes(sent.offsetMessageId), withTopic.output);
  } finally {
    await producer.shutdown();
  }
});

test("topic names: 127 characters at most, as the client and the broker say; groups 255", () => {
  assert.equal(nameOption({ t: "T".repeat(127) }, "t", "topic").length, 127);
  assert.throws(
    () => nameOption({ t: "T".repeat(128) }, "t", "topic"),
    (err: unknown) =>
      err instanceof UsageError && /topic "T+…" may contain only .*, 1-127 characters$/.test(err.message),
  );
  assert.equal(nameOption({ g: "G".repeat(255) }, "g", "group").length, 255);
  assert.throws(() => nameOption({ g: "G".repeat(256) }, "g", "group"), /, 1-255 characters$/);
  assert.throws(() => nameOption({ t: "a b" }, "t", "topic"), /may contain only letters, digits/);
});
