/**
 * Producer de-duplication: the window itself (pure), then raw sends over TCP to a real
 * broker: a resend with the same UNIQ_KEY returns the original result and stores nothing,
 * also after a restart (rebuilt from the commit log); batches; outside the window it is
 * stored again; messages without UNIQ_KEY and the switch turned off are unaffected.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { test } from "node:test";
import {
  createOffsetMsgId,
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
import { type DuplicateDetector, offsetOfMsgId } from "../src/dedup/DuplicateDetector.js";
import { DuplicateWindow, hashHi, hashKey } from "../src/dedup/DuplicateWindow.js";
import { windowSnapshotPath } from "../src/dedup/openDuplicateDetection.js";
import { createTopicRequest, newClient, removeDir, sendRequest, startBroker, tempDir } from "./helpers.js";

test("DuplicateWindow: lookups within the window only, oldest evicted first at the entry bound, expire()", () => {
  const w = new DuplicateWindow({ windowMs: 1000, maxEntries: 3 });
  const at = 10_000;
  const h = (topic: string, key: string): [number, number] => [hashKey(topic, key), hashHi()];
  w.add(...h("T", "a"), 100, at);
  w.add(...h("U", "a"), 300, at + 2); // same key, other topic
  w.add(...h("T", "a"), 200, at + 3); // added twice: the first answer is found
  assert.equal(w.get(...h("T", "a"), at + 1000), 100);
  assert.equal(w.get(...h("U", "a"), at + 10), 300);
  assert.equal(w.get(...h("T", "a"), at + 1001), 200, "the first aged out: the second answers");
  assert.equal(w.get(...h("T", "a"), at + 1004), -1, "older than the window");
  assert.equal(w.get(...h("T", "ab"), at), -1);
  assert.notDeepEqual(h("Ta", "b"), h("T", "ab"), "topic and key are hashed apart");
  w.add(...h("T", "b"), 400, at + 4); // the bound: T/a's first entry goes
  assert.equal(w.size, 3);
  assert.equal(w.evictedEarly, 1);
  assert.equal(w.get(...h("T", "a"), at + 5), 200, "its second entry is left");
  w.add(...h("T", "c"), 500, at + 5);
  assert.equal(w.get(...h("U", "a"), at + 5), -1, "evicted: the bound was reached");
  assert.equal(w.expire(at + 1004), 1); // T/a (at+3) is older than 1000 ms at at+1004
  assert.equal(w.size, 2);
  assert.equal(w.get(...h("T", "c"), at + 1004), 500);
  // Stored again once aged out, before expire() ran: the new entry answers.
  w.add(...h("T", "c"), 600, at + 1006);
  assert.equal(w.get(...h("T", "c"), at + 1006), 600);
  assert.equal(w.expire(at + 1006), 2); // T/b and the first T/c
  assert.equal(w.get(...h("T", "c"), at + 1006), 600);
});

test("DuplicateWindow: random adds, evictions and expiries agree with a Map model (probe runs and deletion)", () => {
  // Few distinct low words force long probe runs, wrap-around and backward-shift deletions.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // Small high words put every key under one table tag (each match is checked against the
  // ring); spread ones give distinct tags. The small rings wrap the table's seq bits (ring
  // length × 4) many times: aliased stale entries must never answer.
  for (const [maxEntries, spread] of [
    [1, false],
    [5, false],
    [37, false],
    [2000, false],
    [1, true],
    [5, true],
    [37, true],
    [2000, true],
  ] as const) {
    const windowMs = 50;
    const w = new DuplicateWindow({ windowMs, maxEntries });
    // The model: every add in order (oldest first); a lookup finds the oldest entry of a key
    // still within the window.
    const model: Array<{ key: string; offset: number; at: number }> = [];
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      now += rnd(3);
      const lo = rnd(16) * 4093; // 16 low words, spread over the table
      const hi = spread ? Math.imul(rnd(64) + 1, 0x9e3779b1) >>> 0 : rnd(64);
      const key = `${lo}/${hi}`;
      const op = rnd(10);
      if (op < 6) {
        w.add(lo, hi, step, now);
        if (model.length === maxEntries) model.shift();
        model.push({ key, offset: step, at: now });
      } else if (op < 9) {
        const e = model.find((x) => x.key === key && now - x.at <= windowMs);
        const want = e ? e.offset : -1;
        assert.equal(w.get(lo, hi, now), want, `step ${step} get ${key}`);
      } else {
        let gone = 0;
        while (model.length > 0 && now - model[0]!.at > windowMs) {
          model.shift();
          gone++;
        }
        assert.equal(w.expire(now), gone, `step ${step} expire`);
      }
      assert.equal(w.size, model.length);
    }
    for (const e of model) {
      const [lo, hi] = e.key.split("/").map(Number) as [number, number];
      const first = model.find((x) => x.key === e.key)!;
      assert.equal(w.get(lo, hi, first.at), first.offset);
    }
  }
});

test("hashKey: a UNIQ_KEY's last two hex digits (its counter) are the low word's bottom byte; the rest decides the other bits", () => {
  const prefix = "C0A8011E1F2A3B4C5D6E7F80112233";
  const his = new Set<number>();
  let place: number | undefined;
  for (let c = 0; c < 256; c++) {
    const key = prefix + c.toString(16).toUpperCase().padStart(2, "0");
    const lo = hashKey("T", key);
    assert.equal(lo & 0xff, c, key);
    place ??= lo >>> 8;
    assert.equal(lo >>> 8, place, "one home for a producer's run of counters");
    his.add(hashHi());
    assert.equal(hashKey("T", key.toLowerCase()) & 0xff, c, "lower-case hex too");
  }
  assert.equal(his.size, 256, "the high word still tells them apart");
  assert.notEqual(hashKey("T", `${prefix}00`) >>> 8, hashKey("T", `${prefix.slice(0, -1)}400`) >>> 8);
  assert.notEqual(hashKey("U", `${prefix}00`) >>> 8, place, "the topic is in the home");
  // Keys of any other shape (short, not hex) hash and round-trip through the window.
  const w = new DuplicateWindow({ windowMs: 1000, maxEntries: 1000 });
  const keys = ["", "a", "zz", "é", "\u{1F600}", `${prefix}GZ`, "order-42"];
  for (const [i, k] of keys.entries()) w.add(hashKey("T", k), hashHi(), i + 1, 0);
  for (const [i, k] of keys.entries())
    assert.equal(w.get(hashKey("T", k), hashHi(), 1), i + 1, JSON.stringify(k));
  // A window filled with consecutive client ids (neighbouring buckets fill together and
  // spill far, not next door) still finds every live one and none evicted.
  const seq = new DuplicateWindow({ windowMs: 1_000_000, maxEntries: 5000 });
  const id = (n: number) =>
    `C0A8011E00010000AAAA${(n >>> 16).toString(16).toUpperCase().padStart(8, "0")}${(n & 0xffff).toString(16).toUpperCase().padStart(4, "0")}`;
  for (let n = 0; n < 20_000; n++) seq.add(hashKey("T", id(n)), hashHi(), n, 0);
  for (let n = 15_000; n < 20_000; n++) assert.equal(seq.get(hashKey("T", id(n)), hashHi(), 1), n, id(n));
  for (let n = 14_000; n < 15_000; n++) assert.equal(seq.get(hashKey("T", id(n)), hashHi(), 1), -1, id(n));
});

test("offsetOfMsgId reads the commit-log offset of IPv4 and IPv6 offsetMsgIds", () => {
  for (const offset of [0, 1, 4096, 2 ** 40 + 17, Number.MAX_SAFE_INTEGER]) {
    for (const host of ["127.0.0.1", "::1"]) {
      assert.equal(offsetOfMsgId(createOffsetMsgId({ host, port: 10911 }, offset)), offset);
    }
  }
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
    // A hash collision (forced: the window maps another key's hash to UNIQ-3's record) is
    // caught by reading the stored message back: the send is stored, not answered as a resend.
    const dedup = (broker as unknown as { dedup: DuplicateDetector }).dedup;
    const offset3 = decodeOffsetMsgId(fresh.extFields!.msgId!).commitLogOffset;
    dedup.window.add(hashKey(T, "UNIQ-4"), hashHi(), offset3, Date.now());
    const collided = await client.invoke(addr, send(T, "UNIQ-4", 3));
    assert.equal(collided.code, ResponseCode.SUCCESS);
    assert.equal(collided.extFields!.queueOffset, "1", "stored as a new message");
    assert.equal(dedup.collisions, 1);
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
    // The bound is on reading the log: without the window's snapshot (a store from before
    // snapshots, or a slave's) start-up reads the log's tail.
    await rm(windowSnapshotPath(dir));
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
