/**
 * Producer de-duplication: the window itself (pure), then raw sends over TCP to a real
 * broker: a resend with the same UNIQ_KEY returns the original result and stores nothing,
 * also after a restart (rebuilt from the commit log); batches; outside the window it is
 * stored again; messages without UNIQ_KEY and the switch turned off are unaffected.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createRequest,
  decodeOffsetMsgId,
  encodeBatchBody,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import { DuplicateWindow } from "../src/dedup/DuplicateWindow.js";
import { createTopicRequest, newClient, removeDir, sendRequest, startBroker, tempDir } from "./helpers.js";

test("DuplicateWindow: lookups within the window only, oldest evicted first at the entry bound, expire()", () => {
  const w = new DuplicateWindow({ windowMs: 1000, maxEntries: 3 });
  const at = 10_000;
  w.add("T", "a", { msgId: "A", queueId: 0, queueOffset: 0, at });
  w.add("T", "a", { msgId: "A2", queueId: 1, queueOffset: 9, at: at + 1 }); // first answer kept
  w.add("U", "a", { msgId: "UA", queueId: 0, queueOffset: 0, at: at + 2 }); // same key, other topic
  assert.equal(w.get("T", "a", at + 1000)!.msgId, "A");
  assert.equal(w.get("U", "a", at + 10)!.msgId, "UA");
  assert.equal(w.get("T", "a", at + 1001), undefined, "older than the window");
  w.add("T", "b", { msgId: "B", queueId: 0, queueOffset: 1, at: at + 3 });
  w.add("T", "c", { msgId: "C", queueId: 0, queueOffset: 2, at: at + 4 });
  assert.equal(w.size, 3);
  assert.equal(w.evictedEarly, 1);
  assert.equal(w.get("T", "a", at + 5), undefined, "evicted: the bound was reached");
  assert.equal(w.expire(at + 1003), 1); // UA (at+2) is older than 1000 ms at at+1003
  assert.equal(w.size, 2);
});

async function maxOffsets(client: RemotingClient, addr: string, topic: string): Promise<number[]> {
  const out: number[] = [];
  for (let q = 0; q < 4; q++) {
    const r = await client.invoke(addr, createRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: q }));
    out.push(Number(r.extFields!.offset));
  }
  return out;
}

function send(topic: string, uniq: string | undefined, queueId: number, body = "x"): RemotingCommand {
  const properties: Record<string, string> = { WAIT: "true" };
  if (uniq) properties.UNIQ_KEY = uniq;
  return sendRequest(topic, Buffer.from(body), { queueId, properties });
}

function batch(topic: string, uniqs: string[], queueId: number): RemotingCommand {
  const body = encodeBatchBody(
    uniqs.map((u) => ({ flag: 0, body: Buffer.from(`b-${u}`), properties: { UNIQ_KEY: u } })),
  );
  const header = sendHeaderToV2({
    producerGroup: "PG",
    topic,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: "WAIT\u0001true\u0002",
    batch: true,
  });
  return createRequest(RequestCode.SEND_BATCH_MESSAGE, header, body);
}

const answer = (r: RemotingCommand) => ({
  code: r.code,
  msgId: r.extFields?.msgId,
  queueId: r.extFields?.queueId,
  queueOffset: r.extFields?.queueOffset,
});

test("a resend with the same UNIQ_KEY gets the original answer and stores nothing, also after a restart", async () => {
  const dir = await tempDir("dedup");
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, { duplicateDetectionEnable: true });
    let addr = `127.0.0.1:${broker.port}`;
    const T = "DedupT";
    assert.equal((await client.invoke(addr, createTopicRequest(T, 4))).code, ResponseCode.SUCCESS);
    const first = await client.invoke(addr, send(T, "UNIQ-1", 1, "order created"));
    assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
    await client.invoke(addr, send(T, "UNIQ-2", 1));
    const before = await maxOffsets(client, addr, T);
    assert.deepEqual(before, [0, 2, 0, 0]);
    // The producer's retry after a lost ack goes to another queue: still the original answer.
    const again = await client.invoke(addr, send(T, "UNIQ-1", 3, "order created"));
    assert.deepEqual(answer(again), answer(first));
    assert.deepEqual(await maxOffsets(client, addr, T), before, "nothing stored");
    // Same key, other topic: a different message.
    const other = await client.invoke(addr, send("DedupOther", "UNIQ-1", 0));
    assert.equal(other.code, ResponseCode.SUCCESS);
    assert.notEqual(other.extFields!.msgId, first.extFields!.msgId);
    // Without UNIQ_KEY (ali-ons): never de-duplicated.
    await client.invoke(addr, send(T, undefined, 2));
    await client.invoke(addr, send(T, undefined, 2));
    assert.deepEqual(await maxOffsets(client, addr, T), [0, 2, 2, 0]);
    // Batches: a whole resend gets the original answer; a mix of stored and new is refused.
    const b1 = await client.invoke(addr, batch(T, ["B-1", "B-2"], 0));
    assert.equal(b1.code, ResponseCode.SUCCESS, b1.remark);
    const b2 = await client.invoke(addr, batch(T, ["B-1", "B-2"], 3));
    assert.deepEqual(answer(b2), answer(b1));
    const mixed = await client.invoke(addr, batch(T, ["B-2", "B-3"], 0));
    assert.equal(mixed.code, ResponseCode.MESSAGE_ILLEGAL);
    assert.match(mixed.remark!, /1 already stored .* and 1 new/);
    const stored = await maxOffsets(client, addr, T);
    assert.deepEqual(stored, [2, 2, 2, 0]);

    // Restart: the window comes back from the commit log.
    await broker.shutdown();
    broker = await startBroker(dir, { duplicateDetectionEnable: true });
    addr = `127.0.0.1:${broker.port}`;
    const afterRestart = await client.invoke(addr, send(T, "UNIQ-1", 0, "order created"));
    assert.deepEqual(answer(afterRestart), answer(first));
    assert.deepEqual(answer(await client.invoke(addr, batch(T, ["B-1", "B-2"], 1))), answer(b1));
    assert.deepEqual(await maxOffsets(client, addr, T), stored);
    // A new key is stored as usual.
    const fresh = await client.invoke(addr, send(T, "UNIQ-3", 3));
    assert.equal(fresh.extFields!.queueOffset, "0");
  } finally {
    await client.close();
    await broker?.shutdown();
    await removeDir(dir);
  }
});

test("outside duplicateWindowSeconds a resend is stored again; duplicateDetectionEnable=false stores every resend", async () => {
  const dir = await tempDir("dedup-window");
  const dir2 = await tempDir("dedup-off");
  const client = newClient();
  let broker: BrokerController | undefined;
  let off: BrokerController | undefined;
  try {
    broker = await startBroker(dir, { duplicateDetectionEnable: true, duplicateWindowSeconds: 1 });
    const addr = `127.0.0.1:${broker.port}`;
    const T = "DedupW";
    await client.invoke(addr, createTopicRequest(T, 4));
    const first = await client.invoke(addr, send(T, "W-1", 0));
    const within = await client.invoke(addr, send(T, "W-1", 0));
    assert.deepEqual(answer(within), answer(first));
    // The window is a time span: let it pass (1 s + margin), then the same key is new again.
    await new Promise((r) => setTimeout(r, 1_100));
    const later = await client.invoke(addr, send(T, "W-1", 0));
    assert.equal(later.code, ResponseCode.SUCCESS);
    assert.equal(later.extFields!.queueOffset, "1");
    assert.deepEqual(await maxOffsets(client, addr, T), [2, 0, 0, 0]);

    off = await startBroker(dir2, { duplicateDetectionEnable: false });
    const addr2 = `127.0.0.1:${off.port}`;
    await client.invoke(addr2, createTopicRequest(T, 4));
    await client.invoke(addr2, send(T, "X-1", 0));
    await client.invoke(addr2, send(T, "X-1", 0));
    assert.deepEqual(await maxOffsets(client, addr2, T), [2, 0, 0, 0]);
  } finally {
    await client.close();
    await broker?.shutdown();
    await off?.shutdown();
    await removeDir(dir);
    await removeDir(dir2);
  }
});

test("start-up reads at most duplicateRebuildMaxBytes of the log: older sends are then forgotten", async () => {
  const dir = await tempDir("dedup-bytes");
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, { duplicateDetectionEnable: true });
    let addr = `127.0.0.1:${broker.port}`;
    const T = "DedupBytes";
    await client.invoke(addr, createTopicRequest(T, 4));
    const old = await client.invoke(addr, send(T, "OLD", 0));
    const recent = await client.invoke(addr, send(T, "RECENT", 1));
    await broker.shutdown();
    // Two records of about the same size: a tail a little longer than one holds only the newer.
    const size = decodeOffsetMsgId(recent.extFields!.msgId!).commitLogOffset;
    broker = await startBroker(dir, { duplicateDetectionEnable: true, duplicateRebuildMaxBytes: size + 16 });
    addr = `127.0.0.1:${broker.port}`;
    assert.deepEqual(answer(await client.invoke(addr, send(T, "RECENT", 2))), answer(recent));
    const again = await client.invoke(addr, send(T, "OLD", 0));
    assert.equal(again.code, ResponseCode.SUCCESS);
    assert.notEqual(again.extFields!.msgId, old.extFields!.msgId, "outside the rebuilt tail: stored again");
  } finally {
    await client.close();
    await broker?.shutdown();
    await removeDir(dir);
  }
});
