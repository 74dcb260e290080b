import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageSysFlag } from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { loadBrokerConfig } from "../src/loadBrokerConfig.js";
import { DELAY_DUE_MS, DelayLevelRouter, scheduleTagsCode } from "../src/schedule/DelayLevelRouter.js";
import {
  DEFAULT_MESSAGE_DELAY_LEVEL,
  DelayLevelConfigError,
  delayRequest,
  formatDelay,
  parseDelayLevels,
  retryDelayLevel,
  sleepBeforeDue,
} from "../src/schedule/DelayLevelTable.js";

const DEFAULT = parseDelayLevels(DEFAULT_MESSAGE_DELAY_LEVEL);

test("the default table is RocketMQ's 18 levels", () => {
  assert.equal(DEFAULT.length, 18);
  assert.deepEqual(DEFAULT.slice(0, 5), [1000, 5000, 10_000, 30_000, 60_000]);
  assert.equal(DEFAULT[15], 30 * 60_000);
  assert.equal(DEFAULT[17], 2 * 3_600_000);
  assert.deepEqual(parseDelayLevels(" 1d\t100ms  2h "), [86_400_000, 100, 7_200_000]);
});

test("a bad table is refused naming the item", () => {
  for (const bad of ["", "1s 5x", "1.5s", "-1s", "0s", "10", "1s 366d"]) {
    assert.throws(() => parseDelayLevels(bad), DelayLevelConfigError, bad);
  }
  assert.throws(() => parseDelayLevels("1s 5x"), /level 2 is "5x"/);
  assert.throws(() => parseDelayLevels(Array(65).fill("1s").join(" ")), /at most 64/);
});

test("delay requests: ≤ 0 is no delay, above the table clamps, non-numbers are invalid", () => {
  assert.deepEqual(delayRequest(undefined, DEFAULT), { kind: "none" });
  assert.deepEqual(delayRequest("0", DEFAULT), { kind: "none" });
  assert.deepEqual(delayRequest("-1", DEFAULT), { kind: "none" });
  assert.deepEqual(delayRequest("3", DEFAULT), { kind: "level", level: 3, delayMs: 10_000, clamped: false });
  assert.deepEqual(delayRequest("18", DEFAULT), {
    kind: "level",
    level: 18,
    delayMs: 7_200_000,
    clamped: false,
  });
  assert.deepEqual(delayRequest("19", DEFAULT), {
    kind: "level",
    level: 18,
    delayMs: 7_200_000,
    clamped: true,
  });
  assert.equal(delayRequest("abc", DEFAULT).kind, "invalid");
  assert.equal(delayRequest("1.5", DEFAULT).kind, "invalid");
  assert.equal(delayRequest("99999999999", DEFAULT).kind, "invalid");
});

test("retry levels: 3 + reconsumeTimes unless asked, clamped to the table", () => {
  assert.equal(retryDelayLevel(0, 0, 18), 3);
  assert.equal(retryDelayLevel(0, 1, 18), 4);
  assert.equal(retryDelayLevel(0, 15, 18), 18);
  assert.equal(retryDelayLevel(0, 40, 18), 18);
  assert.equal(retryDelayLevel(5, 9, 18), 5);
  assert.equal(retryDelayLevel(0, 0, 1), 1);
});

test("sleeps never pass the due time and are capped", () => {
  assert.equal(sleepBeforeDue(1500, 1000), 500);
  assert.equal(sleepBeforeDue(900, 1000), 0);
  assert.equal(sleepBeforeDue(10_000_000, 0), 60_000);
  assert.equal(formatDelay(7_200_000), "2h");
  assert.equal(formatDelay(90_000), "90s");
  assert.equal(formatDelay(150), "150ms");
});

function input(over: Partial<MessageInput> = {}): MessageInput {
  return {
    topic: "Orders",
    queueId: 2,
    flag: 0,
    body: Buffer.from("x"),
    properties: {},
    sysFlag: 0,
    bornTimestamp: 0,
    bornHost: { host: "127.0.0.1", port: 1 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    encodedProperties: "TAGS\u0001a\u0002",
    ...over,
  };
}
const signals = (delay: string | undefined) => ({
  delay,
  transactionPrepared: undefined,
  startDeliverTime: undefined,
  timerDeliverMs: undefined,
});

test("the router parks a delayed send in SCHEDULE_TOPIC_XXXX queue level − 1 with its due time", () => {
  const router = new DelayLevelRouter(DEFAULT, () => 1_000_000);
  const m = input();
  assert.equal(router.route(m, signals("3")), 3);
  assert.equal(m.topic, "SCHEDULE_TOPIC_XXXX");
  assert.equal(m.queueId, 2);
  assert.equal(m.tagsCode, 1_010_000);
  assert.equal(
    m.encodedProperties,
    `TAGS\u0001a\u0002REAL_TOPIC\u0001Orders\u0002REAL_QID\u00012\u0002${DELAY_DUE_MS}\u00011010000\u0002`,
  );
  const clamped = input();
  assert.equal(router.route(clamped, signals("40")), 18);
  assert.equal(clamped.queueId, 17);
  assert.match(String(clamped.encodedProperties), /DELAY\u000118\u0002$/);
});

test("the router leaves undelayed sends, transaction halves and timers alone, and refuses a bad level", () => {
  const router = new DelayLevelRouter(DEFAULT, () => 0);
  for (const [m, s] of [
    [input(), signals("0")],
    [input(), signals("-1")],
    [input(), signals(undefined)],
    [input({ sysFlag: MessageSysFlag.TRANSACTION_PREPARED_TYPE }), signals("3")],
    [input(), { ...signals("3"), transactionPrepared: "true" }],
    [input(), { ...signals("3"), startDeliverTime: "123" }],
    [input(), { ...signals("3"), timerDeliverMs: "123" }],
    [input({ encodedProperties: "TIMER_DELAY_SEC\u00015\u0002" }), signals("3")],
  ] as const) {
    assert.equal(router.route(m, s), 0);
    assert.equal(m.topic, "Orders");
  }
  assert.throws(() => router.route(input(), signals("x")), /not a whole delay level/);
});

test("retry copies wait DELAY when set, else the back-off of their reconsume count; first deliveries do not wait", () => {
  const router = new DelayLevelRouter(DEFAULT, () => 0);
  const asked = input({ encodedProperties: undefined, properties: { DELAY: "5" }, reconsumeTimes: 1 });
  assert.equal(router.routeRetry(asked), 5);
  assert.equal(asked.properties.REAL_TOPIC, "Orders");
  assert.equal(asked.properties[DELAY_DUE_MS], "60000");
  const fallback = input({ encodedProperties: undefined, properties: { DELAY: "0" }, reconsumeTimes: 2 });
  assert.equal(router.routeRetry(fallback), 4); // the second retry: 3 + 1
  const first = input({ encodedProperties: undefined, properties: {}, reconsumeTimes: 0 });
  assert.equal(router.routeRetry(first), 0);
  assert.equal(first.topic, "Orders");
});

test("rebuilt consume-queue entries of scheduled records carry the due time", () => {
  const other = () => 42;
  assert.equal(
    scheduleTagsCode("SCHEDULE_TOPIC_XXXX", { [DELAY_DUE_MS]: "1700000000000" }, other),
    1_700_000_000_000,
  );
  assert.equal(scheduleTagsCode("Orders", { [DELAY_DUE_MS]: "5" }, other), 42);
});

test("a bad messageDelayLevel stops the broker config from loading, naming the key", async () => {
  await assert.rejects(
    loadBrokerConfig({ env: {}, overrides: { messageDelayLevel: "1s 5x", storePathRootDir: "/tmp/unused" } }),
    /invalid value for messageDelayLevel: messageDelayLevel level 2 is "5x"/,
  );
  // Longer than fileReservedTime is allowed: retention keeps parked records (delayLevelRetention.test).
  const longer = await loadBrokerConfig({
    env: {},
    overrides: { messageDelayLevel: "1s 3d", fileReservedTime: 72, storePathRootDir: "/tmp/unused" },
  });
  assert.equal(longer.config.messageDelayLevel, "1s 3d");
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: { messageDelayLevel: "100ms 1s", storePathRootDir: "/tmp/unused" },
  });
  assert.equal(config.messageDelayLevel, "100ms 1s");
});
