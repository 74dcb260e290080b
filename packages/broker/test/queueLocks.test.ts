/**
 * Queue locks for orderly consumption (spec §4.13): the lock table as a pure module, and
 * LOCK_BATCH_MQ / UNLOCK_BATCH_MQ over TCP against a real broker.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  decodeJson,
  encodeJson,
  type MessageQueue,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { RebalanceLockManager } from "../src/RebalanceLockManager.js";
import { type BrokerUnderTest, openBroker } from "./helpers.js";

const q = (queueId: number): MessageQueue => ({ topic: "T", brokerName: "b", queueId });

test("a queue is held by one client; renewals keep it; expiry frees it; a non-owner's unlock is ignored", () => {
  const m = new RebalanceLockManager(60_000);
  assert.deepEqual(m.tryLockBatch("G", [q(0), q(1)], "c1", 0), [q(0), q(1)]);
  assert.deepEqual(m.tryLockBatch("G", [q(1), q(2)], "c2", 1_000), [q(2)], "c1 still holds q1");
  assert.deepEqual(m.tryLockBatch("OTHER", [q(1)], "c2", 1_000), [q(1)], "groups lock independently");
  m.unlockBatch("G", [q(1)], "c2");
  assert.equal(m.holder("G", q(1), 1_000), "c1", "an unlock by a non-owner is ignored");
  assert.deepEqual(m.tryLockBatch("G", [q(1)], "c1", 50_000), [q(1)], "the owner renews");
  assert.deepEqual(m.tryLockBatch("G", [q(1)], "c2", 100_000), [], "renewed at 50 s: still held at 100 s");
  assert.deepEqual(m.tryLockBatch("G", [q(1)], "c2", 110_001), [q(1)], "not renewed for 60 s: free");
  assert.equal(m.holder("G", q(1), 110_001), "c2");
  assert.equal(m.holder("G", q(0), 110_001), undefined, "q0's lock has lapsed");
  m.unlockBatch("G", [q(1)], "c2");
  assert.equal(m.holder("G", q(1), 110_001), undefined);
});

let t: BrokerUnderTest | undefined;
before(async () => {
  t = await openBroker("broker-locks");
});
after(() => t?.close());

function lockRequest(code: number, clientId: string, mqSet: unknown) {
  return createRequest(code, undefined, encodeJson({ consumerGroup: "CG_LOCK", clientId, mqSet }));
}

test("LOCK_BATCH_MQ answers the queues now held; UNLOCK_BATCH_MQ releases them; bad bodies are errors", async () => {
  const { client, addr } = t!;
  const lock = async (clientId: string, mqs: MessageQueue[]) => {
    const res = await client.invoke(addr, lockRequest(RequestCode.LOCK_BATCH_MQ, clientId, mqs));
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    return decodeJson<{ lockOKMQSet: MessageQueue[] }>(res.body, "lock").lockOKMQSet.map((m) => m.queueId);
  };
  assert.deepEqual(await lock("c1", [q(0), q(1)]), [0, 1]);
  assert.deepEqual(await lock("c2", [q(0), q(1), q(2)]), [2]);
  const unlock = await client.invoke(addr, lockRequest(RequestCode.UNLOCK_BATCH_MQ, "c1", [q(0)]));
  assert.equal(unlock.code, ResponseCode.SUCCESS);
  assert.deepEqual(await lock("c2", [q(0), q(1)]), [0]);

  const bad = await client.invoke(addr, lockRequest(RequestCode.LOCK_BATCH_MQ, "c1", [{ topic: "T" }]));
  assert.equal(bad.code, ResponseCode.SYSTEM_ERROR);
  assert.match(bad.remark!, /topic, brokerName and a queueId/);
  const noBody = await client.invoke(addr, createRequest(RequestCode.LOCK_BATCH_MQ, undefined, undefined));
  assert.equal(noBody.code, ResponseCode.SYSTEM_ERROR);
});
