import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { writeCheckpoint } from "../src/Checkpoint.js";
import type { MessageStore } from "../src/index.js";
import { bodyBytes, memoryLogger, msg, openStore, removeDir, tempDir } from "./helpers.js";

/**
 * A power cut right after a commit-log segment file was created, before its size reached the
 * disk, leaves an empty file (ext4 commits the create in its journal; lossyfs does the same).
 * On a replica whose log begins inside a segment of its source (a DLedger follower after a
 * snapshot install) the first segment is short: it ends where the source's does. Recovery
 * used to keep such files with a guessed full size: with the next segment's file also left
 * empty the store refused to start ("segments do not follow each other"), and with one file
 * the replica's segments no longer lined up with its source's, so the copy failed at the
 * source's first segment end. Such a file never held data: recovery removes it and the copy
 * creates it again with the right size.
 */
const SEG = 64 * 1024;
const dirs: string[] = [];
const stores: MessageStore[] = [];
after(async () => {
  for (const s of stores) await s.shutdown().catch(() => undefined);
  for (const d of dirs) await removeDir(d);
});

const name = (offset: number) => String(offset).padStart(20, "0");

async function open(dir?: string, logger = memoryLogger()): Promise<{ dir: string; store: MessageStore }> {
  const d = dir ?? (await tempDir("tidemq-emptyseg-"));
  if (!dir) dirs.push(d);
  const store = await openStore(d, { mappedFileSizeCommitLog: SEG, logger });
  stores.push(store);
  return { dir: d, store };
}

/** A source of 4000-byte records over several segments; `from`: a record boundary in its second. */
async function source(): Promise<{ store: MessageStore; from: number }> {
  const src = await open();
  const offsets: number[] = [];
  for (let i = 0; i < 80; i++)
    offsets.push((await src.store.putMessage(msg("T", i % 2, bodyBytes(i, 4000)))).commitLogOffset);
  const from = offsets.find((o) => o > SEG + SEG / 3)!;
  assert.ok(from % SEG !== 0 && src.store.maxPhysicalOffset > 3 * SEG);
  return { store: src.store, from };
}

/**
 * Copies the source from `from` as a DLedger follower does after installing a snapshot whose
 * log begins there: a segment begun inside the source's segment holding `from` ends where the
 * source's does (EntryWriter), every other one takes the source's size.
 */
async function copyFrom(src: MessageStore, dst: MessageStore, from: number): Promise<void> {
  const firstEnd = src.segmentEndAt(from);
  let at = Math.max(from, dst.maxPhysicalOffset);
  for (let i = 0; i < 10_000; i++) {
    const c = await src.readReplicationChunk(at, 16 * 1024);
    if (!c) return;
    const size = c.offset >= from && c.offset < firstEnd ? firstEnd - c.offset : c.segmentSize;
    await dst.appendReplicated(c.offset, c.data, size);
    at = c.next;
  }
  assert.fail("copy did not finish");
}

/** The replica's segment files (name → size) equal the source's from the replica's first one. */
function assertSameLayout(srcDir: string, dstDir: string, from: number): void {
  const files = (d: string) =>
    fs
      .readdirSync(path.join(d, "commitlog"))
      .sort()
      .map((n) => [n, fs.statSync(path.join(d, "commitlog", n)).size] as const);
  const firstStart = Math.floor(from / SEG) * SEG;
  const want = files(srcDir)
    .filter(([n]) => Number(n) >= firstStart)
    .map(([n, size]) => (Number(n) === firstStart ? [name(from), size - (from - firstStart)] : [n, size]));
  assert.deepEqual(files(dstDir), want);
}

for (const leftEmpty of [1, 2]) {
  test(`a replica power-cut right after creating ${leftEmpty === 1 ? "its first segment (short: it ends where its source's does)" : "its first two segments"} comes back with the empty file${leftEmpty === 1 ? "" : "s"} removed, and its segments line up with its source's`, async () => {
    const src = await source();
    const srcDir = dirs.at(-1)!;
    const replicaDir = await tempDir("tidemq-emptyseg-");
    dirs.push(replicaDir);
    // What the power cut left: the files created (empty), and the checkpoint of the first
    // append's reservation (the log's end moved to `from`, nothing flushed past it).
    const cl = path.join(replicaDir, "commitlog");
    fs.mkdirSync(cl, { recursive: true });
    const firstEnd = src.store.segmentEndAt(src.from);
    const empty = [src.from, firstEnd].slice(0, leftEmpty);
    for (const o of empty) fs.writeFileSync(path.join(cl, name(o)), "");
    await writeCheckpoint(path.join(replicaDir, "checkpoint"), {
      version: 1,
      physicFlushedOffset: src.from,
      logicsOffset: src.from,
      physicMsgTimestamp: 0,
      logicsMsgTimestamp: 0,
      indexMsgTimestamp: 0,
    });
    const logger = memoryLogger();
    const replica = await open(replicaDir, logger);
    for (const o of empty) {
      assert.ok(
        logger.lines.some(
          (l) => l.startsWith("WARN") && l.includes(`removing empty segment file ${path.join(cl, name(o))}`),
        ),
        logger.lines.join("\n"),
      );
    }
    assert.deepEqual(fs.readdirSync(cl), [], "no segment file is kept with a guessed size");
    assert.equal(replica.store.maxPhysicalOffset, src.from, "the log is empty and ends where it began");
    await copyFrom(src.store, replica.store, src.from);
    assert.equal(replica.store.maxPhysicalOffset, src.store.maxPhysicalOffset);
    assertSameLayout(srcDir, replicaDir, src.from);
    // A crash now (no clean stop): it comes back whole, still in line, and goes on copying.
    await replica.store.halt();
    const again = (await open(replicaDir)).store;
    assert.equal(again.maxPhysicalOffset, src.store.maxPhysicalOffset);
    for (let i = 0; i < 20; i++) await src.store.putMessage(msg("T", 0, bodyBytes(100 + i, 4000)));
    await copyFrom(src.store, again, src.from);
    assert.equal(again.maxPhysicalOffset, src.store.maxPhysicalOffset);
    assertSameLayout(srcDir, replicaDir, src.from);
    const q0 = await again.getMessage("T", 0, again.getMinOffsetInQueue("T", 0), 64);
    assert.equal(q0.status, "FOUND");
    assert.equal(again.getMaxOffsetInQueue("T", 0), src.store.getMaxOffsetInQueue("T", 0));
  });
}

test("an empty segment file after the last one written is removed too; the log goes on where its data ended", async () => {
  const dir = await tempDir("tidemq-emptyseg-");
  dirs.push(dir);
  const first = await open(dir);
  while (first.store.maxPhysicalOffset < SEG - 8000)
    await first.store.putMessage(msg("W", 0, bodyBytes(1, 4000)));
  await first.store.halt();
  // Data in the first segment, its blank filler not written: a power cut as the log rolled.
  fs.writeFileSync(path.join(dir, "commitlog", name(SEG)), "");
  const logger = memoryLogger();
  const store = (await open(dir, logger)).store;
  assert.ok(
    logger.lines.some((l) => l.includes(`removing empty segment file`)),
    logger.lines.join("\n"),
  );
  const n = store.getMaxOffsetInQueue("W", 0);
  for (let i = 0; i < 10; i++) await store.putMessage(msg("W", 0, bodyBytes(2, 4000)));
  assert.equal(store.getMaxOffsetInQueue("W", 0), n + 10);
  const files = fs.readdirSync(path.join(dir, "commitlog")).sort();
  assert.deepEqual(files, [name(0), name(SEG)]);
  for (const f of files) assert.equal(fs.statSync(path.join(dir, "commitlog", f)).size, SEG);
});

test("an empty segment file that is not at the end is still refused as damage", async () => {
  const dir = await tempDir("tidemq-emptyseg-");
  dirs.push(dir);
  const first = await open(dir);
  while (first.store.maxPhysicalOffset < 2 * SEG + 1000)
    await first.store.putMessage(msg("W", 0, bodyBytes(1, 4000)));
  await first.store.halt();
  fs.truncateSync(path.join(dir, "commitlog", name(SEG)), 0);
  await assert.rejects(open(dir), /segments do not follow each other/);
});
