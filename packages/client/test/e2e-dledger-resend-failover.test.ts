import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  encodeProperties,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import { Admin } from "../src/index.js";
import { testLogger, uniq } from "./cluster.js";
import { DLedgerGroup } from "./dledgerGroup.js";

/*
 * Producer de-duplication across a DLedger leader change (duplicateDetectionEnable): a
 * follower never sees the sends it receives by replication, so a new leader catches its window
 * up from the committed log before it admits a send. A resend after a lost acknowledgement that
 * reaches the new leader gets the original answer, and nothing is stored again.
 */

let group: DLedgerGroup;
let client: RemotingClient;
before(async () => {
  group = await DLedgerGroup.start(3, { duplicateDetectionEnable: true });
  client = new RemotingClient({ requestTimeoutMs: 30_000, logger: createLogger("test-client", "error") });
});
after(async () => {
  await client?.close();
  await group?.stop();
});

function send(topic: string, uniqKey: string): RemotingCommand {
  return createRequest(
    RequestCode.SEND_MESSAGE_V2,
    sendHeaderToV2({
      producerGroup: "PG_RESEND",
      topic,
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: encodeProperties({ WAIT: "true", UNIQ_KEY: uniqKey }),
      reconsumeTimes: 0,
      unitMode: false,
    }),
    Buffer.from(`body-${uniqKey}`),
  );
}

const answer = (r: RemotingCommand) => ({
  code: r.code,
  msgId: r.extFields?.msgId,
  queueId: r.extFields?.queueId,
  queueOffset: r.extFields?.queueOffset,
});

async function maxOffset(addr: string, topic: string): Promise<number> {
  const r = await client.invoke(addr, createRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: 0 }));
  assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
  return Number(r.extFields!.offset);
}

test("a resend to the new leader after kill -9 of the old one gets the original answer and stores nothing", {
  timeout: 120_000,
}, async () => {
  const leader = await group.leader(30_000);
  const topic = uniq("DLRS");
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  try {
    await admin.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 4, writeQueueNums: 4 });
  } finally {
    await admin.shutdown();
  }
  const key = "7F0000010001000000000000000A0001";
  const first = await client.invoke(leader.addr, send(topic, key));
  assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
  // A second message after A, so the catch-up reads more than one record.
  const other = await client.invoke(leader.addr, send(topic, "7F0000010001000000000000000A0002"));
  assert.equal(other.code, ResponseCode.SUCCESS, other.remark);

  await group.kill(leader.id, "SIGKILL");
  const next = await group.leader(60_000, leader.id);
  assert.notEqual(next.id, leader.id);
  assert.equal(await maxOffset(next.addr, topic), 2);

  const resend = await client.invoke(next.addr, send(topic, key));
  assert.deepEqual(answer(resend), answer(first), `resend answer: ${resend.remark}`);
  assert.equal(await maxOffset(next.addr, topic), 2, "the resend was stored again");
  // A new key is still stored.
  const fresh = await client.invoke(next.addr, send(topic, "7F0000010001000000000000000A0003"));
  assert.equal(fresh.code, ResponseCode.SUCCESS, fresh.remark);
  assert.equal(fresh.extFields?.queueOffset, "2");
});
