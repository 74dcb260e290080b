import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { decodeMessages } from "@tidemq/protocol";
import type { MessageStore } from "../src/index.js";
import { bodyBytes, memoryLogger, msg, openStore, removeDir, tempDir } from "./helpers.js";

/**
 * A replica whose source's retention already deleted the start of its log: an empty store
 * begins at the source's oldest segment, each consume queue at the queue offset of the first
 * record it meets (RocketMQ's slave does the same).
 */
const dirs: string[] = [];
const stores: MessageStore[] = [];
after(async () => {
  for (const s of stores) await s.shutdown().catch(() => undefined);
  for (const d of dirs) await removeDir(d);
});

const SEG = 1024 * 1024;
const CQ_PER_FILE = 100;
const notNowHour = String((new Date().getHours() + 12) % 24).padStart(2, "0");

async function open(dir?: string, extra = {}): Promise<{ dir: string; store: MessageStore }> {
  const d = dir ?? (await tempDir("tidemq-replbase-"));
  if (!dir) dirs.push(d);
  const store = await openStore(d, {
    consumeQueueEntriesPerFile: CQ_PER_FILE,
    deleteWhen: notNowHour,
    ...extra,
  });
  stores.push(store);
  return { dir: d, store };
}

/** Copies everything confirmed on `src` from `from` (the replica's end when it has one). */
async function copy(src: MessageStore, dst: MessageStore, from: number): Promise<void> {
  let at = from;
  for (let i = 0; i < 100_000; i++) {
    const c = await src.readReplicationChunk(at, 64 * 1024);
    if (!c) return;
    await dst.appendReplicated(c.offset, c.data, c.segmentSize);
    at = c.next;
  }
  assert.fail("copy did not finish");
}

/** A source whose first two segments were deleted; "Old" has records only in them. */
async function sourceWithDeletedHead(): Promise<{ dir: string; store: MessageStore }> {
  const src = await open();
  await src.store.putMessage(msg("Old", 0, "gone"));
  await src.store.putMessage(msg("Old", 0, "gone too"));
  for (let i = 0; i < 1000; i++) await src.store.putMessage(msg("Ret", i % 2, bodyBytes(i, 4000)));
  const old = Date.now() / 1000 - 100 * 3600;
  for (const start of [0, SEG])
    fs.utimesSync(path.join(src.dir, "commitlog", String(start).padStart(20, "0")), old, old);
  assert.equal(await src.store.deleteExpiredFiles({ manual: true }), 2);
  assert.equal(src.store.stats.commitLogMinOffset, 2 * SEG);
  return src;
}

test("an empty replica begins at its source's oldest segment: queues start at their first record's offset, pulls at the min offset work, and so does a restart", async () => {
  const src = await sourceWithDeletedHead();
  // A record of a queue whose earlier records are all gone: its queue offset is 2.
  await src.store.putMessage(msg("Old", 0, "kept"));
  const replica = await open();
  await copy(src.store, replica.store, src.store.stats.commitLogMinOffset);
  assert.equal(replica.store.maxPhysicalOffset, src.store.maxPhysicalOffset);
  assert.equal(replica.store.stats.commitLogMinOffset, 2 * SEG);
  const check = async (s: MessageStore) => {
    for (const q of [0, 1]) {
      const min = src.store.getMinOffsetInQueue("Ret", q);
      assert.ok(min > 0);
      assert.equal(s.getMinOffsetInQueue("Ret", q), min);
      assert.equal(s.getMaxOffsetInQueue("Ret", q), 500);
      const atMin = await s.getMessage("Ret", q, min, 8);
      assert.equal(atMin.status, "FOUND");
      assert.deepEqual(atMin.body, (await src.store.getMessage("Ret", q, min, 8)).body);
      const below = await s.getMessage("Ret", q, 0, 8);
      assert.equal(below.status, "OFFSET_TOO_SMALL");
      assert.equal(below.nextBeginOffset, min);
    }
    assert.equal(s.getMinOffsetInQueue("Old", 0), 2);
    assert.equal(s.getMaxOffsetInQueue("Old", 0), 3);
    const kept = await s.getMessage("Old", 0, 2, 8);
    assert.deepEqual(
      decodeMessages(kept.body).map((m) => m.body.toString()),
      ["kept"],
    );
  };
  await check(replica.store);
  // Clean stop, then a crash: the queues (with their leading hole on disk) load as they were.
  await replica.store.shutdown();
  let again = (await open(replica.dir)).store;
  await check(again);
  await src.store.putMessage(msg("Ret", 0, "after restart"));
  await copy(src.store, again, again.maxPhysicalOffset);
  assert.equal(again.getMaxOffsetInQueue("Ret", 0), 501);
  await again.halt();
  again = (await open(replica.dir)).store;
  assert.equal(again.getMaxOffsetInQueue("Ret", 0), 501);
  assert.equal(again.getMinOffsetInQueue("Ret", 0), src.store.getMinOffsetInQueue("Ret", 0));
  // Queue directories lost: rebuilt from the replica's oldest segment, same offsets.
  await again.shutdown();
  fs.rmSync(path.join(replica.dir, "consumequeue"), { recursive: true });
  again = (await open(replica.dir)).store;
  assert.equal(again.getMaxOffsetInQueue("Ret", 0), 501);
  assert.equal(again.getMinOffsetInQueue("Old", 0), 2);
});

test("replicated records that leave a gap in a queue are kept out of it: the store stays up, serves what it has and refuses further writes with the reason", async () => {
  const a = await open();
  const b = await open();
  const logger = memoryLogger();
  const replica = await open(undefined, { logger });
  await a.store.putMessage(msg("G", 0, "a0"));
  await copy(a.store, replica.store, 0);
  // b's queue G/0 is at offset 3 by then: its record does not continue the replica's queue.
  for (let i = 0; i < 4; i++) await b.store.putMessage(msg("G", 0, `b${i}`));
  const last = (await b.store.getMessage("G", 0, 3, 1)).body;
  const rec = decodeMessages(last)[0]!;
  const chunk = (await b.store.readReplicationChunk(rec.commitLogOffset, 1))!;
  await replica.store.appendReplicated(replica.store.maxPhysicalOffset, chunk.data, chunk.segmentSize);
  assert.equal(replica.store.getMaxOffsetInQueue("G", 0), 1);
  const got = await replica.store.getMessage("G", 0, 0, 8);
  assert.deepEqual(
    decodeMessages(got.body).map((m) => m.body.toString()),
    ["a0"],
  );
  assert.ok(
    logger.lines.some((l) => /has 1 entries but the commit log record .* has queue offset 3/.test(l)),
    logger.lines.join("\n"),
  );
  await assert.rejects(
    replica.store.appendReplicated(replica.store.maxPhysicalOffset, chunk.data, chunk.segmentSize),
    /consume queue G\/0 has a gap/,
  );
});
