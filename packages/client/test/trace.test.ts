/**
 * Message trace, pure parts: the record codec (our records and Java clients' variants from
 * spec §10), the timeline built from trace messages, and the dispatcher's queue bounds and
 * failure handling (driven with a sink that records or refuses).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import {
  buildTraceTimeline,
  decodeTraceRecords,
  encodeTraceRecord,
  encodeTraceRecords,
  type TraceRecord,
} from "../src/index.js";
import { TraceDispatcher } from "../src/trace/TraceDispatcher.js";

const C = "\u0001";
const F = "\u0002";
const logger = createLogger("trace-test", "error");

const pub: TraceRecord = {
  type: "Pub",
  timestamp: 1700000000000,
  regionId: "DefaultRegion",
  group: "PG",
  topic: "TopicTest",
  msgId: "7F0000011F9C18B4AAC2000000000000",
  tags: "TagA",
  keys: "order-1 order-2",
  storeHost: "127.0.0.1:10911",
  bodyLength: 11,
  costTime: 5,
  msgType: 0,
  offsetMsgId: "7F00000100002A9F0000000000000000",
  success: true,
};
const before: TraceRecord = {
  type: "SubBefore",
  timestamp: 1700000000100,
  regionId: "DefaultRegion",
  group: "CG",
  requestId: "r1",
  msgId: pub.msgId,
  retryTimes: 0,
  keys: "order-1 order-2",
};
const afterRec: TraceRecord = {
  type: "SubAfter",
  requestId: "r1",
  msgId: pub.msgId,
  costTime: 7,
  success: true,
  keys: "order-1 order-2",
  contextCode: 0,
  timestamp: 1700000000107,
  group: "CG",
};
const endTx: TraceRecord = {
  type: "EndTransaction",
  timestamp: 1700000000050,
  regionId: "DefaultRegion",
  group: "PG",
  topic: "TopicTest",
  msgId: pub.msgId,
  tags: "TagA",
  keys: "order-1",
  storeHost: "127.0.0.1:10911",
  msgType: 1,
  transactionId: "tx-1",
  transactionState: "COMMIT_MESSAGE",
  fromTransactionCheck: false,
};
const recall: TraceRecord = {
  type: "Recall",
  timestamp: 1700000000060,
  regionId: "DefaultRegion",
  group: "PG",
  topic: "TopicTest",
  msgId: pub.msgId,
  success: true,
};

test("trace records: Java's wire text (14-field Pub, 8 SubBefore, 9 SubAfter, 13 EndTransaction, Recall) both ways", () => {
  const javaPub = `Pub${C}1700000000000${C}DefaultRegion${C}PG${C}TopicTest${C}${pub.msgId}${C}TagA${C}order-1 order-2${C}127.0.0.1:10911${C}11${C}5${C}0${C}7F00000100002A9F0000000000000000${C}true${F}`;
  assert.equal(encodeTraceRecord(pub), javaPub);
  const javaBefore = `SubBefore${C}1700000000100${C}DefaultRegion${C}CG${C}r1${C}${pub.msgId}${C}0${C}order-1 order-2${F}`;
  assert.equal(encodeTraceRecord(before), javaBefore);
  const javaAfter = `SubAfter${C}r1${C}${pub.msgId}${C}7${C}true${C}order-1 order-2${C}0${C}1700000000107${C}CG${F}`;
  assert.equal(encodeTraceRecord(afterRec), javaAfter);
  const all = [pub, before, afterRec, endTx, recall];
  assert.deepEqual(decodeTraceRecords(encodeTraceRecords(all)), all);
  assert.equal(encodeTraceRecord(endTx).split(C).length, 13);
});

test("trace records: 13- and 15-field Pub, CLOUD SubAfter (4.9: no \\u0002, next record glued; 5.x: with \\u0002)", () => {
  const f13 = `Pub${C}1${C}R${C}PG${C}T${C}id13${C}${C}${C}h:1${C}3${C}2${C}3${C}true${F}`;
  const [p13] = decodeTraceRecords(f13);
  assert.equal(p13!.type, "Pub");
  assert.equal((p13 as { offsetMsgId?: string }).offsetMsgId, undefined);
  assert.equal((p13 as { success: boolean }).success, true);
  assert.equal((p13 as { msgType: number }).msgType, 3);
  const f15 = `Pub${C}1${C}R${C}PG${C}T${C}id15${C}t${C}k${C}h:1${C}3${C}2${C}0${C}OFF${C}false${C}10.0.0.9${F}`;
  const [p15] = decodeTraceRecords(f15) as Array<Extract<TraceRecord, { type: "Pub" }>>;
  assert.deepEqual([p15!.offsetMsgId, p15!.success, p15!.clientHost], ["OFF", false, "10.0.0.9"]);
  // 4.9 CLOUD: SubAfter's 7 fields end with \u0001 and the next record follows without \u0002.
  const cloud49 = `SubBefore${C}5${C}R${C}CG${C}q${C}m1${C}2${C}k${F}SubAfter${C}q${C}m1${C}9${C}false${C}k${C}4${C}SubAfter${C}q2${C}m2${C}1${C}true${C}k${C}0${C}`;
  const d = decodeTraceRecords(cloud49);
  assert.deepEqual(
    d.map((r) => r.type),
    ["SubBefore", "SubAfter", "SubAfter"],
  );
  const a1 = d[1] as Extract<TraceRecord, { type: "SubAfter" }>;
  assert.deepEqual(
    [a1.msgId, a1.costTime, a1.success, a1.contextCode, a1.group],
    ["m1", 9, false, 4, undefined],
  );
  const cloud5 = `SubAfter${C}q${C}m1${C}9${C}true${C}k${C}0${F}`;
  assert.deepEqual(
    decodeTraceRecords(cloud5).map((r) => r.type),
    ["SubAfter"],
  );
  // Garbage never throws; it comes back as unreadable, and the rest of the body is still read.
  const mixed = `Pub${C}x${F}Nope${C}1${F}${encodeTraceRecord(before)}`;
  assert.deepEqual(
    decodeTraceRecords(mixed).map((r) => r.type),
    ["Unreadable", "Unreadable", "SubBefore"],
  );
  for (let i = 0; i < 500; i++) {
    const s = Array.from(
      { length: (i % 40) + 1 },
      () => ["Pub", "SubAfter", "SubBefore", C, F, "1", "", "x"][Math.floor(Math.random() * 8)],
    ).join("");
    decodeTraceRecords(s);
  }
  // Separators inside values cannot break the record.
  const dirty = { ...before, keys: `a${C}b${F}c` } as TraceRecord;
  assert.equal((decodeTraceRecords(encodeTraceRecord(dirty))[0] as { keys: string }).keys, "a b c");
});

test("trace timeline: Pub, each group's SubBefore/SubAfter paired by requestId, duplicates once, other ids ignored", () => {
  const otherMsg = { ...before, msgId: "OTHER", requestId: "r9" } as TraceRecord;
  const retryBefore = {
    ...before,
    requestId: "r2",
    timestamp: 1700000001000,
    retryTimes: 1,
    group: "CG2",
  } as TraceRecord;
  const retryAfter = {
    ...afterRec,
    requestId: "r2",
    success: false,
    contextCode: 2,
    timestamp: 1700000001009,
    costTime: 9,
  } as TraceRecord;
  const t = buildTraceTimeline(pub.msgId, [
    { body: encodeTraceRecords([pub, before]), bornHost: "10.0.0.1:5000" },
    // SubAfter of r2 before its SubBefore, a duplicate Pub, and a record of another message.
    { body: encodeTraceRecords([retryAfter, afterRec, otherMsg]), bornHost: "10.0.0.2:6000" },
    { body: encodeTraceRecords([retryBefore, endTx, recall]), bornHost: "10.0.0.2:6000" },
    { body: encodeTraceRecords([pub]), bornHost: "10.0.0.1:5000" },
  ]);
  assert.equal(t.pubs.length, 1);
  assert.deepEqual(
    [t.pubs[0]!.group, t.pubs[0]!.clientHost, t.pubs[0]!.storeHost, t.pubs[0]!.msgType],
    ["PG", "10.0.0.1:5000", "127.0.0.1:10911", "Normal_Msg"],
  );
  assert.deepEqual(
    t.consumes.map((c) => [c.group, c.start, c.end, c.result, c.retryTimes]),
    [
      ["CG", 1700000000100, 1700000000107, "SUCCESS", 0],
      ["CG2", 1700000001000, 1700000001009, "EXCEPTION", 1],
    ],
  );
  assert.equal(t.transactions[0]!.state, "COMMIT_MESSAGE");
  assert.equal(t.recalls.length, 1);
});

test("trace dispatcher: batches by count with the traced ids as keys, flushes on its timer", async () => {
  const sent: Array<{ body: string; keys: string[] }> = [];
  const d = new TraceDispatcher(
    async (body, keys) => {
      sent.push({ body, keys });
    },
    { logger, maxRecordsPerMessage: 3, flushIntervalMs: 20 },
  );
  for (let i = 0; i < 7; i++) d.add({ ...before, msgId: `m${i}` } as TraceRecord, [`m${i}`, "k"]);
  await d.flush();
  assert.deepEqual(
    sent.map((s) => decodeTraceRecords(s.body).length),
    [3, 3, 1],
  );
  assert.deepEqual(sent[0]!.keys, ["m0", "k", "m1", "m2"]);
  // One record alone leaves on the timer, without a flush() call.
  const got = new Promise<void>((resolve) => {
    const d2 = new TraceDispatcher(
      async () => {
        resolve();
      },
      { logger, flushIntervalMs: 10 },
    );
    d2.add(pub, [pub.msgId]);
  });
  // The dispatcher's timer is unref'd (tracing never keeps a process alive): a ref'd bound keeps
  // this test's event loop alive while it waits, and fails it if the timer never fires.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([
    got,
    new Promise<never>((_, reject) => {
      bound = setTimeout(() => reject(new Error("the timer flush did not happen within 5 s")), 5000);
    }),
  ]).finally(() => clearTimeout(bound));
  assert.deepEqual(d.stats, { queued: 7, sent: 7, dropped: 0, failed: 0 });
});

test("trace dispatcher: a full queue drops (counted), a failing sink is counted, add() never throws or waits", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let calls = 0;
  const d = new TraceDispatcher(
    async () => {
      calls++;
      await gate;
      throw new Error("topic refused");
    },
    { logger, maxQueuedRecords: 10, maxRecordsPerMessage: 5, maxInFlight: 1, flushIntervalMs: 5 },
  );
  for (let i = 0; i < 30; i++) d.add(pub, [pub.msgId]);
  // 5 went into the one send in flight, 10 wait, the other 15 were dropped.
  assert.equal(d.stats.dropped, 15);
  assert.equal(d.pending, 10);
  release();
  await d.flush();
  assert.equal(d.stats.failed, 15);
  assert.equal(calls, 3);
  await d.close(100);
  d.add(pub, [pub.msgId]);
  assert.equal(d.pending, 0);
});
