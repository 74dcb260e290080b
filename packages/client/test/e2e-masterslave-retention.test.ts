import assert from "node:assert/strict";
import { test } from "node:test";
import { Admin, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, noDiskPressure, testLogger, uniq, until, waitFor } from "./cluster.js";
import { FORCED_RETENTION, FORCED_RETENTION_SEGMENT } from "./dledgerGroup.js";
import { HaGroup, stopBroker } from "./haGroup.js";

/*
 * Classic master/slave over real processes, 64 KiB segments, retention forced on both (the
 * disk counts as over diskMaxUsedSpaceRatio 10 %, a pass every 200 ms): a timer message
 * parked in an old segment keeps that segment on the slave too (it learns the master's
 * retention floor with its metadata sync). After a kill -9 of the master the slave is
 * promoted the documented way (restarted as brokerId 0, ASYNC_MASTER) and delivers the timer
 * at its time.
 */

const SEG = FORCED_RETENTION_SEGMENT;
const DUE_MS = 30_000;

test("a slave keeps the segment of a timer its master still holds although its retention deletes everything older; promoted after a kill -9 of the master, it delivers the timer at its time", async (t) => {
  const why = await noDiskPressure();
  if (why) {
    t.skip(why);
    return;
  }
  const group = await HaGroup.start({
    dirPrefix: "tidemq-ha-floor-",
    settings: { brokerName: "rf-broker", ...FORCED_RETENTION, messageDelayLevel: "1s" },
  });
  const nsAddr = group.nsAddr;
  const admin = new Admin({ endpoints: nsAddr, logger: testLogger("admin") });
  const topic = uniq("MSRt");
  const got = new Map<string, { at: number; n: number }>();
  let c: PushConsumer | undefined;
  let p: Producer | undefined;
  try {
    // SYNC_MASTER: a send is answered once the slave holds it, so the slave never lags behind
    // what the master's forced retention deletes (a slave needing deleted records is another
    // matter, not this test's).
    const master = await group.startBroker("m", 0, "SYNC_MASTER");
    const slave = await group.startBroker("s", 1, "SLAVE");
    await until(
      async () => Number((await admin.getBrokerRuntimeInfo(master.addr)).haSlaveCount) >= 1,
      20_000,
      "the slave connected to the master",
    );
    await admin.createTopic({ topic, brokerAddr: master.addr, readQueueNums: 1, writeQueueNums: 1 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    c = new PushConsumer({
      endpoints: nsAddr,
      consumerGroup: uniq("MSRg"),
      subscriptions: new Map([[topic, "*"]]),
      messageListener: {
        consume(m) {
          const b = m.body.toString();
          const e = got.get(b);
          if (e) e.n++;
          else got.set(b, { at: Date.now(), n: 1 });
          return ConsumeResult.SUCCESS;
        },
      },
      logger: testLogger("consumer"),
      ...FAST,
    });
    p = new Producer({
      endpoints: nsAddr,
      producerGroup: uniq("MSRp"),
      topic,
      logger: testLogger("producer"),
      ...FAST,
    });
    await c.startup();
    await p.startup();
    const fill = async (n: number, tag: string) => {
      for (let i = 0; i < n; i++)
        await p!.send({ topic, tag: "fill", body: Buffer.alloc(3000, `${tag}${i}`) });
    };

    await fill(70, "a");
    const due = Date.now() + DUE_MS;
    const r = await p.send({ topic, body: "parked-timer", deliveryTimestamp: due });
    const parkedAt = Number.parseInt(r.offsetMessageId.slice(-16), 16);
    const parkedSeg = Math.floor(parkedAt / SEG) * SEG;
    await fill(140, "b");
    assert.ok(parkedSeg >= 2 * SEG, `the timer record sits past the first segments (${parkedAt})`);

    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    for (const [who, b] of [
      ["master", master],
      ["slave", slave],
    ] as const) {
      await until(
        async () => {
          const i = await info(b.addr);
          const held = /^(\d+) /.exec(i.retentionHeldBy ?? "");
          return Number(i.commitLogMinOffset) === parkedSeg && held !== null && Number(held[1]) <= parkedAt;
        },
        DUE_MS / 2,
        `the ${who} deleting every segment before the timer's (${parkedSeg}) and keeping that one`,
      );
    }
    const si = await info(slave.addr);
    assert.match(
      si.retentionHeldBy ?? "",
      /replicated retention floor/,
      "the slave is held by the master's floor",
    );
    assert.equal(Number(si.retentionFloor), parkedSeg, "the slave learned the master's floor");
    assert.equal(got.has("parked-timer"), false, "not delivered before its time");
    assert.ok(Date.now() < due - 5000, "the promotion starts before the timer is due (machine too slow?)");

    await stopBroker(master, "SIGKILL");
    await stopBroker(slave, "SIGTERM");
    await group.startBroker("s", 0, "ASYNC_MASTER"); // the promoted slave (group.stop() kills it)
    await waitFor(() => got.has("parked-timer"), DUE_MS + 30_000, "the parked timer from the promoted slave");
    assert.ok(got.get("parked-timer")!.at >= due, "the timer message is not early");
  } finally {
    await p?.shutdown();
    await c?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});
