import assert from "node:assert/strict";
import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { MessageExt } from "@tidemq/protocol";
import { ResponseCode } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { type TimerEntry, TimerKind } from "@tidemq/store";
import type { BrokerConfig } from "../src/BrokerConfig.js";
import { BrokerController } from "../src/BrokerController.js";
import { possibleCopies, rollOrigin, supersededCopies, TIMER_ROLL_ORIGIN } from "../src/timer/RollOrigin.js";
import { deliveryInput, rollInput, TIMER_ROLL_TIMES } from "../src/timer/TimerRecords.js";
import {
  cleanupsAfterAll,
  createTopicRequest,
  eventually,
  newClient,
  pullAll,
  removeDir,
  sendRequest,
  tempDir,
  testConfig,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();

const entry = (
  commitLogOffset: number,
  dueMs = 5000,
  uniqHash = 7,
  kind: number = TimerKind.MESSAGE,
): TimerEntry => ({
  dueMs,
  commitLogOffset,
  cqOffset: commitLogOffset,
  size: 100,
  uniqHash,
  kind,
});

const record = (commitLogOffset: number, properties: Record<string, string> = {}): MessageExt =>
  ({
    topic: "rmq_sys_wheel_timer",
    queueId: 0,
    flag: 0,
    body: Buffer.from("x"),
    properties: { REAL_TOPIC: "T", REAL_QID: "0", TIMER_OUT_MS: "5000", ...properties },
    sysFlag: 0,
    bornTimestamp: 1,
    bornHost: "127.0.0.1:1",
    reconsumeTimes: 0,
    commitLogOffset,
    msgId: `ID${commitLogOffset}`,
  }) as unknown as MessageExt;

test("roll origin: every copy names the first record; only the newest copy of one timer is kept", () => {
  // A copy names the original; a copy of a copy still names the original; delivery drops it.
  const first = rollInput(record(100));
  assert.equal(first.properties[TIMER_ROLL_ORIGIN], "100");
  assert.equal(first.properties[TIMER_ROLL_TIMES], "1");
  const second = rollInput(record(900, first.properties));
  assert.equal(second.properties[TIMER_ROLL_ORIGIN], "100");
  assert.equal(second.properties[TIMER_ROLL_TIMES], "2");
  assert.equal(deliveryInput(record(900, second.properties)).properties[TIMER_ROLL_ORIGIN], undefined);
  assert.equal(rollOrigin(record(100)), 100);
  assert.equal(rollOrigin(record(900, { [TIMER_ROLL_ORIGIN]: "100" })), 100);
  assert.equal(rollOrigin(record(900, { [TIMER_ROLL_ORIGIN]: "junk" })), 900, "a bad value names itself");

  // Candidates: entries sharing due ms, UNIQ_KEY hash and kind with another one.
  const orig = entry(100);
  const copy1 = entry(500);
  const copy2 = entry(900);
  const other = entry(300); // another timer with the same due ms and hash (e.g. no UNIQ_KEY)
  const lone = entry(400, 5000, 8);
  const marker = entry(600, 5000, 7, TimerKind.RECALL);
  assert.deepEqual(possibleCopies([lone]), []);
  assert.deepEqual(
    new Set(possibleCopies([copy2, lone, orig, marker, other, copy1])),
    new Set([orig, copy1, copy2, other]),
  );

  const recs = new Map<TimerEntry, MessageExt>([
    [orig, record(100)],
    [copy1, record(500, { [TIMER_ROLL_ORIGIN]: "100" })],
    [copy2, record(900, { [TIMER_ROLL_ORIGIN]: "100" })],
    [other, record(300)],
  ]);
  // Order of the chain does not matter: the newest copy stays, the other timer stays.
  assert.deepEqual(supersededCopies([copy2, orig, other, copy1], recs), new Set([orig, copy1]));
  assert.deepEqual(supersededCopies([orig, copy1, copy2, other], recs), new Set([orig, copy1]));
  // A record that cannot be read is never dropped as a copy.
  const missing = entry(700);
  assert.deepEqual(supersededCopies([orig, missing], recs), new Set());
});

/** A broker on `config` whose timer wheel spans `slots` seconds (so timers roll within a test). */
async function startBroker(config: BrokerConfig, slots: number): Promise<BrokerController> {
  const b = new BrokerController(config, {
    logger: createLogger("test-broker", "warn"),
    timerWheelSlots: slots,
  });
  await b.start();
  return b;
}
test("broker: a wheel rebuilt from a log holding a timer and its rolled copies delivers it once (timers without UNIQ_KEY kept apart)", async () => {
  const dir = await tempDir("timer-roll-origin");
  cleanups.push(() => removeDir(dir));
  const config = await testConfig(dir);
  const open = () => startBroker(config, 3);
  let broker = await open();
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await broker.shutdown();
  });
  const client = newClient();
  cleanups.push(() => client.close());
  let addr = `127.0.0.1:${broker.port}`;
  assert.equal((await client.invoke(addr, createTopicRequest("T_ORIGIN", 1))).code, ResponseCode.SUCCESS);
  const due = Date.now() + 8000;
  const send = async (body: string, uniq?: string) => {
    const r = await client.invoke(
      addr,
      sendRequest("T_ORIGIN", Buffer.from(body), {
        properties: { TIMER_DELIVER_MS: String(due), ...(uniq ? { UNIQ_KEY: uniq } : {}) },
      }),
    );
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
  };
  await send("keyed", "UK-ORIGIN");
  // Two timers without UNIQ_KEY (ali-ons sends none), same due ms: distinct, both delivered.
  await send("plain-a");
  await send("plain-b");
  // A 3-slot wheel rolls an 8 s timer: wait until all three are stored again.
  await eventually(
    () => broker.context.store.getMaxOffsetInQueue("rmq_sys_wheel_timer", 0) >= 6,
    "the first rolled copies",
    10_000,
  );
  // A replica that did not run the timer service when the copies were stored (a DLedger
  // follower) rebuilds its wheel from the whole log: originals and copies.
  await broker.shutdown();
  stopped = true;
  await rm(join(config.storePathRootDir, "timer"), { recursive: true, force: true });
  broker = await open();
  stopped = false;
  addr = `127.0.0.1:${broker.port}`;
  let got: Awaited<ReturnType<typeof pullAll>>["messages"] = [];
  await eventually(
    async () => {
      got = (await pullAll(client, addr, "T_ORIGIN", 0)).messages;
      return got.length >= 3 && Date.now() > due + 1500;
    },
    "the timers after the rebuild",
    25_000,
  );
  assert.deepEqual(
    got.map((m) => m.body.toString()).sort(),
    ["keyed", "plain-a", "plain-b"],
    "each timer delivered once",
  );
  for (const m of got) assert.ok(m.storeTimestamp >= due, "never early");
  assert.equal(got.find((m) => m.body.toString() === "keyed")!.properties[TIMER_ROLL_ORIGIN], undefined);
  assert.ok(broker.timers!.supersededRolls >= 3, `superseded ${broker.timers!.supersededRolls}`);
  assert.equal(broker.timers!.status().pending, 0);
});

test("broker: a crash between storing rolled copies and persisting the wheel (its state from before the roll) delivers each timer once", async () => {
  const dir = await tempDir("timer-roll-crash");
  cleanups.push(() => removeDir(dir));
  const config = await testConfig(dir);
  const timerDir = join(config.storePathRootDir, "timer");
  const open = () => startBroker(config, 6);
  let broker = await open();
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await broker.shutdown();
  });
  const client = newClient();
  cleanups.push(() => client.close());
  let addr = `127.0.0.1:${broker.port}`;
  assert.equal((await client.invoke(addr, createTopicRequest("T_CRASH", 1))).code, ResponseCode.SUCCESS);
  // A 6-slot wheel rolls a 10 s timer once, when the slot 6 s before its due second loads
  // (about 3 s from now): time enough to stop the broker before that.
  const due = Date.now() + 10_000;
  for (const body of ["c0", "c1"]) {
    const r = await client.invoke(
      addr,
      sendRequest("T_CRASH", Buffer.from(body), {
        properties: { TIMER_DELIVER_MS: String(due), UNIQ_KEY: `UK-${body}` },
      }),
    );
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
  }
  await eventually(() => broker.timers!.status().pending === 2, "the timers enqueued", 10_000);
  // The wheel as persisted before any roll (a clean stop writes it), kept aside.
  await broker.shutdown();
  stopped = true;
  assert.equal(
    broker.context.store.getMaxOffsetInQueue("rmq_sys_wheel_timer", 0),
    2,
    "stopped before the first roll (the machine is too slow otherwise)",
  );
  const saved = join(dir, "timer-before-roll");
  await cp(timerDir, saved, { recursive: true });
  broker = await open();
  stopped = false;
  await eventually(
    () => broker.context.store.getMaxOffsetInQueue("rmq_sys_wheel_timer", 0) >= 4,
    "the rolled copies",
    10_000,
  );
  assert.equal(broker.timers!.delivered, 0, "not due yet");
  await broker.shutdown();
  stopped = true;
  // What a kill -9 after the copies were stored and before the wheel was persisted leaves:
  // the copies in the commit log, the wheel (and timer log) from before the roll.
  await rm(timerDir, { recursive: true, force: true });
  await cp(saved, timerDir, { recursive: true });
  broker = await open();
  stopped = false;
  addr = `127.0.0.1:${broker.port}`;
  let got: Awaited<ReturnType<typeof pullAll>>["messages"] = [];
  await eventually(
    async () => {
      got = (await pullAll(client, addr, "T_CRASH", 0)).messages;
      const s = broker.timers!.status();
      return got.length >= 2 && s.loadedUpToMs > due + 1000 && s.loadedInMemory === 0;
    },
    "the timers after the restart",
    25_000,
  );
  got = (await pullAll(client, addr, "T_CRASH", 0)).messages;
  assert.deepEqual(got.map((m) => m.body.toString()).sort(), ["c0", "c1"], "each timer delivered once");
  for (const m of got) assert.ok(m.storeTimestamp >= due, "never early");
  assert.equal(broker.timers!.status().pending, 0);
});
