import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ResponseCode, type TideMQError } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { CONSUMER_OFFSET_FILE, ConsumerOffsetManager } from "../src/ConsumerOffsetManager.js";
import {
  normalizeSubscriptionGroupConfig,
  SUBSCRIPTION_GROUP_FILE,
  SubscriptionGroupManager,
  validateGroupName,
} from "../src/SubscriptionGroupManager.js";
import { removeDir, tempDir } from "./helpers.js";

const logger = createLogger("client-persistence-test", "silent");

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir("client");
  try {
    await fn(dir);
  } finally {
    await removeDir(dir);
  }
}

test("consumer offsets survive a reload, in RocketMQ's file shape", () =>
  withDir(async (dir) => {
    const a = await ConsumerOffsetManager.load({ configDir: dir });
    assert.equal(a.query("G", "T", 0), -1, "nothing committed");
    a.commit("G", "T", 0, 5);
    a.commit("G", "T", 3, 7);
    a.commit("G", "T", 1, -1); // ali-ons' "offset || -1"
    a.commit("H", "T", 0, 9);
    await a.persist();
    const file = JSON.parse(await readFile(join(dir, CONSUMER_OFFSET_FILE), "utf8"));
    assert.deepEqual(file, { offsetTable: { "T@G": { "0": 5, "1": -1, "3": 7 }, "T@H": { "0": 9 } } });
    assert.deepEqual(await readdir(dir), [CONSUMER_OFFSET_FILE], "no temporary file left behind");

    const b = await ConsumerOffsetManager.load({ configDir: dir });
    assert.equal(b.query("G", "T", 0), 5);
    assert.equal(b.query("G", "T", 1), -1);
    assert.equal(b.query("G", "T", 3), 7);
    assert.deepEqual([...b.table("G", "T")].sort(), [
      [0, 5],
      [1, -1],
      [3, 7],
    ]);
    assert.deepEqual(
      b.keys().sort((x, y) => x.group.localeCompare(y.group)),
      [
        { topic: "T", group: "G" },
        { topic: "T", group: "H" },
      ],
    );
    assert.deepEqual(b.groupsOfTopic("T").sort(), ["G", "H"]);
    b.removeGroup("H");
    await b.persist();
    const c = await ConsumerOffsetManager.load({ configDir: dir });
    assert.equal(c.query("H", "T", 0), -1);
    assert.equal(c.query("G", "T", 0), 5);
  }));

test("a Java broker's consumerOffset.json (unquoted numeric keys) reads", () =>
  withDir(async (dir) => {
    await writeFile(join(dir, CONSUMER_OFFSET_FILE), '{"offsetTable":{"T@G":{0:12,1:3},"%RETRY%G@G":{0:0}}}');
    const m = await ConsumerOffsetManager.load({ configDir: dir });
    assert.equal(m.query("G", "T", 0), 12);
    assert.equal(m.query("G", "T", 1), 3);
    assert.equal(m.query("G", "%RETRY%G", 0), 0);
  }));

test("a corrupt offsets file stops loading with a message naming it", () =>
  withDir(async (dir) => {
    await writeFile(join(dir, CONSUMER_OFFSET_FILE), '{"offsetTable":{"T@G":');
    await assert.rejects(
      ConsumerOffsetManager.load({ configDir: dir }),
      /consumerOffset\.json is not valid JSON/,
    );
  }));

test("bad commits are refused with SYSTEM_ERROR; consumeTps follows committed progress", () =>
  withDir(async (dir) => {
    let now = 0;
    const m = await ConsumerOffsetManager.load({ configDir: dir, now: () => now });
    assert.throws(
      () => m.commit("G@x", "T", 0, 1),
      (e: TideMQError) => e.code === ResponseCode.SYSTEM_ERROR,
    );
    assert.throws(() => m.commit("G", "T", -1, 1), /queueId -1/);
    m.commit("G", "T", 0, 100);
    now = 1_000;
    m.commit("G", "T", 0, 700);
    m.commit("G", "T", 1, 10); // first commit of a queue: no rate sample
    assert.equal(m.consumeTps("G", "T"), 10);
    now = 62_000;
    assert.equal(m.consumeTps("G", "T"), 0, "outside the one-minute window");
    // Thousands of commits a second (one per pull) all count.
    for (let i = 1; i <= 3_000; i++) {
      now = 62_000 + i;
      m.commit("G", "T", 0, 700 + i);
    }
    assert.equal(m.consumeTps("G", "T"), 3_000 / 60);
  }));

test("subscription groups: auto-create, defaults, validation, reload", () =>
  withDir(async (dir) => {
    const m = await SubscriptionGroupManager.load({
      configDir: dir,
      autoCreateSubscriptionGroup: true,
      logger,
    });
    const g = m.findOrCreate("CID_test-1")!;
    assert.deepEqual(g, {
      groupName: "CID_test-1",
      consumeEnable: true,
      consumeFromMinEnable: true,
      consumeBroadcastEnable: true,
      retryQueueNums: 1,
      retryMaxTimes: 16,
      brokerId: 0,
      whichBrokerWhenConsumeSlowly: 1,
      notifyConsumerIdsChangedEnable: true,
    });
    assert.throws(() => m.findOrCreate("bad group!"), /invalid group name "bad group!"/);
    assert.throws(
      () => m.findOrCreate(""),
      (e: TideMQError) => e.code === ResponseCode.SYSTEM_ERROR,
    );
    assert.throws(() => validateGroupName("x".repeat(256)), /longer than 255/);
    validateGroupName("%RETRY%|a_b-C9");
    await m.upsert({ ...g, groupName: "G2", retryMaxTimes: 3, notifyConsumerIdsChangedEnable: false });
    const version = m.dataVersion;
    await m.persist();
    const file = JSON.parse(await readFile(join(dir, SUBSCRIPTION_GROUP_FILE), "utf8"));
    assert.deepEqual(Object.keys(file.subscriptionGroupTable).sort(), ["CID_test-1", "G2"]);
    assert.deepEqual(file.dataVersion, version);

    const again = await SubscriptionGroupManager.load({
      configDir: dir,
      autoCreateSubscriptionGroup: false,
      logger,
    });
    assert.equal(again.get("G2")!.retryMaxTimes, 3);
    assert.equal(again.get("G2")!.notifyConsumerIdsChangedEnable, false);
    assert.equal(again.findOrCreate("unknown"), undefined, "auto-create off");
    assert.deepEqual(again.dataVersion, version);
    await again.delete("G2");
    assert.equal(again.get("G2"), undefined);
  }));

test("subscription group configs from admin requests are checked field by field", () => {
  assert.deepEqual(
    normalizeSubscriptionGroupConfig({ groupName: "G", retryQueueNums: "2", consumeEnable: "false" }),
    {
      groupName: "G",
      consumeEnable: false,
      consumeFromMinEnable: true,
      consumeBroadcastEnable: true,
      retryQueueNums: 2,
      retryMaxTimes: 16,
      brokerId: 0,
      whichBrokerWhenConsumeSlowly: 1,
      notifyConsumerIdsChangedEnable: true,
    },
  );
  assert.throws(
    () => normalizeSubscriptionGroupConfig({ groupName: "G", retryQueueNums: -1 }),
    /retryQueueNums/,
  );
  assert.throws(
    () => normalizeSubscriptionGroupConfig({ groupName: "G", consumeEnable: 3 }),
    /consumeEnable/,
  );
  assert.throws(() => normalizeSubscriptionGroupConfig({ retryQueueNums: 1 }), /lacks groupName/);
  assert.throws(() => normalizeSubscriptionGroupConfig("x"), /not a JSON object/);
});
