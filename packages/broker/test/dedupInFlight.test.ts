/**
 * Producer de-duplication while the original is still being stored: a resend admitted
 * before the original's put ends waits for it and gets its result (one stored copy). Over
 * a real MessageStore, then over TCP to a real broker. Also the window's pending /
 * abandoned entries and its bucket spills.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequest, type RemotingCommand, RequestCode, ResponseCode } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import type { DuplicateDetector, OriginalSend } from "../src/dedup/DuplicateDetector.js";
import { DuplicateWindow, hashHi, hashKey, PENDING } from "../src/dedup/DuplicateWindow.js";
import { withDetectorStore } from "./detectorStore.js";
import {
  createTopicRequest,
  keyedInput,
  newClient,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
} from "./helpers.js";

const logger = createLogger("test-dedup", "warn");

const input = keyedInput;

test("DuplicateWindow: an entry is PENDING until settled; an abandoned one never answers; settling an evicted one is a no-op", () => {
  const w = new DuplicateWindow({ windowMs: 1000, maxEntries: 2 });
  const a = w.reserve(hashKey("T", "a"), hashHi(), 0);
  assert.equal(w.get(hashKey("T", "a"), hashHi(), 1), PENDING);
  w.settle(a, 4096);
  assert.equal(w.get(hashKey("T", "a"), hashHi(), 1), 4096);
  const b = w.reserve(hashKey("T", "b"), hashHi(), 0);
  w.settle(b, -1); // its store failed
  assert.equal(w.get(hashKey("T", "b"), hashHi(), 1), -1);
  const b2 = w.reserve(hashKey("T", "b"), hashHi(), 1); // stored by a later send: a's entry goes (bound 2)
  assert.equal(w.evictedEarly, 1);
  assert.equal(w.get(hashKey("T", "a"), hashHi(), 1), -1);
  w.settle(a, 8192); // evicted: nothing comes back
  assert.equal(w.get(hashKey("T", "a"), hashHi(), 1), -1);
  w.settle(b2, 100);
  assert.equal(w.get(hashKey("T", "b"), hashHi(), 2), 100);
});

test("DuplicateWindow: keys of one bucket spill into the next ones and are all found until they leave", () => {
  // 64 entries all in bucket 0 (low word 0) of a 16-bucket table: 9 buckets of spill.
  const w = new DuplicateWindow({ windowMs: 1_000_000, maxEntries: 64 });
  for (let hi = 1; hi <= 64; hi++) w.add(0, hi, hi * 10, hi);
  for (let hi = 1; hi <= 64; hi++) assert.equal(w.get(0, hi, 100), hi * 10, `entry ${hi}`);
  // Spilled keys and keys at home in the buckets spilled over do not hide each other.
  w.add(3, 7, 9999, 65); // evicts hi 1 (bound 64)
  assert.equal(w.get(3, 7, 100), 9999);
  assert.equal(w.get(0, 1, 100), -1);
  for (let hi = 2; hi <= 64; hi++) assert.equal(w.get(0, hi, 100), hi * 10, `entry ${hi} after evicting`);
  // Once the spilled entries age out, their places are reused by new keys of any bucket.
  assert.equal(w.expire(1_000_100), 64);
  for (let hi = 1; hi <= 64; hi++) w.add(0, 1000 + hi, hi, 1_000_100);
  for (let hi = 1; hi <= 64; hi++) assert.equal(w.get(0, 1000 + hi, 1_000_100), hi);
  assert.equal(w.get(0, 5, 1_000_100), -1);
});

test("a resend admitted while the original is being stored waits and gets its result; if the original fails, it stores itself", async () => {
  await withDetectorStore("dedup-inflight", logger, async (store, d) => {
    const now = Date.now();
    const original = [input("T", "K-1", 2)];
    const ticket = d.admit(original, now);
    assert.equal(typeof ticket, "number", "a new key is entered at once");
    const resend = [input("T", "K-1", 3)];
    const waiting = d.admit(resend, now);
    assert.ok(waiting instanceof Promise, "the resend waits for the original's store");
    assert.equal(d.waiting, 1);
    assert.equal(d.inFlightHits, 1);
    const result = await store.putMessages(original);
    d.stored(original, ticket as number, result);
    const answer = (await waiting) as OriginalSend;
    assert.deepEqual(answer, { msgId: result.msgIds[0], queueId: 2, queueOffset: result.queueOffset });
    assert.equal(d.waiting, 0);
    // Later resends are confirmed from the log: the same answer.
    const later = await d.admit([input("T", "K-1", 0)], Date.now());
    assert.deepEqual(later, answer);

    // The original's put fails (released): the waiting resend is entered and stores itself,
    // and a third send then waits for the resend.
    const failing = [input("T", "K-2")];
    const t2 = d.admit(failing, now) as number;
    const resend2 = d.admit([input("T", "K-2")], now) as Promise<OriginalSend | number>;
    d.released(failing, t2);
    const t3 = await resend2;
    assert.equal(typeof t3, "number", "the resend got a ticket of its own");
    const third = d.admit([input("T", "K-2")], Date.now());
    assert.ok(third instanceof Promise);
    const stored2 = [input("T", "K-2")];
    const r2 = await store.putMessages(stored2);
    d.stored(stored2, t3 as number, r2);
    assert.equal(((await third) as OriginalSend).msgId, r2.msgIds[0]);
    // A batch resent whole while the original batch is being stored: the original's answer.
    const batch = [input("T", "B-1", 1), input("T", "B-2", 1)];
    const tb = d.admit(batch, now) as number;
    const batchResend = d.admit([input("T", "B-1", 1), input("T", "B-2", 1)], now);
    assert.ok(batchResend instanceof Promise);
    // A batch mixing a message being stored and a new one waits for it too, then is refused
    // (as with stored ones).
    const mixed = assert.rejects(
      d.admit([input("T", "B-1", 1), input("T", "B-9", 1)], now) as Promise<unknown>,
      /1 already stored .* and 1 new/,
    );
    const rb = await store.putMessages(batch);
    d.stored(batch, tb, rb);
    await mixed;
    assert.deepEqual(await batchResend, {
      msgId: rb.msgIds.join(","),
      queueId: 1,
      queueOffset: rb.queueOffset,
    });
    // Messages without UNIQ_KEY and retry topics are not tracked.
    assert.equal(d.admit([input("T", undefined)], now), -1);
    assert.equal(d.admit([input("%RETRY%G", "K-1")], now), -1);
  });
});

function send(topic: string, uniq: string, queueId: number): RemotingCommand {
  return sendRequest(topic, Buffer.from("same order"), {
    queueId,
    properties: { UNIQ_KEY: uniq, WAIT: "true" },
  });
}

async function maxOffsets(
  client: ReturnType<typeof newClient>,
  addr: string,
  topic: string,
): Promise<number[]> {
  const out: number[] = [];
  for (let q = 0; q < 4; q++) {
    const r = await client.invoke(addr, createRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: q }));
    out.push(Number(r.extFields!.offset));
  }
  return out;
}

test("concurrent sends of one UNIQ_KEY over TCP: one stored, every one answered with its msgId and offset", async (t) => {
  const dir = await tempDir("dedup-concurrent");
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, { duplicateDetectionEnable: true, flushDiskType: "SYNC_FLUSH" });
    const addr = `127.0.0.1:${broker.port}`;
    const T = "DedupConcurrent";
    assert.equal((await client.invoke(addr, createTopicRequest(T, 4))).code, ResponseCode.SUCCESS);
    // Written in one turn: they reach the broker together, while the first is being stored.
    const answers = await Promise.all(
      [0, 1, 2, 3, 0, 1].map((q) => client.invoke(addr, send(T, "CONC-1", q))),
    );
    const first = answers[0]!;
    assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
    for (const a of answers) {
      assert.equal(a.code, ResponseCode.SUCCESS, a.remark);
      assert.equal(a.extFields!.msgId, first.extFields!.msgId);
      assert.equal(a.extFields!.queueOffset, first.extFields!.queueOffset);
      assert.equal(a.extFields!.queueId, "0", "the original's queue");
    }
    // Which way the resends were answered (waiting for the original, or read back from the log)
    // depends on how the socket chunks fell: both must give the answer above.
    const dedup = (broker as unknown as { dedup: DuplicateDetector }).dedup;
    t.diagnostic(`resends answered while the original was being stored: ${dedup.inFlightHits} of 5`);
    const stored = await maxOffsets(client, addr, T);
    assert.equal(
      stored.reduce((a, b) => a + b, 0),
      1,
      `one copy stored (${stored.join(",")}); queue ${first.extFields!.queueId}`,
    );
  } finally {
    await client.close();
    await broker?.shutdown();
    await removeDir(dir);
  }
});
