import assert from "node:assert/strict";
import { test } from "node:test";
import { Admin, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, noDiskPressure, testLogger, uniq, until, waitFor } from "./cluster.js";
import { DLedgerGroup, FORCED_RETENTION, FORCED_RETENTION_SEGMENT } from "./dledgerGroup.js";

/*
 * DLedger group of three broker processes with 64 KiB segments and retention forced on every
 * replica (the disk counts as over diskMaxUsedSpaceRatio 10 %, a pass every 200 ms): a timer
 * message parked in an old segment keeps that segment on the followers too (the leader's
 * retention floor replicates through the log), and after a kill -9 of the leader the new
 * leader delivers it at its time.
 */

const SEG = FORCED_RETENTION_SEGMENT;
const DUE_MS = 30_000;

test("a follower keeps the segment of a timer the leader still holds although its retention deletes everything older; after a kill -9 of the leader the new leader delivers the timer at its time", async (t) => {
  const why = await noDiskPressure();
  if (why) {
    t.skip(why);
    return;
  }
  const group = await DLedgerGroup.start(3, {
    ...FORCED_RETENTION,
    messageDelayLevel: "1s",
  });
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const topic = uniq("DRt");
  const got = new Map<string, { at: number; n: number }>();
  let c: PushConsumer | undefined;
  let p: Producer | undefined;
  try {
    const leader = await group.leader();
    await admin.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 1, writeQueueNums: 1 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    c = new PushConsumer({
      endpoints: group.nsAddr,
      consumerGroup: uniq("DRg"),
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
      endpoints: group.nsAddr,
      producerGroup: uniq("DRp"),
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

    await fill(70, "a"); // ~3 segments nothing needs
    const due = Date.now() + DUE_MS;
    const r = await p.send({ topic, body: "parked-timer", deliveryTimestamp: due });
    const parkedAt = Number.parseInt(r.offsetMessageId.slice(-16), 16);
    const parkedSeg = Math.floor(parkedAt / SEG) * SEG;
    await fill(140, "b"); // ~6 more segments
    assert.ok(parkedSeg >= 2 * SEG, `the timer record sits past the first segments (${parkedAt})`);

    // Every replica's retention has deleted up to the timer's segment, and no further: on the
    // followers it is the replicated floor that holds it (their own services are not running).
    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    for (const rep of group.replicas) {
      await until(
        async () => {
          const i = await info(rep.addr);
          const held = /^(\d+) /.exec(i.dLegerRetentionHeldBy ?? "");
          return Number(i.commitLogMinOffset) === parkedSeg && held !== null && Number(held[1]) <= parkedAt;
        },
        DUE_MS / 2,
        `${rep.id} (${rep.id === leader.id ? "leader" : "follower"}) deleting every segment before the timer's (${parkedSeg}) and keeping that one`,
      );
      const i = await info(rep.addr);
      if (rep.id !== leader.id) {
        assert.match(
          i.dLegerRetentionHeldBy ?? "",
          /replicated retention floor/,
          `${rep.id}: held by the leader's floor`,
        );
        assert.equal(Number(i.dLegerRetentionFloor), parkedSeg, `${rep.id}: learned the floor`);
      }
    }
    assert.equal(got.has("parked-timer"), false, "not delivered before its time");
    assert.ok(Date.now() < due - 3000, "the failover starts before the timer is due (machine too slow?)");

    await group.kill(leader.id);
    const next = await group.leader(20_000, leader.id);
    assert.notEqual(next.id, leader.id);
    await waitFor(() => got.has("parked-timer"), DUE_MS + 30_000, "the parked timer from the new leader");
    assert.ok(got.get("parked-timer")!.at >= due, "the timer message is not early");
    const i = await info(next.addr);
    assert.ok(Number(i.commitLogMinOffset) > 0, "the new leader's retention kept running");
  } finally {
    await p?.shutdown();
    await c?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});
