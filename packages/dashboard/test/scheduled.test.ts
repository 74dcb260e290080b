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

test("timer messages pending per due day next to the delay levels", async () => {
  const topic = "SchedTimerTopic";
  await admin.createTopic({ topic, brokerAddr: cluster.brokerAddr, readQueueNums: 1, writeQueueNums: 1 });
  const http = new Http(server.url);
  await http.req("GET", "/api/session");
  const inTwoDays = Date.now() + 2 * 86_400_000;
  await producer.send({ topic, body: "close order 1", deliveryTimestamp: inTwoDays });
  await producer.send({ topic, body: "close order 2", delay: 3_600_000 });
  await producer.send({ topic, body: "close order 3", delay: 3_600_000 });
  type Timer = {
    pending: number;
    nextDueMs?: number;
    days: { items: Array<{ day: string; count: number }>; cut: boolean };
  };
  let t: Timer | undefined;
  // The timer store takes the messages in from its topic a moment after they are stored.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = await http.req("GET", "/api/scheduled");
    t = (r.json.brokers as Array<{ timer: Timer }>)[0]!.timer;
    if (t.pending >= 3) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(t?.pending, 3, JSON.stringify(t));
  const byDay = new Map(t!.days.items.map((d) => [d.day, d.count]));
  assert.equal(byDay.get(new Date(inTwoDays).toISOString().slice(0, 10)), 1);
  const inAnHour = new Date(Date.now() + 3_600_000).toISOString().slice(0, 10);
  assert.ok((byDay.get(inAnHour) ?? 0) >= 2, JSON.stringify(t));
  assert.ok(t!.nextDueMs! > Date.now() + 3_500_000 && t!.nextDueMs! < Date.now() + 3_700_000);
  assert.equal(t!.days.cut, false);
});
