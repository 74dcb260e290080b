import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Admin, Producer } from "../src/index.js";
import { FAST, testLogger, uniq, until } from "./cluster.js";
import { DLedgerGroup, type Replica } from "./dledgerGroup.js";

/*
 * A DLedger group of three broker processes with a 3-second timer wheel (so a timer 15 s
 * away is rolled — stored again in the timer topic — every 3 s). The leader rolls the
 * timers, then is killed with SIGKILL; the new leader, which did not run the timer service
 * when the copies were stored, rebuilds its wheel from the log holding the originals and
 * their copies. Each timer must be stored in its real topic once.
 */

const TIMER_TOPIC = "rmq_sys_wheel_timer";
let group: DLedgerGroup;
let admin: Admin;
before(async () => {
  // Read by fixtures/dledger-child.ts (the replicas inherit this process's environment).
  process.env.TIDEMQ_TEST_TIMER_WHEEL_SLOTS = "3";
  group = await DLedgerGroup.start(3);
  admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
});
after(async () => {
  await admin?.shutdown();
  await group?.stop();
});

test("timers rolled by a DLedger leader that is then killed are delivered once by the new leader", async () => {
  const leader = await group.leader();
  const topic = uniq("DTr");
  await admin.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 1, writeQueueNums: 1 });
  await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "the route");
  const p = new Producer({
    endpoints: group.nsAddr,
    producerGroup: uniq("DTp"),
    topic,
    logger: testLogger("p"),
    ...FAST,
  });
  let old: Replica | undefined;
  try {
    await p.startup();
    const due = Date.now() + 15_000;
    const bodies = ["t0", "t1", "t2"];
    for (const body of bodies) await p.send({ topic, body, deliveryTimestamp: due });
    const timerMq = { topic: TIMER_TOPIC, brokerName: group.brokerName, queueId: 0 };
    // Each of the three stored again at least once (3 originals + 3 copies), on a follower too.
    const follower = group.replicas.find((r) => r.id !== leader.id)!;
    await until(
      async () => (await admin.getMaxOffset(follower.addr, timerMq)) >= 6,
      12_000,
      "the rolled copies on a follower",
    );
    assert.ok(Date.now() < due - 4000, "rolled well before the due time (the machine is too slow otherwise)");
    old = leader;
    await group.kill(leader.id);
    const next = await group.leader(20_000, leader.id);
    const mq = { topic, brokerName: group.brokerName, queueId: 0 };
    // Delivered, and the slot of the due time loaded with nothing left in memory: a second
    // copy in the wheel would have been delivered with the first (same due ms, same batch).
    await until(
      async () => {
        const s = await admin.getTimerStatus(next.addr);
        return (
          (await admin.getMaxOffset(next.addr, mq)) >= bodies.length &&
          s.delivered >= bodies.length &&
          s.loadedInMemory === 0 &&
          s.loadedUpToMs > due + 1000
        );
      },
      40_000,
      "the timers on the new leader",
    );
    assert.equal(
      await admin.getMaxOffset(next.addr, mq),
      bodies.length,
      "each timer stored once in its topic",
    );
    const s = await admin.getTimerStatus(next.addr);
    assert.equal(s.delivered, bodies.length);
    assert.equal(s.pending, 0);
  } finally {
    await p.shutdown();
    if (old) await group.startReplica(old.id);
  }
});
