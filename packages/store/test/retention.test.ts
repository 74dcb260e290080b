import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { decodeMessages, ResponseCode } from "@tidemq/protocol";
import { type MessageStore, StoreError } from "../src/index.js";
import { retentionDecision, segmentExpired } from "../src/Retention.js";
import { bodyBytes, msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

const SEG = 1024 * 1024;
const segPath = (dir: string, start: number) => path.join(dir, "commitlog", String(start).padStart(20, "0"));
const notNowHour = String((new Date().getHours() + 12) % 24).padStart(2, "0");

async function fill(store: MessageStore, n: number): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await store.putMessage(msg("Ret", i % 2, bodyBytes(i, 4000), { KEYS: `key${i}` }));
    offsets.push(r.commitLogOffset);
  }
  return offsets;
}

test("retention decision: deleteWhen hour, manual trigger, disk pressure", () => {
  const now = new Date(2026, 0, 5, 4, 30).getTime();
  const base = {
    now,
    deleteHours: new Set([4]),
    fileReservedHours: 72,
    diskUsedRatio: 50,
    diskMaxUsedSpaceRatio: 75,
  };
  assert.deepEqual(retentionDecision(base), { run: true, force: false });
  assert.deepEqual(retentionDecision({ ...base, deleteHours: new Set([5]) }), { run: false, force: false });
  assert.deepEqual(retentionDecision({ ...base, deleteHours: new Set([5]), manual: true }), {
    run: true,
    force: false,
  });
  assert.deepEqual(retentionDecision({ ...base, deleteHours: new Set([5]), diskUsedRatio: 80 }), {
    run: true,
    force: true,
  });
  assert.equal(segmentExpired(now - 73 * 3600_000, now, 72), true);
  assert.equal(segmentExpired(now - 71 * 3600_000, now, 72), false);
});

test("expired segments are deleted with the consume-queue and index entries pointing into them", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  let store = await openStore(dir, { deleteWhen: notNowHour, consumeQueueEntriesPerFile: 100 });
  const offsets = await fill(store, 1000); // ~4 MB: five segments
  await store.shutdown(); // consume-queue files on disk
  store = await openStore(dir, { deleteWhen: notNowHour, consumeQueueEntriesPerFile: 100 });
  const old = Date.now() / 1000 - 100 * 3600;
  fs.utimesSync(segPath(dir, 0), old, old);
  fs.utimesSync(segPath(dir, SEG), old, old);
  assert.equal(await store.deleteExpiredFiles(), 0, "not the deleteWhen hour");
  assert.equal(await store.deleteExpiredFiles({ manual: true }), 2);
  assert.equal(fs.existsSync(segPath(dir, 0)), false);
  assert.equal(fs.existsSync(segPath(dir, SEG)), false);
  assert.equal(store.stats.commitLogMinOffset, 2 * SEG);
  const firstKept = offsets.findIndex((o) => o >= 2 * SEG);
  const min0 = store.getMinOffsetInQueue("Ret", 0);
  assert.equal(min0, Math.ceil(firstKept / 2));
  const g = await store.getMessage("Ret", 0, 0, 10);
  assert.equal(g.status, "OFFSET_TOO_SMALL");
  assert.equal(g.nextBeginOffset, min0);
  const ok = await store.getMessage("Ret", 0, min0, 10);
  assert.equal(ok.status, "FOUND");
  assert.equal(decodeMessages(ok.body)[0]!.commitLogOffset >= 2 * SEG, true);
  assert.equal(await store.lookMessageByOffset(0), undefined);
  assert.equal((await store.queryMessage("Ret", "key0", 10, 0, Date.now() + 1000)).messages.length, 0);
  assert.equal((await store.queryMessage("Ret", "key999", 10, 0, Date.now() + 1000)).messages.length, 1);
  assert.ok((await store.getEarliestMessageTime("Ret", 0)) > 0);
  const cqFiles = fs.readdirSync(path.join(dir, "consumequeue", "Ret", "0"));
  assert.ok(!cqFiles.includes("0".repeat(20)), "consume-queue files wholly below the log are gone");
  assert.equal(await store.deleteExpiredFiles({ manual: true }), 0, "the rest are young");
  await store.shutdown();
  store = await openStore(dir, { consumeQueueEntriesPerFile: 100 });
  assert.equal(store.getMinOffsetInQueue("Ret", 0), min0);
  assert.equal(store.getMaxOffsetInQueue("Ret", 0), 500);
  await store.halt();
  store = await openStore(dir, { consumeQueueEntriesPerFile: 100 });
  assert.equal(store.getMinOffsetInQueue("Ret", 0), min0);
  await store.shutdown();
  // Rebuilding a queue whose start was deleted: it begins at the first surviving record.
  fs.rmSync(path.join(dir, "consumequeue"), { recursive: true });
  store = await openStore(dir, { consumeQueueEntriesPerFile: 100 });
  assert.equal(store.getMinOffsetInQueue("Ret", 0), min0);
  assert.equal(store.getMaxOffsetInQueue("Ret", 0), 500);
  await store.shutdown();
});

test("above diskMaxUsedSpaceRatio the oldest segments go at once, expired or not; the current one stays", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, {
    deleteWhen: notNowHour,
    diskMaxUsedSpaceRatio: 0,
    deleteFilesBatchMax: 100,
  });
  try {
    await fill(store, 700);
    await store.refreshDiskUsage();
    assert.ok(store.stats.diskUsedRatio > 0);
    const deleted = await store.deleteExpiredFiles();
    assert.ok(deleted >= 2, `deleted ${deleted}`);
    assert.equal(fs.readdirSync(path.join(dir, "commitlog")).length, 1);
    const r = await store.putMessage(msg("Ret", 0, "still writable"));
    assert.equal(r.status, "PUT_OK");
  } finally {
    await store.shutdown();
  }
});

test("a disk fuller than diskSpaceWarningLevelRatio refuses appends with SERVICE_NOT_AVAILABLE", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { diskSpaceWarningLevelRatio: 0 });
  try {
    await store.refreshDiskUsage();
    await assert.rejects(store.putMessage(msg("Full", 0, "x")), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.code, ResponseCode.SERVICE_NOT_AVAILABLE);
      assert.match(err.message, /disk full/);
      return true;
    });
    assert.equal((await store.getMessage("Full", 0, 0, 1)).status, "NO_MESSAGE_IN_QUEUE", "reads still work");
  } finally {
    await store.shutdown();
  }
});

test("ENOSPC on a tiny tmpfs: appends are refused, the process keeps running, stored data survives", async (t) => {
  const dir = await tempDir();
  dirs.push(dir);
  const mnt = path.join(dir, "tmpfs");
  fs.mkdirSync(mnt);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], { stdio: "ignore" });
  } catch {
    t.skip("cannot mount a tmpfs here (needs root)");
    return;
  }
  try {
    const store = await openStore(mnt, { diskSpaceWarningLevelRatio: 100, diskCheckInterval: 3_600_000 });
    let acked = 0;
    let refused: unknown;
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        await store.putMessage(msg("Enospc", 0, bodyBytes(i, 60_000)));
        acked++;
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof StoreError, `refused with ${String(refused)}`);
    assert.equal(refused.code, ResponseCode.SERVICE_NOT_AVAILABLE);
    assert.ok(acked > 0);
    await assert.rejects(store.putMessage(msg("Enospc", 0, "more")), StoreError);
    const g = await store.getMessage("Enospc", 0, 0, 1);
    assert.equal(g.status, "FOUND");
    await store.halt();
  } finally {
    execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
  }
});
