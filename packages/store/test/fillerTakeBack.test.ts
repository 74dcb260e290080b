import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { MessageStore } from "../src/index.js";
import { bodyBytes, msg, openStore, removeDir, tempDir } from "./helpers.js";

/**
 * A replica that begins at a snapshot's offset (a DLedger follower or a new member after an
 * InstallSnapshot) whose first entry from the leader is the leader's end-of-segment blank
 * filler. A new leader's log differs there, and the Raft layer takes that entry back
 * (truncateUncommitted at the log's start). The filler holds no record, so nothing was ever
 * queued or dispatched (dispatched stayed 0), and the take-back was refused: "cannot truncate
 * at 658540: not a record boundary (the nearest is 0)". The replica gave up and exited (FATAL,
 * code 75) — e2e-dledger-snapshot in a full `npm test` run, new replica n3 after a transfer.
 */
const SEG = 64 * 1024;
const dirs: string[] = [];
const stores: MessageStore[] = [];
after(async () => {
  for (const s of stores) await s.shutdown().catch(() => undefined);
  for (const d of dirs) await removeDir(d);
});

async function open(extra = {}): Promise<MessageStore> {
  const d = await tempDir("tidemq-fillertb-");
  dirs.push(d);
  const store = await openStore(d, { mappedFileSizeCommitLog: SEG, ...extra });
  stores.push(store);
  return store;
}

test("a replica begun at a snapshot's offset whose only entry is a segment filler can take it back, then append the new leader's entries there", async () => {
  const leader = await open();
  for (let i = 0; leader.maxPhysicalOffset < 2 * SEG + 3 * 4096 && i < 100; i++)
    await leader.putMessage(msg("G", 0, bodyBytes(i, 4000)));
  // The filler ending the leader's second segment: where the replica's log begins.
  let at = SEG;
  let filler: Awaited<ReturnType<MessageStore["readReplicationChunk"]>>;
  for (let i = 0; i < 100 && !filler; i++) {
    const c = await leader.readReplicationChunk(at, 1);
    assert.ok(c);
    if (c.next === 2 * SEG && c.data.length === 8) filler = c;
    else at = c.next;
  }
  assert.ok(filler, "a filler at the end of the leader's second segment");
  const base = filler.offset;

  const replica = await open({ commitGate: { committedOffset: 0 } });
  const gate = { committedOffset: 0 };
  replica.setCommitGate(gate);
  // The first segment after an install ends where the leader's does.
  replica.appendReplicated(base, filler.data, 2 * SEG - base).catch(() => undefined);
  await replica.whenConfirmed(replica.maxPhysicalOffset);
  assert.equal(replica.maxPhysicalOffset, 2 * SEG);

  await replica.truncateUncommitted(base);
  assert.equal(replica.maxPhysicalOffset, base);

  // The new leader's entries from the same offset (here: the same filler, then the next
  // segment's records) are taken, committed and readable.
  const end = leader.maxPhysicalOffset;
  for (let i = 0; i < 1000 && replica.maxPhysicalOffset < end; i++) {
    const c = await leader.readReplicationChunk(replica.maxPhysicalOffset, 1);
    assert.ok(c);
    const size = c.offset === base ? 2 * SEG - base : c.segmentSize;
    replica.appendReplicated(c.offset, c.data, size).catch(() => undefined);
  }
  assert.equal(replica.maxPhysicalOffset, end);
  await replica.whenConfirmed(end);
  gate.committedOffset = end;
  replica.commitAdvanced();
  const first = leader.getMaxOffsetInQueue("G", 0) - 3;
  for (let i = 0; i < 1000 && replica.getMaxOffsetInQueue("G", 0) < first + 3; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(replica.getMaxOffsetInQueue("G", 0), first + 3);
  const got = await replica.getMessage("G", 0, first, 3);
  const want = await leader.getMessage("G", 0, first, 3);
  assert.ok(want.body.length > 0);
  assert.deepEqual(got.body, want.body);
});
