import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Admin, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { closeOnsDefaultProducer, ons, onsTimers } from "./alions.js";
import { createTopicOn, FAST, testLogger, uniq, waitFor } from "./cluster.js";
import { DLedgerGroup } from "./dledgerGroup.js";

/*
 * A DLedger group of three broker processes (Raft over the commit log), a NameServer in this
 * process, our producer and consumer. Kill -9 of the leader: a new leader takes writes within
 * 5 s, nothing acknowledged is lost, the old leader rejoins as a follower.
 */

let group: DLedgerGroup;
before(async () => {
  group = await DLedgerGroup.start(3);
});
after(async () => {
  await closeOnsDefaultProducer();
  await group?.stop();
});

const createTopic = async (topic: string, queues: number) =>
  createTopicOn(group.nsAddr, (await group.leader()).addr, topic, queues, 10_000);

test("one leader registers as brokerId 0, followers as 1 and 2; sends are acknowledged and consumed; a kill -9 of the leader loses nothing acknowledged", async () => {
  const leader = await group.leader();
  const topic = uniq("DL");
  await createTopic(topic, 4);
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const route = await admin.getTopicRoute(topic);
  await admin.shutdown();
  const addrs = route.brokerDatas[0]!.brokerAddrs;
  assert.equal(addrs["0"], leader.addr);

  const p = new Producer({ endpoints: group.nsAddr, logger: testLogger("producer"), ...FAST });
  const got = new Map<string, number>();
  const c = new PushConsumer({
    endpoints: group.nsAddr,
    consumerGroup: uniq("DG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume(m) {
        const body = m.body.toString();
        got.set(body, (got.get(body) ?? 0) + 1);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await p.startup();
  await c.startup();
  try {
    const acked: string[] = [];
    for (let i = 0; i < 200; i++) {
      await p.send({ topic, body: `a${i}` });
      acked.push(`a${i}`);
    }
    await waitFor(() => acked.every((b) => got.has(b)), 20_000, "first batch consumed");

    // Kill the leader while sends are in flight.
    const sending = (async () => {
      for (let i = 0; i < 400; i++) {
        try {
          await p.send({ topic, body: `b${i}` });
          acked.push(`b${i}`);
        } catch (err) {
          // refused or timed out: not acknowledged, may or may not be stored
          if (process.env.DEBUG_DL) console.log(`send b${i} failed: ${(err as Error).message}`);
        }
      }
    })();
    await waitFor(() => acked.length >= 260, 20_000, "sends under way");
    const killedAt = Date.now();
    await group.kill(leader.id);
    const next = await group.leader(15_000, leader.id);
    const failoverMs = Date.now() - killedAt;
    assert.notEqual(next.id, leader.id);
    assert.ok(failoverMs < 5_000, `new leader took writes after ${failoverMs} ms`);
    await sending;

    // The old leader comes back as a follower and catches up.
    await group.startReplica(leader.id);
    await waitFor(() => acked.every((b) => got.has(b)), 30_000, "every acknowledged message consumed");
    assert.ok(acked.length > 300, `only ${acked.length} sends acknowledged`);
    const stillLeader = group.replicas.filter((r) => r.role === "leader" && group.alive(r));
    assert.equal(stillLeader.length, 1);
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});

test("unmodified ali-ons resumes sending and consuming after a leader kill once its route poll sees the new leader", async () => {
  const topic = uniq("DLONS");
  await createTopic(topic, 2);
  // A 2 s route poll keeps the test short; ali-ons' default is 30 s (pollNameServerInteval).
  const timers = { ...onsTimers, pollNameServerInteval: 2000 };
  const p = new ons.Producer({ nameSrv: group.nsAddr, producerGroup: uniq("OPG"), ...timers });
  p.on("error", () => {});
  const c = new ons.Consumer({ nameSrv: group.nsAddr, consumerGroup: uniq("OCG"), ...timers });
  c.on("error", () => {});
  await p.ready();
  await c.ready();
  const got = new Set<string>();
  c.subscribe(topic, "*", async (msg) => {
    got.add(msg.body.toString());
  });
  try {
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await p.send(new ons.Message(topic, "T", `o${i}`));
      assert.equal(r.sendStatus, "SEND_OK");
      acked.push(`o${i}`);
    }
    const leader = await group.leader();
    const killedAt = Date.now();
    await group.kill(leader.id);
    await group.leader(15_000, leader.id);
    // ali-ons keeps the dead address until its next route poll: retry until a send succeeds.
    let resumedAt = 0;
    for (let i = 0; i < 400 && !resumedAt; i++) {
      try {
        const r = await p.send(new ons.Message(topic, "T", `after${i}`));
        if (r.sendStatus === "SEND_OK") {
          resumedAt = Date.now();
          acked.push(`after${i}`);
        }
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
      if (Date.now() - killedAt > 30_000) break;
    }
    assert.ok(resumedAt > 0, "ali-ons never sent again after the failover");
    assert.ok(resumedAt - killedAt < 30_000, `ali-ons resumed after ${resumedAt - killedAt} ms`);
    await waitFor(
      () => acked.every((b) => got.has(b)),
      30_000,
      "ali-ons consumed every acknowledged message",
    );
    await group.startReplica(leader.id);
  } finally {
    await c.close();
    await p.close();
  }
});
