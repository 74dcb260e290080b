import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  encodeBatchBody,
  encodeProperties,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import { Admin } from "../src/index.js";
import { testLogger, uniq, until, waitFor } from "./cluster.js";
import { DLedgerGroup } from "./dledgerGroup.js";
import { keyedSend, sendAnswer } from "./keyedSend.js";

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

const send = (topic: string, uniqKey: string) => keyedSend("PG_RESEND", topic, uniqKey);
const answer = sendAnswer;

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

/*
 * A replica's uncommitted tail, taken back after a failover, must not stay in its window. Old
 * leader L is left alone (both followers killed) and appends message K it can never commit,
 * then dies (kill -9). The others restart and elect N; the producer's retry stores K at another offset (a
 * message M first, so L's old K offset holds M there). L restarts — its start-up window is
 * loaded from its log, where K still sits in the tail that L, rejoining as a follower, takes
 * back — and leadership comes back to it. A further resend of K to L must get N's answer:
 * an entry for the taken-back K, older than the one its catch-up read, used to be found first,
 * read back as M (a "collision") and K stored a second time.
 */
test("a taken-back uncommitted tail leaves no window entry: a resend to its replica, leader again, gets the committed original", {
  timeout: 240_000,
}, async () => {
  const api = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  try {
    for (const r of group.replicas) if (!group.alive(r)) await group.startReplica(r.id);
    const l = await group.leader(60_000);
    const topic = uniq("DLTB");
    await api.createTopic({ topic, brokerAddr: l.addr, readQueueNums: 4, writeQueueNums: 4 });
    const k0 = await client.invoke(l.addr, send(topic, "7F0000010001000000000000000C0001"));
    assert.equal(k0.code, ResponseCode.SUCCESS, k0.remark);
    // Both followers hold everything committed so far before they are frozen.
    const followers = group.replicas.filter((r) => r.id !== l.id);
    await until(
      async () => {
        const li = await api.getBrokerRuntimeInfo(l.addr);
        for (const f of followers) {
          const fi = await api.getBrokerRuntimeInfo(f.addr);
          if (fi.dLegerLastIndex !== li.dLegerLastIndex || fi.dLegerCommitIndex !== li.dLegerCommitIndex)
            return false;
        }
        return true;
      },
      30_000,
      "the followers caught up",
    );
    const before = Number((await api.getBrokerRuntimeInfo(l.addr)).dLegerLastIndex);

    const key = "7F0000010001000000000000000C0002";
    // The followers die first (SIGSTOP would not do: they would read K from their sockets on SIGCONT).
    // K must reach L before its check-quorum deposes it (an election timeout, 1 s): sent at once.
    await Promise.all(followers.map((f) => group.kill(f.id, "SIGKILL")));
    // Never acknowledged: no majority can hold it.
    const uncommitted = client.invoke(l.addr, send(topic, key)).catch(() => undefined);
    await until(
      async () => Number((await api.getBrokerRuntimeInfo(l.addr)).dLegerLastIndex) > before,
      10_000,
      "K appended to the isolated leader's log",
      20,
    );
    await group.kill(l.id, "SIGKILL");
    await uncommitted;
    await Promise.all(followers.map((f) => group.startReplica(f.id)));

    const n = await group.leader(60_000, l.id);
    const m = await client.invoke(n.addr, send(topic, "7F0000010001000000000000000C0003"));
    assert.equal(m.code, ResponseCode.SUCCESS, m.remark);
    const retry = await client.invoke(n.addr, send(topic, key));
    assert.equal(retry.code, ResponseCode.SUCCESS, retry.remark);
    assert.equal(retry.extFields?.queueOffset, "2", "the retry of the never-committed K is stored on N");

    await group.startReplica(l.id);
    await until(async () => (await maxOffset(l.addr, topic)) === 3, 60_000, "L caught up as a follower");
    const moved = await group.admin(["transferLeader", "-g", group.brokerName, "-i", l.id]);
    assert.equal(moved.code, 0, moved.out);
    const back = group.replica(l.id);
    await waitFor(() => back.role === "leader", 60_000, `${l.id} leads again`);

    const resend = await client.invoke(back.addr, send(topic, key));
    assert.deepEqual(answer(resend), answer(retry), `resend answer: ${resend.remark}`);
    assert.equal(await maxOffset(back.addr, topic), 3, "K was stored a second time");
  } finally {
    await api.shutdown();
  }
});

function batch(topic: string, uniqKeys: string[]): RemotingCommand {
  const body = encodeBatchBody(
    uniqKeys.map((u) => ({ flag: 0, body: Buffer.from(`b-${u}`), properties: { UNIQ_KEY: u } })),
  );
  const header = sendHeaderToV2({
    producerGroup: "PG_RESEND",
    topic,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: encodeProperties({ WAIT: "true" }),
    batch: true,
  });
  return createRequest(RequestCode.SEND_BATCH_MESSAGE, header, body);
}

/*
 * A batch (what the auto-batching producer sends) across a leader change: on the old leader
 * its later messages' window entries follow the first one's; the new leader's catch-up enters
 * each record on its own. The whole batch resent gets the original answer (every msgId, the
 * first queue offset), and so does one of its messages resent alone.
 */
test("a batch resent to the new leader after kill -9 gets the original answer, and so does one of its messages alone", {
  timeout: 120_000,
}, async () => {
  const api = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  try {
    for (const r of group.replicas) if (!group.alive(r)) await group.startReplica(r.id);
    const leader = await group.leader(60_000);
    const topic = uniq("DLRB");
    await api.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 4, writeQueueNums: 4 });
    const keys = [1, 2, 3].map((i) => `7F0000010001000000000000000D000${i}`);
    const first = await client.invoke(leader.addr, batch(topic, keys));
    assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
    const msgIds = first.extFields!.msgId!.split(",");
    assert.equal(msgIds.length, 3);

    await group.kill(leader.id, "SIGKILL");
    const next = await group.leader(60_000, leader.id);
    assert.equal(await maxOffset(next.addr, topic), 3);
    const again = await client.invoke(next.addr, batch(topic, keys));
    assert.deepEqual(answer(again), answer(first), `batch resend answer: ${again.remark}`);
    const one = await client.invoke(next.addr, send(topic, keys[1]!));
    assert.equal(one.code, ResponseCode.SUCCESS, one.remark);
    assert.equal(one.extFields?.msgId, msgIds[1]);
    assert.equal(one.extFields?.queueOffset, "1");
    assert.equal(await maxOffset(next.addr, topic), 3, "a resend was stored again");
  } finally {
    await api.shutdown();
  }
});
