/** The Transactions page's API against a real cluster: pending halves per broker and producer group. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import type { DashboardServer } from "../src/index.js";
import { Http, quietLogger, startConsole, startTestCluster, type TestCluster } from "./cluster.js";

let cluster: TestCluster;
let server: DashboardServer;
let admin: Admin;

before(async () => {
  cluster = await startTestCluster("dash-tx-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
  server = await startConsole(cluster);
});
after(async () => {
  await server?.stop();
  await admin?.shutdown();
  await cluster?.stop();
});

interface Row {
  brokerName: string;
  addr: string;
  pending: number;
  oldest?: number;
  groups: { items: Array<{ group: string; pending: number }>; total: number; cut: boolean };
}

test("pending half messages per broker: count, oldest, per producer group; commit and rollback clear them", async () => {
  const topic = "TxApiOrders";
  await admin.createTopic({ topic, brokerAddr: cluster.brokerAddr, readQueueNums: 1, writeQueueNums: 1 });
  const http = new Http(server.url);
  await http.req("GET", "/api/session");
  const status = async () => {
    const r = await http.req("GET", "/api/transactions");
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return (r.json.brokers as Row[])[0]!;
  };
  const idle = await status();
  assert.deepEqual(
    [idle.brokerName, idle.addr, idle.pending, idle.oldest],
    ["broker-a", cluster.brokerAddr, 0, undefined],
  );

  const p = new Producer({ endpoints: cluster.nsAddr, producerGroup: "TxApiP", logger: quietLogger });
  const q = new Producer({ endpoints: cluster.nsAddr, producerGroup: "TxApiQ", logger: quietLogger });
  await p.startup();
  await q.startup();
  try {
    const before = Date.now();
    const tx1 = p.beginTransaction();
    await p.send({ topic, keys: ["o-1"], body: "one" }, tx1);
    const tx2 = p.beginTransaction();
    await p.send({ topic, keys: ["o-2"], body: "two" }, tx2);
    const tx3 = q.beginTransaction();
    await q.send({ topic, keys: ["o-3"], body: "three" }, tx3);
    const s = await status();
    assert.equal(s.pending, 3);
    assert.ok(s.oldest! >= before - 1000 && s.oldest! <= Date.now());
    assert.deepEqual(s.groups.items, [
      { group: "TxApiP", pending: 2 },
      { group: "TxApiQ", pending: 1 },
    ]);
    assert.equal(s.groups.cut, false);
    await tx1.commit();
    await tx2.rollback();
    await tx3.commit();
    const done = await status();
    assert.deepEqual([done.pending, done.groups.items.length], [0, 0]);
  } finally {
    await p.shutdown();
    await q.shutdown();
  }
});
