import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequest, type RemotingCommand, RequestCode, ResponseCode } from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import { Admin } from "../src/index.js";
import { testLogger, uniq, until } from "./cluster.js";
import { HaGroup, stopBroker } from "./haGroup.js";
import { keyedSend, sendAnswer } from "./keyedSend.js";

/*
 * Producer de-duplication across a classic failover (duplicateDetectionEnable on master and
 * slave): messages the slave received by replication after its start are in its log, not in
 * the window it loaded at that start. The master dies (kill -9); the operator promotes the
 * slave — stops it and starts it on the same store as ASYNC_MASTER, brokerId 0 — and the
 * producers' resends of messages the old master acknowledged reach it. Each must get the
 * original answer and store nothing (the promoted broker loads its window from its log at
 * start, the records it got by replication included).
 */

const send = (topic: string, uniqKey: string) => keyedSend("PG_MS_RESEND", topic, uniqKey);
const answer = sendAnswer;

test("a slave promoted after kill -9 of its master answers resends of what the old master acknowledged with the original result and stores nothing", {
  timeout: 120_000,
}, async () => {
  const group = await HaGroup.start({
    dirPrefix: "tidemq-ms-resend-",
    captureStderr: true,
    settings: {
      brokerName: "rs-broker",
      mappedFileSizeCommitLog: 8 * 1024 * 1024,
      duplicateDetectionEnable: true,
    },
  });
  const nsAddr = group.nsAddr;
  const admin = new Admin({ endpoints: nsAddr, logger: testLogger("admin") });
  const client = new RemotingClient({
    requestTimeoutMs: 30_000,
    logger: createLogger("test-client", "error"),
  });
  const topic = uniq("MSRS");
  const mq = { topic, brokerName: "rs-broker", queueId: 0 };
  try {
    const m = await group.startBroker("m", 0, "ASYNC_MASTER");
    // The slave starts with an empty log: everything it holds comes by replication after its start.
    const s = await group.startBroker("s", 1, "SLAVE");
    await admin.createTopic({ topic, brokerAddr: m.addr, readQueueNums: 4, writeQueueNums: 4 });
    const keys = [
      "7F0000010001000000000000000B0001",
      "7F0000010001000000000000000B0002",
      "7F0000010001000000000000000B0003",
    ];
    const firsts: RemotingCommand[] = [];
    for (const key of keys) {
      const r = await client.invoke(m.addr, send(topic, key));
      assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
      firsts.push(r);
    }
    await until(
      async () => (await admin.getMaxOffset(s.addr, mq)) === keys.length,
      30_000,
      "the slave holding the three messages",
    );
    // Its topic table comes by metadata sync (every 10 s): wait for it, the promoted broker needs the topic.
    await until(
      async () => {
        const r = await client.invoke(s.addr, createRequest(RequestCode.GET_ALL_TOPIC_CONFIG, {}));
        return r.code === ResponseCode.SUCCESS && (r.body?.toString() ?? "").includes(topic);
      },
      30_000,
      "the slave's topic table holding the topic",
    );

    await stopBroker(m, "SIGKILL");
    await stopBroker(s, "SIGKILL");
    const p = await group.startBroker("s", 0, "ASYNC_MASTER");
    assert.equal(await admin.getMaxOffset(p.addr, mq), keys.length);

    for (let i = 0; i < keys.length; i++) {
      const resend = await client.invoke(p.addr, send(topic, keys[i]!));
      assert.deepEqual(answer(resend), answer(firsts[i]!), `resend ${i}: ${resend.remark}`);
    }
    assert.equal(await admin.getMaxOffset(p.addr, mq), keys.length, "a resend was stored again");
    const fresh = await client.invoke(p.addr, send(topic, "7F0000010001000000000000000B0004"));
    assert.equal(fresh.code, ResponseCode.SUCCESS, fresh.remark);
    assert.equal(fresh.extFields?.queueOffset, String(keys.length));
  } finally {
    await client.close();
    await admin.shutdown();
    await group.stop();
  }
});
