/**
 * The console's JSON API against a real cluster: bounded answers say when they were cut
 * (never a silent cap), bad input is a 400 naming the parameter, unknown things are 404,
 * and the console never connects to an address a request names.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import type { DashboardServer } from "../src/index.js";
import { Http, quietLogger, startConsole, startTestCluster, type TestCluster } from "./cluster.js";

let cluster: TestCluster;
let server: DashboardServer;
let admin: Admin;
let http: Http;
const TOPIC = "ApiRangeTopic";
const SENT = 2100;

before(async () => {
  cluster = await startTestCluster("dash-api-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
  await admin.createTopic({
    topic: TOPIC,
    brokerAddr: cluster.brokerAddr,
    readQueueNums: 2,
    writeQueueNums: 2,
  });
  for (let i = 0; i < 12; i++)
    await admin.createTopic({
      topic: `ApiListTopic_${i}`,
      brokerAddr: cluster.brokerAddr,
      readQueueNums: 1,
      writeQueueNums: 1,
    });
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: quietLogger });
  await producer.startup();
  for (let i = 0; i < SENT; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => ({
      topic: TOPIC,
      keys: ["same-key"],
      body: `m${i + j}`,
    }));
    await producer.sendBatch(batch);
  }
  await producer.shutdown();
  server = await startConsole(cluster);
  http = new Http(server.url);
  await http.req("GET", "/api/session");
});
after(async () => {
  await server?.stop();
  await admin?.shutdown();
  await cluster?.stop();
});

test("topic list: paged and filtered, saying how many there are", async () => {
  const r = await http.req("GET", "/api/topics?search=apilisttopic&size=5&page=1");
  assert.equal(r.status, 200);
  assert.equal(r.json.total, 12);
  assert.equal(r.json.offset, 5);
  assert.equal((r.json.items as unknown[]).length, 5);
  assert.equal(r.json.cut, true);
  const counts = r.json.counts as Record<string, number>;
  assert.ok(counts.normal! >= 13 && counts.system! >= 1, JSON.stringify(counts));
  const bad = await http.req("GET", "/api/topics?type=bogus");
  assert.equal(bad.status, 400);
  assert.match(String(bad.json.error), /type must be one of/);
});

test("time-range query over 2,100 messages reads 2,000 and says the range holds 2,100", async () => {
  const r = await http.req(
    "GET",
    `/api/messages/byTime?topic=${TOPIC}&begin=0&end=${Date.now() + 60_000}&size=50`,
  );
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.stored, SENT, "the range's true size");
  assert.equal(r.json.total, 2000, "what was read");
  assert.equal(r.json.cut, true);
  assert.match(String(r.json.note), /2,100 messages are stored in this time range; reading at most 2,000/);
  assert.equal((r.json.items as unknown[]).length, 50);
  const last = await http.req(
    "GET",
    `/api/messages/byTime?topic=${TOPIC}&begin=0&end=${Date.now() + 60_000}&size=50&page=39`,
  );
  assert.equal(last.json.offset, 1950);
});

test("key query at the broker's cap says there may be more", async () => {
  const r = await http.req("GET", `/api/messages/byKey?topic=${TOPIC}&key=same-key`);
  assert.equal(r.status, 200);
  assert.equal((r.json.items as unknown[]).length, 64);
  assert.equal(r.json.cut, true);
  assert.match(String(r.json.note), /at most 64 messages a key query, so there may be more/);
});

test("bad input is a 400 naming the parameter; unknown topic 404; foreign broker addresses refused", async () => {
  const noTopic = await http.req("GET", "/api/messages/byKey?key=x");
  assert.equal(noTopic.status, 400);
  assert.match(String(noTopic.json.error), /parameter topic is required/);
  const badName = await http.req("GET", "/api/topics/detail?topic=a%20b");
  assert.equal(badName.status, 400);
  const unknown = await http.req("GET", "/api/topics/detail?topic=NoSuchTopicHere");
  assert.equal(unknown.status, 404);
  const foreign = await http.req("GET", "/api/cluster/brokerConfig?addr=10.1.2.3:10911");
  assert.equal(foreign.status, 400);
  assert.match(String(foreign.json.error), /not a broker of this cluster/);
  // An offset message id naming another host: refused before any connection.
  const id = "0A0102030000277100000000000000AA";
  const foreignId = await http.req("GET", `/api/messages/detail?offsetMsgId=${id}`);
  assert.equal(foreignId.status, 400);
  assert.match(String(foreignId.json.error), /not a broker of this cluster/);
  const config = await http.req("GET", `/api/cluster/brokerConfig?addr=${cluster.brokerAddr}`);
  assert.equal(config.status, 200);
  assert.equal((config.json.table as Record<string, string>).brokerName, "broker-a");
});

test("writes change the cluster: topic create/delete, group create/update/delete, skip backlog", async () => {
  const csrf = (await http.req("GET", "/api/session")).json.csrf as string;
  const post = (path: string, body: object) => http.req("POST", path, { body, csrf });

  assert.equal(
    (await post("/api/topics/createOrUpdate", { topic: "ApiDoomed", readQueueNums: 1, writeQueueNums: 1 }))
      .status,
    200,
  );
  assert.ok((await admin.getAllTopicConfig(cluster.brokerAddr)).ApiDoomed);
  const del = await post("/api/topics/delete", { topic: "ApiDoomed" });
  assert.equal(del.status, 200, JSON.stringify(del.json));
  assert.equal((await admin.getAllTopicConfig(cluster.brokerAddr)).ApiDoomed, undefined);
  await assert.rejects(admin.getTopicRoute("ApiDoomed"), /ApiDoomed/);
  const listed = await http.req("GET", "/api/topics?search=ApiDoomed");
  assert.equal(listed.json.total, 0, "the console's cache forgot it too");

  const g = "ApiGroup";
  assert.equal(
    (
      await post("/api/consumers/createOrUpdate", {
        group: g,
        retryMaxTimes: 3,
        consumeBroadcastEnable: false,
      })
    ).status,
    200,
  );
  let cfg = (await admin.getAllSubscriptionGroups(cluster.brokerAddr))[g];
  assert.equal(cfg?.retryMaxTimes, 3);
  assert.equal(cfg?.consumeBroadcastEnable, false);
  assert.equal((await post("/api/consumers/createOrUpdate", { group: g, retryMaxTimes: 5 })).status, 200);
  cfg = (await admin.getAllSubscriptionGroups(cluster.brokerAddr))[g];
  assert.equal(cfg?.retryMaxTimes, 5);

  // The group has offsets at 0 on the range topic: skipping the backlog moves them to the end.
  for (const queueId of [0, 1])
    await admin.updateConsumerOffset(
      cluster.brokerAddr,
      g,
      { topic: TOPIC, brokerName: "broker-a", queueId },
      0,
    );
  assert.equal((await admin.getConsumeStatsOnBroker(cluster.brokerAddr, g, TOPIC)).diffTotal, SENT);
  const skip = await post("/api/consumers/resetOffset", { group: g, topic: TOPIC, skip: true });
  assert.equal(skip.status, 200, JSON.stringify(skip.json));
  assert.equal((await admin.getConsumeStatsOnBroker(cluster.brokerAddr, g, TOPIC)).diffTotal, 0);

  assert.equal((await post("/api/consumers/delete", { group: g })).status, 200);
  assert.equal((await admin.getAllSubscriptionGroups(cluster.brokerAddr))[g], undefined);
  const actions = (await readFile(server.audit.file, "utf8"))
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { action: string; outcome: string }).action);
  assert.deepEqual(actions, [
    "topic.createOrUpdate",
    "topic.delete",
    "group.createOrUpdate",
    "group.createOrUpdate",
    "offset.reset",
    "group.delete",
  ]);
});
