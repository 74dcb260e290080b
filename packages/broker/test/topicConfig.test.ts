import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { newTopicConfig, TopicConfigManager } from "../src/TopicConfigManager.js";
import { removeDir, tempDir, testConfig } from "./helpers.js";

const logger = createLogger("test-topics", "error");

test("system topics at start, persisted in RocketMQ's topics.json shape, data version bumped on change", async () => {
  const dir = await tempDir("topics");
  try {
    const config = await testConfig(dir);
    const configDir = join(dir, "config");
    const m = await TopicConfigManager.load({ configDir, config, logger });
    const names = m.all().map((t) => t.topicName);
    for (const t of [
      "TBW102",
      "SELF_TEST_TOPIC",
      "OFFSET_MOVED_EVENT",
      "SCHEDULE_TOPIC_XXXX",
      "DefaultCluster",
      "broker-t",
    ]) {
      assert.ok(names.includes(t), t);
    }
    assert.equal(m.get("TBW102")!.writeQueueNums, config.defaultTopicQueueNums);
    assert.equal(m.get("SCHEDULE_TOPIC_XXXX")!.readQueueNums, 18);
    const v0 = m.dataVersion.counter;
    const changes: number[] = [];
    m.onChange((c) => changes.push(c.length));
    await m.upsert(newTopicConfig("T1", 4, 6));
    assert.equal(m.dataVersion.counter, v0 + 1);
    assert.deepEqual(changes, [1]);
    const file = JSON.parse(await readFile(join(configDir, "topics.json"), "utf8"));
    assert.equal(file.topicConfigTable.T1.writeQueueNums, 4);
    assert.equal(file.dataVersion.counter, v0 + 1);
    await assert.rejects(m.upsert(newTopicConfig("bad name", 1, 6)), /characters/);

    const again = await TopicConfigManager.load({ configDir, config, logger });
    assert.equal(again.get("T1")!.readQueueNums, 4);
    assert.equal(again.dataVersion.counter, v0 + 1);
    await again.delete("T1");
    assert.equal(again.get("T1"), undefined);

    // A corrupt file falls back to the backup written before the last change.
    await writeFile(join(configDir, "topics.json"), "{not json", "utf8");
    const recovered = await TopicConfigManager.load({ configDir, config, logger });
    assert.equal(recovered.get("T1")?.writeQueueNums, 4);
  } finally {
    await removeDir(dir);
  }
});

test("auto-create from the TBW102 template: min(requested, template), perm without INHERIT, off when disabled", async () => {
  const dir = await tempDir("topics-auto");
  try {
    const config = await testConfig(dir, { defaultTopicQueueNums: 6 });
    const m = await TopicConfigManager.load({ configDir: join(dir, "config"), config, logger });
    const a = await m.createTopicInSendMessageMethod("A", "TBW102", 4);
    assert.deepEqual([a!.readQueueNums, a!.writeQueueNums, a!.perm], [4, 4, 6]);
    const b = await m.createTopicInSendMessageMethod("B", "TBW102", 16);
    assert.equal(b!.writeQueueNums, 6);
    // A template without PERM_INHERIT cannot create.
    await m.upsert(newTopicConfig("PLAIN", 4, 6));
    assert.equal(await m.createTopicInSendMessageMethod("C", "PLAIN", 4), undefined);
    config.autoCreateTopicEnable = false;
    assert.equal(await m.createTopicInSendMessageMethod("D", "TBW102", 4), undefined);
    // ensureSystemTopic (retry / DLQ topics) creates once and then returns the existing one.
    const r = await m.ensureSystemTopic("%RETRY%G", 1, 6);
    assert.equal(r.writeQueueNums, 1);
    assert.equal(await m.ensureSystemTopic("%RETRY%G", 3, 6), r);
  } finally {
    await removeDir(dir);
  }
});
