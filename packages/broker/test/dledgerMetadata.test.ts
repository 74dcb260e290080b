import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import {
  chunkChanges,
  decodeMetadataRecord,
  encodeMetadataRecord,
  type MetadataChange,
  mergeDelayOffsets,
  OffsetChanges,
} from "../src/dledger/MetadataRecord.js";
import { ReplicatedMetadata } from "../src/dledger/ReplicatedMetadata.js";
import { defaultSubscriptionGroupConfig } from "../src/SubscriptionGroupManager.js";
import { newTopicConfig } from "../src/TopicConfigManager.js";
import { cleanupsAfterAll, eventually, removeDir, replicaManagers, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-metadata-test", "error");

/** A temp dir with a 1 MiB-segment store in `store/` (both removed after the tests). */
async function storeIn(name: string): Promise<{ dir: string; store: MessageStore }> {
  const dir = await tempDir(name);
  cleanups.push(() => removeDir(dir));
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: 1024 * 1024,
    storeHost: { host: "127.0.0.1", port: 1 },
    logger,
  });
  cleanups.push(() => store.shutdown());
  return { dir, store };
}

test("metadata records: round trip, refusals, offset batches keep the newest value, delay progress merges upward, chunks keep order", () => {
  const changes: MetadataChange[] = [
    { t: "topic", config: newTopicConfig("T", 4, 6) },
    { t: "offsets", entries: [["g", "T", 0, 5]] },
    { t: "timer", cq: 3, beforeMs: 1000 },
  ];
  const r = decodeMetadataRecord(encodeMetadataRecord({ v: 1, origin: "n0:x", changes }));
  assert.deepEqual(r.changes, changes);
  assert.throws(() => decodeMetadataRecord(Buffer.from("{}")), /version-1/);
  assert.throws(() => decodeMetadataRecord(Buffer.from('{"v":1,"changes":[]}')), /origin/);
  assert.throws(() => decodeMetadataRecord(Buffer.from('{"v":1,"origin":"a","changes":[1]}')), /type/);
  assert.throws(() => decodeMetadataRecord(Buffer.from("not json")));

  const oc = new OffsetChanges();
  oc.note("g", "T", 0, 1);
  oc.note("g", "T", 0, 2);
  oc.note("g", "T", 1, 7);
  const taken = oc.take();
  assert.deepEqual(taken, [
    ["g", "T", 0, 2],
    ["g", "T", 1, 7],
  ]);
  assert.equal(oc.size, 0);
  oc.note("g", "T", 0, 3); // newer than what failed to be written
  oc.restore(taken);
  assert.deepEqual(oc.take(), [
    ["g", "T", 0, 3],
    ["g", "T", 1, 7],
  ]);

  assert.deepEqual(mergeDelayOffsets({ "1": 5, "2": 9 }, { "1": 7, "2": 3, "3": 1 }), {
    "1": 7,
    "2": 9,
    "3": 1,
  });

  const many: MetadataChange[] = [];
  for (let i = 0; i < 50; i++) many.push({ t: "topic", config: newTopicConfig(`T${i}`, 4, 6) });
  many.push({
    t: "offsets",
    entries: Array.from({ length: 2500 }, (_, i) => ["g", "T", i, i] as [string, string, number, number]),
  });
  const chunks = chunkChanges(many, 4096);
  assert.ok(chunks.length > 1);
  for (const c of chunks) assert.ok(JSON.stringify(c).length < 4096 + 200_000);
  const flat = chunks.flat();
  assert.deepEqual(
    flat.filter((c) => c.t === "topic").map((c) => (c.t === "topic" ? c.config.topicName : "")),
    many.slice(0, 50).map((c) => (c.t === "topic" ? c.config.topicName : "")),
  );
  const offsets = flat.flatMap((c) => (c.t === "offsets" ? c.entries : []));
  assert.equal(offsets.length, 2500);
  assert.deepEqual(
    offsets.map((e) => e[3]),
    Array.from({ length: 2500 }, (_, i) => i),
  );
});

test("a leader's changes become log records another replica applies in order; a restart re-applies from its checkpoint (or from the start) to the same state", async () => {
  const { dir, store } = await storeIn("dlmeta");
  // Two replicas' metadata over one log (the log is what replication makes identical).
  const a = await replicaManagers(join(dir, "a"), logger);
  const b = await replicaManagers(join(dir, "b"), logger);
  const ra = new ReplicatedMetadata(store, logger, "n0", a.configDir, a.topics, a.groups, a.offsets);
  const rb = new ReplicatedMetadata(store, logger, "n1", b.configDir, b.topics, b.groups, b.offsets);
  await ra.start();
  await rb.start();
  // A follower refuses: changes go to the leader.
  await assert.rejects(a.topics.upsert(newTopicConfig("Early", 1, 6)), /not the leader/);
  await assert.rejects(b.groups.upsert(defaultSubscriptionGroupConfig("G0")), /not the leader/);
  ra.startLeading();
  let delay: Record<string, number> = { "1": 4 };
  ra.delayProgress = () => delay;
  ra.timerProgress = () => ({ cq: 9, beforeMs: 12_345 });
  await a.topics.upsert(newTopicConfig("T1", 4, 6));
  await a.topics.upsert({ ...newTopicConfig("T1", 8, 6) });
  await a.topics.upsert(newTopicConfig("T2", 2, 6));
  await a.topics.delete("T2");
  await a.groups.upsert({ ...defaultSubscriptionGroupConfig("G1"), retryMaxTimes: 3 });
  a.groups.findOrCreate("G2"); // auto-created: replicated with the next batch
  for (let o = 1; o <= 50; o++) a.offsets.commit("G1", "T1", o % 4, o);
  await ra.flush();
  delay = { "1": 9 };
  a.offsets.commit("G1", "T1", 0, 100);
  await ra.flush();
  assert.equal(a.topics.get("T1")?.readQueueNums, 8, "the leader applied its own change");

  const expectState = (m: Awaited<ReturnType<typeof replicaManagers>>) => {
    assert.equal(m.topics.get("T1")?.readQueueNums, 8);
    assert.equal(m.topics.get("T2"), undefined);
    assert.equal(m.groups.get("G1")?.retryMaxTimes, 3);
    assert.ok(m.groups.get("G2"));
    assert.deepEqual([...m.offsets.table("G1", "T1")].sort(), [
      [0, 100],
      [1, 49],
      [2, 50],
      [3, 47],
    ]);
  };
  await eventually(() => b.offsets.query("G1", "T1", 0) === 100, "the follower applied the last batch");
  expectState(b);
  assert.deepEqual(rb.delayOffsets, { "1": 9 });
  assert.deepEqual(rb.timerSkip, { cq: 9, beforeMs: 12_345 });
  // The leader never applies an older value of its own over a newer one.
  assert.equal(a.offsets.query("G1", "T1", 0), 100);
  await ra.stop();
  await rb.stop();

  // Restart of b: from its checkpoint, then from the very start of the log: same state.
  for (const wipe of [false, true]) {
    if (wipe) await rm(join(b.configDir, "dledgerMetadata.json"));
    const b2 = await replicaManagers(join(dir, "b"), logger);
    const r2 = new ReplicatedMetadata(store, logger, "n1", b2.configDir, b2.topics, b2.groups, b2.offsets);
    await r2.start();
    await r2.caughtUp();
    expectState(b2);
    assert.deepEqual(r2.delayOffsets, { "1": 9 });
    await r2.stop();
  }
});

test("an idle leader writes no timer progress record: the wheel's beforeMs moving with the clock, with no timer enqueued or delivered, is not written; a new cq or a delivery is", async () => {
  const { dir, store } = await storeIn("dlmeta-idle");
  const a = await replicaManagers(join(dir, "a"), logger);
  const ra = new ReplicatedMetadata(store, logger, "n0", a.configDir, a.topics, a.groups, a.offsets);
  await ra.start();
  cleanups.push(() => ra.stop());
  ra.startLeading();
  let progress = { cq: 0, beforeMs: 1_000 };
  ra.timerProgress = () => progress;
  // The commit log's end (a put resolves once written): it grows by one record per write.
  const end = () => store.maxPhysicalOffset;
  const start = end();
  await ra.flush();
  const one = end();
  assert.ok(one > start, "the first progress of this leader is written");
  for (let s = 2; s <= 5; s++) {
    progress = { cq: 0, beforeMs: s * 1_000 }; // a second passes, nothing enqueued or delivered
    await ra.flush();
  }
  assert.equal(end(), one, "an idle wheel's clock adds no record");
  progress = { cq: 4, beforeMs: 6_000 }; // timers enqueued
  await ra.flush();
  const two = end();
  assert.ok(two > one, "a new cq is written");
  progress = { cq: 4, beforeMs: 9_000 };
  ra.progressChanged(); // a delivery was stored
  await ra.flush();
  const three = end();
  assert.ok(three > two, "progress after a delivery is written");
  progress = { cq: 4, beforeMs: 10_000 };
  await ra.flush();
  assert.equal(end(), three, "and nothing more while idle again");
});
