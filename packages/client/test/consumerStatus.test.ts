/** Consumer status, pure parts: the per-topic rate window and the ConsumerRunningInfo decoder. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsumeStatsWindow, decodeConsumerRunningInfo } from "../src/index.js";

test("ConsumeStatsWindow: OK/failed TPS and mean RT over the last seconds; old seconds fall out", () => {
  const w = new ConsumeStatsWindow(9); // 10 one-second buckets
  const t0 = 1_000_000_000;
  for (let i = 0; i < 100; i++) w.record("T", true, 2, t0 + i * 10); // 100 OK in one second, 2 ms each
  for (let i = 0; i < 10; i++) w.record("T", false, 12, t0 + 500);
  w.record("U", true, 1, t0);
  let s = w.status(t0 + 999).get("T")!;
  assert.equal(s.consumeOKTPS, 10);
  assert.equal(s.consumeFailedTPS, 1);
  assert.equal(s.consumeRT, (100 * 2 + 10 * 12) / 110);
  assert.equal(s.consumeFailedMsgs, 10);
  assert.ok(w.status(t0).has("U"));
  // 30 s later those seconds are out of the window; the failure total stays.
  s = w.status(t0 + 30_000).get("T")!;
  assert.deepEqual([s.consumeOKTPS, s.consumeFailedTPS, s.consumeRT, s.consumeFailedMsgs], [0, 0, 0, 10]);
  // A bucket reused 60 s later starts from zero.
  w.record("T", true, 4, t0 + 60_000);
  s = w.status(t0 + 60_000).get("T")!;
  assert.equal(s.consumeOKTPS, 0.1);
  assert.equal(s.consumeRT, 4);
});

test("decodeConsumerRunningInfo: fastjson's form (sorted keys, object-keyed mqTable, jstack) and ours", () => {
  const java =
    '{"jstack":"\\"main\\" waiting, {x}","mqTable":{{"brokerName":"b","queueId":1,"topic":"T"}:{"cachedMsgCount":3,"cachedMsgMaxOffset":9,"cachedMsgMinOffset":7,"cachedMsgSizeInMiB":0,"commitOffset":7,"droped":false,"lastConsumeTimestamp":5,"lastLockTimestamp":4,"lastPullTimestamp":6,"locked":true,"tryUnlockTimes":0},{"brokerName":"b","queueId":0,"topic":"T"}:{"cachedMsgCount":0,"cachedMsgMaxOffset":0,"cachedMsgMinOffset":0,"cachedMsgSizeInMiB":0,"commitOffset":2,"droped":false,"lastConsumeTimestamp":0,"lastLockTimestamp":0,"lastPullTimestamp":0,"locked":false,"tryUnlockTimes":0}},' +
    '"properties":{"PROP_CONSUMEORDERLY":"true","PROP_THREADPOOL_CORE_SIZE":20},' +
    '"statusTable":{"T":{"consumeFailedMsgs":1,"consumeFailedTPS":0.0,"consumeOKTPS":12.5,"consumeRT":3.2,"pullRT":1.0,"pullTPS":2.0}},' +
    '"subscriptionSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"T"}]}';
  const info = decodeConsumerRunningInfo(Buffer.from(java));
  assert.equal(info.jstack, '"main" waiting, {x}');
  assert.deepEqual(
    info.mqTable.map((e) => [e.mq.queueId, e.info.locked, e.info.cachedMsgCount]),
    [
      [0, false, 0],
      [1, true, 3],
    ],
  );
  assert.equal(info.properties.PROP_THREADPOOL_CORE_SIZE, "20");
  assert.equal(info.statusTable.T!.consumeOKTPS, 12.5);
  assert.equal(info.subscriptionSet[0]!.topic, "T");
  const empty = decodeConsumerRunningInfo(
    Buffer.from('{"properties":{},"subscriptionSet":[],"mqTable":{},"statusTable":{}}'),
  );
  assert.deepEqual([empty.mqTable, empty.subscriptionSet, empty.statusTable], [[], [], {}]);
});
