/**
 * The console's JSON API against a real cluster: bounded answers say when they were cut
 * (never a silent cap), bad input is a 400 naming the parameter, unknown things are 404,
 * and the console never connects to an address a request names.
 */
import assert from "node:assert/strict";
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
