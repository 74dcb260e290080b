import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createRequest, RequestCode, ResponseCode } from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import { type BrokerUnderTest, createTopicRequest, openBroker, sendRequest } from "./helpers.js";

let t: BrokerUnderTest | undefined;
let client: RemotingClient;
let addr: string;

before(async () => {
  t = await openBroker("broker-overload", { flushDiskType: "SYNC_FLUSH" });
  ({ client, addr } = t);
  await client.invoke(addr, createTopicRequest("T_BUSY", 4));
});

after(() => t?.close());

async function setConfig(text: string): Promise<void> {
  const res = await client.invoke(
    addr,
    createRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from(text)),
  );
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
}

async function burst(n: number) {
  const body = Buffer.alloc(2048, 7);
  return Promise.all(
    Array.from({ length: n }, (_, i) => client.invoke(addr, sendRequest("T_BUSY", body, { queueId: i % 4 }))),
  );
}

test("sends that waited longer than waitTimeMillsInSendQueue are shed with SYSTEM_BUSY naming the setting", async () => {
  // One put at a time under SYNC_FLUSH and a 1 ms budget: a burst must queue past it.
  await setConfig("sendMessageThreadPoolNums=1\nwaitTimeMillsInSendQueue=1\n");
  const results = await burst(300);
  const busy = results.filter((r) => r.code === ResponseCode.SYSTEM_BUSY);
  const ok = results.filter((r) => r.code === ResponseCode.SUCCESS);
  assert.ok(busy.length > 0, "no send was shed");
  assert.ok(ok.length > 0, "every send was shed");
  assert.equal(busy.length + ok.length, results.length);
  assert.match(busy[0]!.remark!, /^\[TIMEOUT_CLEAN_QUEUE\] broker busy: a send waited \d+ ms/);
  assert.match(busy[0]!.remark!, /waitTimeMillsInSendQueue=1 ms/);
  assert.match(busy[0]!.remark!, /flushDiskType/);
});

test("a full send queue refuses with [REJECTREQUEST]", async () => {
  await setConfig(
    "sendMessageThreadPoolNums=1\nwaitTimeMillsInSendQueue=60000\nsendThreadPoolQueueCapacity=3\n",
  );
  const results = await burst(100);
  const rejected = results.filter((r) => r.code === ResponseCode.SYSTEM_BUSY);
  assert.ok(rejected.length > 0);
  assert.match(
    rejected[0]!.remark!,
    /^\[REJECTREQUEST\] broker busy: the send queue is full .*sendThreadPoolQueueCapacity=3/,
  );
  const info = await client.invoke(addr, createRequest(RequestCode.GET_BROKER_RUNTIME_INFO));
  assert.equal(JSON.parse(info.body!.toString()).table.sendThreadPoolQueueCapacity, "3");
  // Back to defaults: everything is accepted again.
  await setConfig(
    "sendMessageThreadPoolNums=16\nwaitTimeMillsInSendQueue=200\nsendThreadPoolQueueCapacity=10000\n",
  );
  const after = await burst(50);
  assert.ok(after.every((r) => r.code === ResponseCode.SUCCESS));
});
