/**
 * `tidemq admin timerStatus` and queryMsgById on a timer message, through the real
 * executable against a NameServer and a broker started in this process.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Producer } from "@tidemq/client";
import { createLogger } from "@tidemq/remoting";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { runAdmin } from "./runAdmin.js";

let c: TestCluster;
before(async () => {
  c = await startTestCluster("tidemq-admin-timer-");
});
after(async () => {
  await c?.stop();
});

const admin = (args: string[]) => runAdmin(c.nsAddr, args, c.children);

test("timerStatus counts pending timers by due day; queryMsgById shows a timer message's due time", async () => {
  const p = new Producer({ endpoints: c.nsAddr, logger: createLogger("producer", "error") });
  await p.startup();
  try {
    const inTwoDays = Date.now() + 2 * 86_400_000;
    const r1 = await p.send({ topic: "AdminTimerT", body: "close order 1", deliveryTimestamp: inTwoDays });
    const r2 = await p.send({ topic: "AdminTimerT", body: "close order 2", delay: 3_600_000 });
    const addr = c.broker.brokerAddr;
    const deadline = Date.now() + 10_000;
    while (c.broker.timers!.status().pending < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const s = await admin(["timerStatus", "-b", addr]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /Pending:\s+2/);
    assert.match(s.stdout, /#Due Day \(UTC\)\s+#Pending/);
    assert.match(s.stdout, new RegExp(`${new Date(inTwoDays).toISOString().slice(0, 10)}\\s+1`));
    const j = await admin(["timerStatus", "-c", c.cluster, "--json"]);
    assert.equal(j.code, 0, j.stderr);
    assert.equal((JSON.parse(j.stdout) as Record<string, { pending: number }>)[addr]!.pending, 2);
    const q = await admin(["queryMsgById", "-i", r1.offsetMessageId]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /Topic:\s+rmq_sys_wheel_timer/);
    assert.match(
      q.stdout,
      /Timer Due:\s+\S+ \S+ \(timer message for AdminTimerT queue \d+; delivered as a new record/,
    );
    assert.ok(r2.recallHandle);
  } finally {
    await p.shutdown();
  }
});
