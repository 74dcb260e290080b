import assert from "node:assert/strict";
import { test } from "node:test";
import { javaStringHashCode, ResponseCode } from "@tidemq/protocol";
import { BrokerStatsImpl, SlidingCounter } from "../src/BrokerStats.js";
import { mapPullStatus } from "../src/processors/PullMessageProcessor.js";
import { RequestQueue } from "../src/RequestQueue.js";
import {
  filterFromExpression,
  filterFromSubscription,
  parseTagExpression,
} from "../src/SubscriptionFilter.js";
import { isNotAllowedSendTopic, isSystemTopic, topicNameProblem } from "../src/TopicValidator.js";

test("topic names follow RocketMQ's rules", () => {
  assert.equal(topicNameProblem("TopicTest"), undefined);
  assert.equal(topicNameProblem("%RETRY%group_1-a|b"), undefined);
  assert.match(topicNameProblem("")!, /blank/);
  assert.match(topicNameProblem("a b")!, /characters/);
  assert.match(topicNameProblem("topic.with.dots")!, /characters/);
  assert.match(topicNameProblem("x".repeat(128))!, /128 characters/);
  assert.equal(topicNameProblem("x".repeat(127)), undefined);
  assert.ok(isSystemTopic("TBW102"));
  assert.ok(isSystemTopic("rmq_sys_wheel_timer"));
  assert.ok(!isSystemTopic("TopicTest"));
  assert.ok(isNotAllowedSendTopic("SCHEDULE_TOPIC_XXXX"));
  assert.ok(!isNotAllowedSendTopic("TBW102"));
});

test("tag expressions become hash filters; * and empty match everything", () => {
  assert.equal(parseTagExpression("*"), undefined);
  assert.equal(parseTagExpression(" "), undefined);
  assert.deepEqual(parseTagExpression(" TagA ||TagB|| "), ["TagA", "TagB"]);
  const f = filterFromExpression("TagA || TagC", undefined)!;
  assert.ok(f(javaStringHashCode("TagA")));
  assert.ok(f(javaStringHashCode("TagC")));
  assert.ok(!f(javaStringHashCode("TagB")));
  assert.ok(!f(0));
  // SQL92 has no tag filter: it is evaluated on properties (sqlPull.ts).
  assert.equal(filterFromExpression("a > 5", "SQL92"), undefined);
  const h = filterFromSubscription({
    topic: "T",
    subString: "TagA",
    tagsSet: ["TagA"],
    codeSet: [],
    subVersion: 1,
  })!;
  assert.ok(h(javaStringHashCode("TagA")));
  assert.ok(!h(javaStringHashCode("null")));
  assert.equal(
    filterFromSubscription({ topic: "T", subString: "*", tagsSet: [], codeSet: [], subVersion: 1 }),
    undefined,
  );
});

test("pull statuses map to RocketMQ codes and next offsets (spec 4.3 table)", () => {
  const r = { nextBeginOffset: 7, minOffset: 2, maxOffset: 10 };
  assert.deepEqual(mapPullStatus("FOUND", 3, r), { code: ResponseCode.SUCCESS, nextBeginOffset: 7 });
  assert.deepEqual(mapPullStatus("NO_MATCHED_MESSAGE", 3, r), {
    code: ResponseCode.PULL_RETRY_IMMEDIATELY,
    nextBeginOffset: 7,
  });
  assert.deepEqual(mapPullStatus("NO_MESSAGE_IN_QUEUE", 0, r), {
    code: ResponseCode.PULL_NOT_FOUND,
    nextBeginOffset: 0,
  });
  assert.deepEqual(mapPullStatus("NO_MESSAGE_IN_QUEUE", 5, r), {
    code: ResponseCode.PULL_OFFSET_MOVED,
    nextBeginOffset: 0,
  });
  assert.deepEqual(mapPullStatus("OFFSET_TOO_SMALL", 1, r), {
    code: ResponseCode.PULL_OFFSET_MOVED,
    nextBeginOffset: 2,
  });
  assert.deepEqual(mapPullStatus("OFFSET_OVERFLOW_ONE", 10, r), {
    code: ResponseCode.PULL_NOT_FOUND,
    nextBeginOffset: 10,
  });
  assert.deepEqual(mapPullStatus("OFFSET_OVERFLOW_BADLY", 50, r), {
    code: ResponseCode.PULL_OFFSET_MOVED,
    nextBeginOffset: 10,
  });
});

test("sliding counters give 10/60/600 s rates and roll the day", () => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const c = new SlidingCounter(() => now);
  for (let s = 0; s < 20; s++) {
    c.add(10);
    now += 1000;
  }
  assert.equal(c.rate(10), 10);
  assert.equal(c.rate(60), (20 * 10) / 60);
  assert.equal(c.total, 200);
  now += 700_000; // everything falls out of every window
  assert.equal(c.rate(600), 0);
  assert.equal(c.total, 200);
  const stats = new BrokerStatsImpl(() => now);
  stats.recordPut(5);
  assert.equal(stats.putTotal(), 5);
  now += 86_400_000;
  stats.recordPut(1);
  assert.equal(stats.putTodayMorning, 5);
  assert.match(stats.putTps(), /^\d+\.\d\d \d+\.\d\d \d+\.\d\d$/);
});

test("the send queue bounds waiting work, sheds by age and refuses beyond capacity", async () => {
  let now = 0;
  const q = new RequestQueue<number>({
    capacity: () => 2,
    maxWaitMs: () => 200,
    concurrency: () => 1,
    now: () => now,
  });
  let release!: () => void;
  const blocker = new Promise<void>((r) => {
    release = r;
  });
  const first = q.submit(async () => {
    await blocker;
    return 1;
  });
  const second = q.submit(async () => 2);
  const third = q.submit(async () => 3);
  const fourth = await q.submit(async () => 4);
  assert.deepEqual(fourth, { kind: "rejected", queued: 2, capacity: 2 });
  now = 250; // the two waiting sends are now older than the limit
  assert.equal(q.sweep(), 2);
  assert.deepEqual(await second, { kind: "shed", waitedMs: 250, limitMs: 200 });
  assert.equal((await third).kind, "shed");
  release();
  assert.deepEqual(await first, { kind: "done", value: 1 });
  assert.deepEqual(await q.submit(async () => 5), { kind: "done", value: 5 });
  await q.idle();
  q.stop();
});
