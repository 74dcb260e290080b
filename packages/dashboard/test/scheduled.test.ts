/** The Scheduled page's API against a real cluster: delayed messages pending per level. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import type { DashboardServer } from "../src/index.js";
import { Http, quietLogger, startConsole, startTestCluster, type TestCluster } from "./cluster.js";

let cluster: TestCluster;
let server: DashboardServer;
let admin: Admin;
let producer: Producer;

before(async () => {
  cluster = await startTestCluster("dash-sched-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
  producer = new Producer({ endpoints: cluster.nsAddr, logger: quietLogger });
  await producer.startup();
  server = await startConsole(cluster);
});
after(async () => {
  await server?.stop();
  await producer?.shutdown();
  await admin?.shutdown();
  await cluster?.stop();
});

interface Level {
  level: number;
  delayMs: number;
  pending: number;
  nextDue?: number;
}

test("pending delayed messages per level on each master, with the next due time", async () => {
  const topic = "SchedApiTopic";
  await admin.createTopic({ topic, brokerAddr: cluster.brokerAddr, readQueueNums: 1, writeQueueNums: 1 });
  const http = new Http(server.url);
  await http.req("GET", "/api/session");
  const empty = await http.req("GET", "/api/scheduled");
  assert.equal(empty.status, 200);
  const b0 = (empty.json.brokers as Array<{ brokerName: string; pending: number; levels: Level[] }>)[0]!;
  assert.equal(b0.brokerName, "broker-a");
  assert.equal(b0.pending, 0);

  const sentAt = Date.now();
  await producer.send({ topic, body: "in 1h", delayLevel: 17 });
  await producer.send({ topic, body: "in 2h a", delayLevel: 18 });
  await producer.send({ topic, body: "in 2h b", delayLevel: 18 });
  const r = await http.req("GET", "/api/scheduled");
  const b = (
    r.json.brokers as Array<{ addr: string; pending: number; nextDue: number; levels: Level[] }>
  )[0]!;
  assert.equal(b.addr, cluster.brokerAddr);
  assert.equal(b.pending, 3);
  assert.equal(b.levels.length, 18, "every configured level is listed, pending or not");
  const l17 = b.levels.find((l) => l.level === 17)!;
  const l18 = b.levels.find((l) => l.level === 18)!;
  assert.deepEqual([l17.pending, l17.delayMs, l18.pending, l18.delayMs], [1, 3_600_000, 2, 7_200_000]);
  assert.ok(b.nextDue >= sentAt + 3_600_000 && b.nextDue <= Date.now() + 3_600_000, "next due: the 1 h one");
  assert.equal(b.nextDue, l17.nextDue);
});
