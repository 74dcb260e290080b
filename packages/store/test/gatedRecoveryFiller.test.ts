import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeMessages } from "@tidemq/protocol";
import type { MessageStore } from "../src/index.js";
import { bodyBytes, msg, openStore, removeDir, tempDir } from "./helpers.js";

/**
 * Recovery under a commit gate (a Raft replica) of a log that ends in a segment's blank
 * filler past the gate. A DLedger follower replicates its leader's segment end as an entry of
 * its own (the filler); a power cut after it had written that entry but lost the entry's index
 * record came back with the log ending in the filler and the group's commit below it. The Raft
 * layer then takes the entry back (truncateUncommitted at the filler's start). Recovery used to
 * count the filler as dispatched (it holds no record, so nothing lowered the mark from the
 * log's end), and the take-back was refused ("cannot take back records from 391494: everything
 * below 393216 is visible"): the replica exited (e2e-dledger-snapshot-powercut in CI).
 */
const SEG = 64 * 1024;
const dirs: string[] = [];
const stores: MessageStore[] = [];
after(async () => {
  for (const s of stores) await s.shutdown().catch(() => undefined);
  for (const d of dirs) await removeDir(d);
});

async function open(dir?: string, extra = {}): Promise<{ dir: string; store: MessageStore }> {
  const d = dir ?? (await tempDir("tidemq-gatedfill-"));
  if (!dir) dirs.push(d);
  const store = await openStore(d, { mappedFileSizeCommitLog: SEG, ...extra });
  stores.push(store);
  return { dir: d, store };
}

/** A leader's log: 4000-byte records in queue G/0 past its first segment's end (and filler). */
async function leaderLog(): Promise<MessageStore> {
  const { store } = await open();
  for (let i = 0; store.maxPhysicalOffset < SEG + 3 * 4096 && i < 100; i++)
    await store.putMessage(msg("G", 0, bodyBytes(i, 4000)));
  return store;
}

/**
 * Copies the leader's log into the replica one entry (record, or segment filler) at a time up
 * to `until` (a chunk start), as a Raft follower appends entries; returns where each began.
 */
async function copyEntries(src: MessageStore, dst: MessageStore, until: number): Promise<number[]> {
  const starts: number[] = [];
  for (let i = 0; i < 1000 && dst.maxPhysicalOffset < until; i++) {
    const c = await src.readReplicationChunk(dst.maxPhysicalOffset, 1);
    assert.ok(c, `the leader has data at ${dst.maxPhysicalOffset}`);
    starts.push(c.offset);
    // Resolves only once committed (as in EntryWriter, not awaited); the bytes are reserved
    // at the call. Entries taken back or cut by the power cut are refused: nobody waits on them.
    dst.appendReplicated(c.offset, c.data, c.segmentSize).catch(() => undefined);
  }
  return starts;
}

/** The replica's log ends in the filler of its first segment, the gate at the filler's start. */
async function replicaEndingInFiller(): Promise<{
  leader: MessageStore;
  dir: string;
  fillerStart: number;
  records: number;
}> {
  const leader = await leaderLog();
  const { dir, store } = await open(undefined, { commitGate: { committedOffset: 0 } });
  const gate = { committedOffset: 0 };
  store.setCommitGate(gate);
  const starts = await copyEntries(leader, store, SEG);
  // The last entry copied is the filler: the log ends at the segment's end.
  const fillerStart = starts.at(-1)!;
  assert.equal(store.maxPhysicalOffset, SEG);
  assert.ok(fillerStart < SEG && SEG - fillerStart < 4096, `a filler at ${fillerStart}`);
  await store.whenConfirmed(store.maxPhysicalOffset);
  // Everything but the filler committed (its entry's index record is what the cut lost).
  gate.committedOffset = fillerStart;
  store.commitAdvanced();
  const records = starts.length - 1;
  for (let i = 0; i < 1000 && store.getMaxOffsetInQueue("G", 0) < records; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(store.getMaxOffsetInQueue("G", 0), records);
  // The power cut: the process dies (what it wrote had reached the log).
  await store.halt();
  return { leader, dir, fillerStart, records };
}

test("recovery under a commit gate of a log ending in a segment filler past the gate: the filler is not counted dispatched, and the Raft layer can take it back and append again", async () => {
  const { leader, dir, fillerStart, records } = await replicaEndingInFiller();
  const gate = { committedOffset: fillerStart };
  const { store } = await open(dir, { commitGate: gate });
  assert.equal(store.maxPhysicalOffset, SEG);
  assert.equal(store.getMaxOffsetInQueue("G", 0), records, "every committed record readable");
  // The take-back the Raft layer does for the entry whose index record was lost.
  await store.truncateUncommitted(fillerStart);
  assert.equal(store.maxPhysicalOffset, fillerStart);
  // The leader sends the entry again, and the next segment's records after it.
  const end = leader.maxPhysicalOffset;
  await copyEntries(leader, store, end);
  assert.equal(store.maxPhysicalOffset, end);
  await store.whenConfirmed(end);
  gate.committedOffset = end;
  store.commitAdvanced();
  const total = leader.getMaxOffsetInQueue("G", 0);
  for (let i = 0; i < 1000 && store.getMaxOffsetInQueue("G", 0) < total; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(store.getMaxOffsetInQueue("G", 0), total);
  const got = await store.getMessage("G", 0, records - 1, 3);
  const want = await leader.getMessage("G", 0, records - 1, 3);
  assert.deepEqual(
    decodeMessages(got.body).map((m) => [m.queueOffset, m.commitLogOffset, m.body.toString("hex")]),
    decodeMessages(want.body).map((m) => [m.queueOffset, m.commitLogOffset, m.body.toString("hex")]),
  );
});

test("recovery under a commit gate of a log ending in a segment filler: once the group commits past it, the log goes on in the next segment", async () => {
  const { leader, dir, fillerStart, records } = await replicaEndingInFiller();
  const gate = { committedOffset: fillerStart };
  const { store } = await open(dir, { commitGate: gate });
  // Nothing taken back this time: the filler entry is committed after all, then more.
  gate.committedOffset = SEG;
  store.commitAdvanced();
  const end = leader.maxPhysicalOffset;
  await copyEntries(leader, store, end);
  await store.whenConfirmed(end);
  gate.committedOffset = end;
  store.commitAdvanced();
  const total = leader.getMaxOffsetInQueue("G", 0);
  assert.ok(total > records);
  for (let i = 0; i < 1000 && store.getMaxOffsetInQueue("G", 0) < total; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(store.getMaxOffsetInQueue("G", 0), total);
  const first = decodeMessages((await store.getMessage("G", 0, records, 1)).body)[0]!;
  assert.equal(first.commitLogOffset, SEG, "the first record after the filler starts the next segment");
});
