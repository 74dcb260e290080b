/**
 * Retention guards over real segment files: records acknowledged for a later delivery
 * (timers, delay levels, unresolved halves) are never deleted, neither as expired nor
 * under disk pressure; the disk-full refusal then names what retention keeps.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { ResponseCode } from "@tidemq/protocol";
import { type MessageStore, StoreError } from "../src/index.js";
import { RetentionGuards } from "../src/RetentionGuards.js";
import { bodyBytes, memoryLogger, msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

const SEG = 64 * 1024;
const segments = (dir: string) => fs.readdirSync(path.join(dir, "commitlog")).map(Number);

async function fill(store: MessageStore, topic: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++)
    out.push((await store.putMessage(msg(topic, 0, bodyBytes(i, 3000)))).commitLogOffset);
  return out;
}

test("RetentionGuards: the lowest offset wins; a failing guard keeps everything", async () => {
  const g = new RetentionGuards();
  assert.deepEqual(await g.floor(), { offset: Number.POSITIVE_INFINITY, by: undefined });
  g.add("timer", () => 5000);
  g.add("delay", async () => 300);
  g.add("none", () => Number.POSITIVE_INFINITY);
  assert.deepEqual(await g.floor(), { offset: 300, by: "delay" });
  g.add("delay", () => 9000);
  assert.deepEqual(await g.floor(), { offset: 5000, by: "timer" });
  g.add("broken", () => {
    throw new Error("cannot read");
  });
  const f = await g.floor();
  assert.equal(f.offset, 0);
  assert.match(f.by ?? "", /broken.*cannot read/);
  g.remove("broken");
  assert.equal((await g.floor()).offset, 5000);
});

test("disk pressure deletes only segments wholly below every guard; freed guards let the rest go", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const logger = memoryLogger();
  const store = await openStore(dir, {
    mappedFileSizeCommitLog: SEG,
    diskMaxUsedSpaceRatio: 0,
    deleteFilesBatchMax: 100,
    cleanResourceInterval: 3_600_000,
    logger,
  });
  try {
    const parked = await fill(store, "Parked", 1); // the parked record, in the first segment
    await fill(store, "Plain", 120); // ~6 segments
    assert.ok(segments(dir).length >= 5);
    await store.refreshDiskUsage();
    let floor = parked[0]!;
    store.addRetentionGuard("parked test records", () => floor);
    assert.equal(await store.deleteExpiredFiles(), 0, "the first segment holds the parked record");
    assert.ok(segments(dir).includes(0));
    assert.ok(logger.lines.some((l) => /kept although the disk is above.*parked test records/.test(l)));
    const got = await store.getMessage("Parked", 0, 0, 1);
    assert.equal(got.status, "FOUND");

    // The guard moves into the fourth segment: the three below go, it and the rest stay.
    floor = 3 * SEG + 10;
    assert.equal(await store.deleteExpiredFiles(), 3);
    assert.deepEqual(segments(dir).slice(0, 1), [3 * SEG]);
    // A second guard lower down holds again; the consume queue entries stay readable.
    store.addRetentionGuard("other", async () => store.commitLogOffsetInQueue("Plain", 0, 70));
    const at70 = await store.commitLogOffsetInQueue("Plain", 0, 70);
    assert.ok(at70 >= 3 * SEG);
    const before = segments(dir).length;
    floor = Number.POSITIVE_INFINITY;
    const deleted = await store.deleteExpiredFiles();
    assert.equal(segments(dir).length, before - deleted);
    assert.ok(segments(dir)[0]! <= at70, "the segment holding Plain/0 entry 70 is kept");
    assert.equal((await store.getMessage("Plain", 0, 70, 1)).status, "FOUND");
    // Past the end of a queue: nothing needed.
    assert.equal(await store.commitLogOffsetInQueue("Plain", 0, 10_000), Number.POSITIVE_INFINITY);
    assert.equal(await store.commitLogOffsetInQueue("Nope", 0, 0), Number.POSITIVE_INFINITY);
    store.removeRetentionGuard("other");
    await store.deleteExpiredFiles();
    assert.equal(segments(dir).length, 1, "no guard: all but the current segment go");
  } finally {
    await store.shutdown();
  }
});

test("expired segments holding a guarded record are kept too; a full disk names what retention keeps", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const opts = {
    mappedFileSizeCommitLog: SEG,
    cleanResourceInterval: 3_600_000,
    diskCheckInterval: 3_600_000,
  };
  const filling = await openStore(dir, opts);
  await fill(filling, "Plain", 60);
  await filling.shutdown();
  // Reopened on a "full" disk (any use is above 0 %), with every sealed segment expired.
  const store = await openStore(dir, {
    ...opts,
    diskMaxUsedSpaceRatio: 0,
    diskSpaceWarningLevelRatio: 0,
    fileReservedTime: 0,
  });
  try {
    store.addRetentionGuard("timer messages (TIMER_TOPIC)", () => 0);
    assert.equal(await store.deleteExpiredFiles({ manual: true }), 0);
    await store.refreshDiskUsage();
    await assert.rejects(store.putMessage(msg("Plain", 0, "more")), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.code, ResponseCode.SERVICE_NOT_AVAILABLE);
      assert.match(
        err.message,
        /disk full.*retention keeps the commit log from offset 0: it holds timer messages/,
      );
      return true;
    });
  } finally {
    await store.shutdown();
  }
});

test("on a full disk deliveries of parked messages (reserve puts) are still taken up to diskSpaceReserveRatio", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const opts = {
    cleanResourceInterval: 3_600_000,
    diskCheckInterval: 3_600_000,
    diskSpaceWarningLevelRatio: 0,
  };
  let store = await openStore(dir, { ...opts, diskSpaceReserveRatio: 100 });
  try {
    await store.refreshDiskUsage();
    await assert.rejects(store.putMessage(msg("Plain", 0, "a new send")), /disk full/);
    const r = await store.putMessagesBatch([msg("Real", 0, "a due timer")], { reserve: true });
    assert.equal(r[0]!.status, "PUT_OK");
    assert.equal((await store.putMessage(msg("Real", 0, "a due delay"), { reserve: true })).status, "PUT_OK");
    assert.equal((await store.getMessage("Real", 0, 0, 10)).status, "FOUND");
  } finally {
    await store.shutdown();
  }
  // Above diskSpaceReserveRatio nothing is taken.
  store = await openStore(dir, { ...opts, diskSpaceReserveRatio: 0 });
  try {
    await store.refreshDiskUsage();
    await assert.rejects(
      store.putMessagesBatch([msg("Real", 0, "a due timer")], { reserve: true }),
      (err: unknown) => {
        assert.ok(err instanceof StoreError);
        assert.equal(err.code, ResponseCode.SERVICE_NOT_AVAILABLE);
        return true;
      },
    );
  } finally {
    await store.shutdown();
  }
});
