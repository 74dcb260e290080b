import assert from "node:assert/strict";
import { test } from "node:test";
import {
  encodeBatchBody,
  encodeProperties,
  parseProperties,
  TideMQError,
  tagsHashCode,
} from "@tidemq/protocol";
import { scanBatchBody, scanSendProperties } from "../src/processors/sendProperties.js";
import { RequestQueue } from "../src/RequestQueue.js";

test("a send's properties are stored as sent, without WAIT and CLUSTER, with the picked values", () => {
  const text = encodeProperties({
    TAGS: "TagA",
    KEYS: "k1 k2",
    UNIQ_KEY: "U1",
    DELAY: "3",
    TRAN_MSG: "true",
  });
  const s = scanSendProperties(text);
  assert.equal(s.pairs, text, "a regular text is kept as it is");
  assert.equal(s.tagsCode, tagsHashCode("TagA"));
  assert.equal(s.keys, "k1 k2");
  assert.equal(s.uniqKey, "U1");
  assert.equal(s.delay, "3");
  assert.equal(s.transactionPrepared, "true");

  const withWait = scanSendProperties(
    "TAGS\u0001a\u0002WAIT\u0001true\u0002CLUSTER\u0001other\u0002X\u0001y\u0002",
  );
  assert.equal(withWait.pairs, "TAGS\u0001a\u0002X\u0001y\u0002");
  // Other pairs are stored as they came (readers skip malformed ones); a last separator is added.
  const oddText = "\u0001v\u0002junk\u0002\u0002A\u0001b\u0001c\u0002Z\u00011";
  const odd = scanSendProperties(oddText);
  assert.equal(odd.pairs, `${oddText}\u0002`);
  assert.deepEqual(parseProperties(odd.pairs), { A: "b\u0001c", Z: "1" });
  const twoCuts = scanSendProperties("WAIT\u0001true\u0002A\u00011\u0002CLUSTER\u0001x\u0002B\u00012");
  assert.equal(twoCuts.pairs, "A\u00011\u0002B\u00012\u0002");
  // A name seen twice is kept twice; readers and the picked value take the last.
  const twice = scanSendProperties("TAGS\u0001a\u0002TAGS\u0001b\u0002");
  assert.equal(twice.tagsCode, tagsHashCode("b"));
  assert.equal(parseProperties(twice.pairs).TAGS, "b");
  assert.equal(scanSendProperties(undefined).pairs, "");
  assert.equal(scanSendProperties("").pairs, "");
});

const BASE = {
  topic: "T",
  queueId: 0,
  sysFlag: 0,
  bornTimestamp: 1,
  bornHost: { host: "127.0.0.1", port: 1 },
  reconsumeTimes: 0,
};

test("batch entries become views with the request's pairs stored after their own", () => {
  const suffix = Buffer.from("CLUSTER\u0001C1\u0002");
  const body = encodeBatchBody([
    { flag: 1, body: Buffer.from("one"), properties: { TAGS: "TagA", UNIQ_KEY: "U1", KEYS: "a b" } },
    { flag: -2, body: Buffer.from("two"), properties: {} },
    {
      flag: 3,
      body: Buffer.from("three"),
      properties: { WAIT: "true", TAGS: "標籤", DELAY: "0", KEYS: "鍵 k" },
    },
  ]);
  const views = scanBatchBody(body, suffix, 10, BASE);
  assert.equal(views.length, 3);
  const stored = views.map((v) =>
    Buffer.concat([v.encodedProperties as Buffer, v.encodedPropertiesSuffix ?? Buffer.alloc(0)]).toString(),
  );
  assert.deepEqual(parseProperties(stored[0]!), { TAGS: "TagA", UNIQ_KEY: "U1", KEYS: "a b", CLUSTER: "C1" });
  assert.deepEqual(parseProperties(stored[1]!), { CLUSTER: "C1" });
  assert.deepEqual(parseProperties(stored[2]!), { TAGS: "標籤", DELAY: "0", KEYS: "鍵 k", CLUSTER: "C1" });
  assert.equal(views[0]!.encodedPropertiesSuffix, suffix, "an entry without WAIT is not copied");
  assert.equal(
    views[2]!.encodedPropertiesSuffix,
    undefined,
    "an entry with WAIT is rebuilt, joined to the suffix",
  );
  assert.deepEqual(
    views.map((v) => [v.flag, v.body.toString(), v.tagsCode, v.keys, v.uniqKey]),
    [
      [1, "one", tagsHashCode("TagA"), "a b", "U1"],
      [-2, "two", 0, undefined, undefined],
      [3, "three", tagsHashCode("標籤"), "鍵 k", undefined],
    ],
  );
});

test("bad batches are refused: delay levels, too many entries, empty, damaged", () => {
  const suffix = Buffer.alloc(0);
  const delayed = encodeBatchBody([{ flag: 0, body: Buffer.from("x"), properties: { DELAY: "2" } }]);
  assert.throws(() => scanBatchBody(delayed, suffix, 10, BASE), /cannot carry a delay level/);
  const three = encodeBatchBody(
    Array.from({ length: 3 }, () => ({ flag: 0, body: Buffer.from("x"), properties: {} })),
  );
  assert.throws(() => scanBatchBody(three, suffix, 2, BASE), /the batch has 3 messages; at most 2/);
  assert.throws(() => scanBatchBody(Buffer.alloc(0), suffix, 2, BASE), /the batch is empty/);
  assert.throws(() => scanBatchBody(three.subarray(0, three.length - 1), suffix, 10, BASE), TideMQError);
  const big = encodeBatchBody([{ flag: 0, body: Buffer.from("x"), properties: { K: "v".repeat(32_000) } }]);
  assert.throws(() => scanBatchBody(big, Buffer.alloc(1000, 65), 10, BASE), /at most 32767/);
});

test("with shareSlotPerTurn the tasks of one synchronous run share a slot; later ones queue", async () => {
  const q = new RequestQueue<number>({
    capacity: () => 10,
    maxWaitMs: () => 60_000,
    concurrency: () => 1,
    shareSlotPerTurn: true,
  });
  let release!: () => void;
  const blocker = new Promise<void>((r) => {
    release = r;
  });
  const started: number[] = [];
  const task = (n: number) => async () => {
    started.push(n);
    await blocker;
    return n;
  };
  const sameTurn = [q.submit(task(1)), q.submit(task(2)), q.submit(task(3))];
  assert.deepEqual(started, [1, 2, 3], "one turn's tasks start together");
  assert.equal(q.inFlight, 1);
  await Promise.resolve();
  const later = q.submit(task(4));
  assert.equal(q.size, 1, "a later turn waits for the slot");
  release();
  assert.deepEqual(
    (await Promise.all([...sameTurn, later])).map((o) => o.kind === "done" && o.value),
    [1, 2, 3, 4],
  );
  await q.idle();
  q.stop();
});
