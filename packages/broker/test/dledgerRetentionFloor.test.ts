/**
 * The DLedger retention floor: what the leader publishes (pure), and how a replica learns,
 * persists and enforces it (two ReplicatedMetadata over one real store and log).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import { ReplicatedMetadata } from "../src/dledger/ReplicatedMetadata.js";
import { floorToPublish, REPLICATED_FLOOR_GUARD, replicaGuardFloor } from "../src/dledger/RetentionFloor.js";
import { SlaveRetentionFloor } from "../src/ha/SlaveRetentionFloor.js";
import { cleanupsAfterAll, eventually, removeDir, replicaManagers, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-floor-test", "error");
const SEG = 64 * 1024;

test("retention floor rule: the leader publishes min(guards, what they saw) rounded down to a segment; an unknown floor keeps everything", () => {
  // A guard holds a record in the third segment: the floor is that segment's start.
  assert.equal(floorToPublish(10 * SEG + 5, 2 * SEG + 100, SEG), 2 * SEG);
  // No guard holds anything: the floor is what the guards had seen (records after it are unseen).
  assert.equal(floorToPublish(7 * SEG + 1, Number.POSITIVE_INFINITY, SEG), 7 * SEG);
  // A guard past the seen point (e.g. "the next queue entry") cannot lift the floor past it.
  assert.equal(floorToPublish(3 * SEG, 9 * SEG, SEG), 3 * SEG);
  // A failed guard (0) or an empty log keep everything.
  assert.equal(floorToPublish(5 * SEG, 0, SEG), 0);
  assert.equal(floorToPublish(0, Number.POSITIVE_INFINITY, SEG), 0);
  // Rounding deletes nothing more: a segment goes only when it ends at or below the floor.
  const raw = 4 * SEG + 777;
  for (let start = 0; start < 6 * SEG; start += SEG) {
    assert.equal(start + SEG <= floorToPublish(raw, raw, SEG), start + SEG <= raw, `segment at ${start}`);
  }
  assert.equal(replicaGuardFloor(undefined), 0, "no floor learned yet: keep everything");
  assert.equal(replicaGuardFloor(-1), 0);
  assert.equal(replicaGuardFloor(3 * SEG), 3 * SEG);
});

test("a replica learns the leader's retention floor from the log, holds its retention to it, keeps it over a restart; a new leader's floor replaces it", async () => {
  const dir = await tempDir("dlfloor");
  cleanups.push(() => removeDir(dir));
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: SEG,
    storeHost: { host: "127.0.0.1", port: 1 },
    logger,
  });
  cleanups.push(() => store.shutdown());
  const a = await replicaManagers(join(dir, "a"), logger);
  const b = await replicaManagers(join(dir, "b"), logger);
  const ra = new ReplicatedMetadata(store, logger, "n0", a.configDir, a.topics, a.groups, a.offsets);
  const rb = new ReplicatedMetadata(store, logger, "n1", b.configDir, b.topics, b.groups, b.offsets);
  await ra.start();
  await rb.start();
  assert.equal(rb.retentionFloor, undefined);

  // The own services' guard the leader publishes from; the replicated guard is left out.
  let parked = 3 * SEG + 10;
  store.addRetentionGuard("test parked records", () => parked);
  const own = await store.parkedRecordsFloor(REPLICATED_FLOOR_GUARD);
  assert.equal(own.offset, parked);
  assert.equal(own.by, "test parked records");

  ra.startLeading();
  // Before the services registered their guards nothing is published.
  await ra.flush();
  assert.equal(ra.retentionFloor, undefined);
  let asked = 0;
  ra.retentionFloorSource = async () => {
    asked++;
    const f = await store.parkedRecordsFloor(REPLICATED_FLOOR_GUARD);
    // The test's log is short: the guard's offset stands for "what they saw" too.
    return floorToPublish(Number.MAX_SAFE_INTEGER, f.offset, SEG);
  };
  await eventually(() => rb.retentionFloor === 3 * SEG, "the follower learned the floor", 10_000);
  assert.ok(asked >= 1);
  assert.equal(ra.retentionFloor, 3 * SEG, "the leader applied its own record");
  assert.equal(rb.runtimeInfo().dLegerRetentionFloor, String(3 * SEG));
  // rb's guard (started last, it replaced ra's) is the store's replicated-floor guard: it holds at 3 segments,
  // below the own guard's record (the whole segment is kept).
  const held = await store.parkedRecordsFloor();
  assert.equal(held.offset, 3 * SEG);
  assert.equal(held.by, REPLICATED_FLOOR_GUARD);

  // The record is delivered: the floor moves on once per segment.
  parked = 5 * SEG + 1;
  await eventually(() => rb.retentionFloor === 5 * SEG, "the follower learned the moved floor", 10_000);
  await ra.stop();
  await rb.stop();

  // Restart of the follower: the floor is back from its file before anything is applied.
  const b2 = await replicaManagers(join(dir, "b"), logger);
  const rb2 = new ReplicatedMetadata(store, logger, "n1", b2.configDir, b2.topics, b2.groups, b2.offsets);
  await rb2.start();
  assert.equal(rb2.retentionFloor, 5 * SEG);

  // A new leader (another process identity) whose guards need more: its lower floor replaces it.
  const a2 = await replicaManagers(join(dir, "a"), logger);
  const ra2 = new ReplicatedMetadata(store, logger, "n0", a2.configDir, a2.topics, a2.groups, a2.offsets);
  await ra2.start();
  await ra2.caughtUp();
  assert.equal(ra2.retentionFloor, 5 * SEG);
  parked = 4 * SEG + 9;
  ra2.startLeading();
  ra2.retentionFloorSource = async () =>
    floorToPublish(
      Number.MAX_SAFE_INTEGER,
      (await store.parkedRecordsFloor(REPLICATED_FLOOR_GUARD)).offset,
      SEG,
    );
  await eventually(
    () => rb2.retentionFloor === 4 * SEG,
    "the follower took the new leader's lower floor",
    10_000,
  );
  await ra2.stop();
  await rb2.stop();
});

test("a classic slave keeps its master's floor: nothing learned keeps everything, a learned floor is persisted and held again after a restart, a master without one changes nothing", async () => {
  const dir = await tempDir("slavefloor");
  cleanups.push(() => removeDir(dir));
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: SEG,
    storeHost: { host: "127.0.0.1", port: 1 },
    logger,
  });
  cleanups.push(() => store.shutdown());
  const configDir = join(dir, "config");
  const f = new SlaveRetentionFloor(store, logger, configDir);
  await f.load();
  assert.equal(f.value, undefined);
  assert.equal((await store.parkedRecordsFloor()).offset, 0, "nothing learned: keep everything");
  await f.learn(String(6 * SEG), "m:1");
  assert.equal((await store.parkedRecordsFloor()).offset, 6 * SEG);
  await f.learn(undefined, "m:1"); // an older master: the last floor stays
  await f.learn("garbage", "m:1");
  assert.equal(f.value, 6 * SEG);
  const again = new SlaveRetentionFloor(store, logger, configDir);
  await again.load();
  assert.equal(again.value, 6 * SEG, "persisted across a restart");
  assert.deepEqual(await store.parkedRecordsFloor(), {
    seenUpTo: store.stats.commitLogMaxOffset,
    offset: 6 * SEG,
    by: REPLICATED_FLOOR_GUARD,
  });
});
