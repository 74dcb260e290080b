/**
 * Timer messages from the referee client, the unmodified ali-ons@3.12.0:
 * Message#setStartDeliverTime (the __STARTDELIVERTIME property, absolute ms).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { closeOnsDefaultProducer, ons, onsTimers } from "./alions.js";
import { TestCluster, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await closeOnsDefaultProducer();
  await cluster?.stop();
});

test("ali-ons setStartDeliverTime(now + 15 s): arrives at least 15 s and less than 16 s after the send", async () => {
  const topic = uniq("OnsTimer");
  await cluster.createTopic(topic, 2);
  const p = new ons.Producer({ nameSrv: cluster.nsAddr, producerGroup: uniq("OPG"), ...onsTimers });
  p.on("error", () => {});
  const c = new ons.Consumer({ nameSrv: cluster.nsAddr, consumerGroup: uniq("OCG"), ...onsTimers });
  c.on("error", () => {});
  const arrivals = new Map<string, number>();
  c.subscribe(topic, "*", async (msg) => {
    const body = msg.body.toString();
    if (!arrivals.has(body)) arrivals.set(body, Date.now());
  });
  try {
    await p.ready();
    await c.ready();
    const plain = await p.send(new ons.Message(topic, "T", "plain"));
    assert.equal(plain.sendStatus, "SEND_OK");
    // The consumer is assigned its queues and pulling when the plain message arrives.
    await waitFor(() => arrivals.has("plain"), 30_000, "the plain message");
    const msg = new ons.Message(topic, "T", "in 15 s");
    const sentAt = Date.now();
    msg.setStartDeliverTime(sentAt + 15_000);
    const r = await p.send(msg);
    assert.equal(r.sendStatus, "SEND_OK");
    await waitFor(() => arrivals.has("in 15 s"), 30_000, "the timer message");
    const after = arrivals.get("in 15 s")! - sentAt;
    assert.ok(after >= 15_000, `arrived ${after} ms after the send: early`);
    assert.ok(after < 16_000, `arrived ${after} ms after the send: more than 1 s late`);
  } finally {
    await c.close().catch(() => undefined);
    await p.close().catch(() => undefined);
  }
});
