import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CompactedError, type Entry } from "@tidemq/raft";
import { createLogger } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import { encodeEntryData } from "../src/dledger/EntryData.js";
import { EntryWriter } from "../src/dledger/EntryWriter.js";
import { LazyIndexSync } from "../src/dledger/LazyIndexSync.js";
import { MembershipLog } from "../src/dledger/MembershipLog.js";
import { RaftLogIndex } from "../src/dledger/RaftLogIndex.js";
import {
  decodeSnapshotPayload,
  encodeSnapshotPayload,
  misfitFirstSegment,
  refuseInstall,
  snapshotPayloadAt,
} from "../src/dledger/SnapshotInstall.js";
import { cleanupsAfterAll, removeDir, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-snapshot-test", "error");
const voters = ["n0", "n1", "n2"];
const peers = voters.map((id, i) => ({ id, host: "127.0.0.1", port: i + 1 }));

async function dirs(): Promise<{ ixDir: string; cl: string }> {
  const dir = await tempDir("dlsnap");
  cleanups.push(() => removeDir(dir));
  const cl = join(dir, "commitlog");
  fs.mkdirSync(cl, { recursive: true });
  return { ixDir: join(dir, "dledger"), cl };
}

test("retention compacts the Raft index: firstIndex is the first entry whose bytes the commit log still holds (whatever the lazily persisted commit index says), and the snapshot just below it names that entry, its term and its end offset", async () => {
  const { ixDir, cl } = await dirs();
  const ix = RaftLogIndex.open(ixDir, voters, cl);
  cleanups.push(async () => ix.close());
  // Entries 1..6: a no-op, then records ending at 100, 200, 300, 400, 500.
  ix.append([{ index: 1, term: 1, type: "noop", end: 0 }]);
  for (let i = 2; i <= 6; i++)
    ix.append([{ index: i, term: i < 5 ? 1 : 2, type: "normal", end: (i - 1) * 100 }]);
  await ix.setHardState({ term: 2, vote: "n0", commit: 6 }, true);
  let min = 0;
  let asked: [number, number] | undefined;
  ix.setCompaction(
    () => min,
    (index, end) => {
      asked = [index, end];
      return snapshotPayloadAt(end, end + 1000, undefined);
    },
  );
  assert.equal(ix.firstIndex(), 1);
  assert.equal(ix.snapshot().metadata.index, 0, "nothing compacted: no snapshot");
  min = 150; // the segment holding [0, 150) went: entry 3 ([100, 200)) is cut, entry 4 starts at 200
  assert.equal(ix.firstIndex(), 4);
  min = 200; // entry 3 ends exactly there: entry 4 is whole
  assert.equal(ix.firstIndex(), 4);
  const s = ix.snapshot();
  assert.deepEqual(s.metadata, { index: 3, term: 1, voters });
  assert.deepEqual(asked, [3, 200]);
  const p = decodeSnapshotPayload(s.data);
  assert.deepEqual([p.end, p.segmentEnd, p.state.applied], [200, 1200, 0]);
  min = 10_000; // everything gone: capped at the last entry + 1
  assert.equal(ix.firstIndex(), 7);
  // The commit index held here lags (persisted at most every second, HardStateWriter) while
  // retention, which deletes only dispatched — committed — records, is past it: the snapshot
  // still sits at the entry ending at or past the log's start, never at one whose bytes (and
  // segment) are gone. Capped by the commit index it sat at entry 2 (end 100, below min 250),
  // and a replica installing it laid its segments out elsewhere than the leader's (CI, stop 21).
  await ix.setHardState({ term: 2, vote: "n0", commit: 2 }, true);
  min = 250;
  assert.equal(ix.firstIndex(), 5);
  const lagging = ix.snapshot();
  assert.equal(lagging.metadata.index, 4);
  assert.ok(decodeSnapshotPayload(lagging.data).end >= min, "the snapshot's end is retained");
});

test("an installed base: the index begins after the snapshot's entry (term, end offset, first segment's end), appends continue it, a reopen keeps it, nothing below it can be read or cut", async () => {
  const { ixDir, cl } = await dirs();
  const ix = RaftLogIndex.open(ixDir, voters, cl);
  await ix.installBase({ index: 40, term: 3, end: 5000, segmentEnd: 8192 });
  assert.equal(ix.lastIndex(), 40);
  assert.equal(ix.firstIndex(), 41);
  assert.equal(ix.term(40), 3);
  assert.throws(() => ix.term(39), CompactedError);
  assert.throws(() => ix.entries(40, 41, 1 << 20), CompactedError);
  assert.equal(ix.endOf(40), 5000);
  assert.equal(ix.endOf(12), 5000);
  assert.throws(() => ix.append([{ index: 40, term: 3, type: "noop", end: 5000 }]), /does not continue/);
  ix.append([
    { index: 41, term: 3, type: "normal", end: 5100 },
    { index: 42, term: 4, type: "noop", end: 5100 },
  ]);
  assert.equal(ix.lastIndex(), 42);
  assert.equal(ix.endOf(41), 5100);
  assert.equal(ix.term(42), 4);
  assert.throws(() => ix.truncateFrom(40), /installed snapshot/);
  await assert.rejects(ix.installBase({ index: 50, term: 4, end: 6000 }), /holds entries/);
  await ix.sync();
  ix.close();
  const again = RaftLogIndex.open(ixDir, voters, cl);
  cleanups.push(async () => again.close());
  assert.deepEqual(again.logBase, { index: 40, term: 3, end: 5000, segmentEnd: 8192 });
  assert.equal(again.lastIndex(), 42);
  assert.equal(again.endOf(41), 5100);
  again.truncateFrom(42);
  assert.equal(again.lastIndex(), 41);
});

test("membership after an installed snapshot: the snapshot's voters and the removals it names, durable, then the log's config entries", async () => {
  const { ixDir, cl } = await dirs();
  const ix = RaftLogIndex.open(ixDir, voters, cl);
  cleanups.push(async () => ix.close());
  const members = new MembershipLog(ix, ixDir, peers, logger);
  await ix.installBase({ index: 10, term: 2, end: 900 });
  // n0 was removed by entry 4, which the snapshot covers: this member can still tell n0 (its
  // core learns the removal from the storage's config), and passes it on in its own snapshots.
  members.restoreBase(10, ["n1", "n2", "n3"], { n0: 4 });
  assert.deepEqual(members.currentVoters(), ["n1", "n2", "n3"]);
  assert.deepEqual(members.removedIds(), { n0: 4 });
  assert.deepEqual(members.snapshot().metadata, {
    index: 10,
    term: 2,
    voters: ["n1", "n2", "n3"],
    removedAt: { n0: 4 },
  });
  const reopened = new MembershipLog(ix, ixDir, peers, logger);
  assert.deepEqual(reopened.currentVoters(), ["n1", "n2", "n3"]);
  assert.deepEqual(reopened.initialState().config, {
    voters: ["n1", "n2", "n3"],
    removedAt: { n0: 4 },
    index: 10,
  });
  // Without removals (or from an older version's file): none claimed.
  members.restoreBase(10, ["n1", "n2", "n3"]);
  assert.deepEqual(members.snapshot().metadata, { index: 10, term: 2, voters: ["n1", "n2", "n3"] });
});

test("snapshot payloads: garbage is refused with a clear error; only an empty replica installs one", () => {
  const ok = encodeSnapshotPayload({ v: 1, end: 10, segmentEnd: 20, state: { applied: 3, changes: [] } });
  assert.equal(decodeSnapshotPayload(ok).state.applied, 3);
  assert.throws(() => decodeSnapshotPayload(Buffer.from("nope")), /not JSON/);
  assert.throws(() => decodeSnapshotPayload(Buffer.from('{"v":2}')), /unknown form/);
  assert.throws(
    () =>
      decodeSnapshotPayload(
        Buffer.from('{"v":1,"end":10,"segmentEnd":5,"state":{"applied":0,"changes":[]}}'),
      ),
    /unknown form/,
  );
  assert.equal(refuseInstall({ lastIndex: 0, baseIndex: 0, logEnd: 0 }, { index: 9, end: 100 }), undefined);
  // An earlier snapshot installed, nothing received since (a crash in between): installs again.
  assert.equal(refuseInstall({ lastIndex: 5, baseIndex: 5, logEnd: 0 }, { index: 9, end: 100 }), undefined);
  assert.match(
    refuseInstall({ lastIndex: 4, baseIndex: 0, logEnd: 50 }, { index: 9, end: 100 }) ?? "",
    /holds entries up to 4 .* move its store directory away and restart it empty/,
  );
});

/** A leader's store of 4000-byte records over several 64 KiB segments (the e2e tests' size). */
async function leaderStore(): Promise<{ store: MessageStore; offsets: number[] }> {
  const dir = await tempDir("dlsnap-leader");
  cleanups.push(() => removeDir(dir));
  const store = await MessageStore.open({
    storePathRootDir: dir,
    mappedFileSizeCommitLog: SEG,
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  cleanups.push(() => store.shutdown());
  const offsets: number[] = [];
  for (let i = 0; i < 60; i++) {
    const r = await store.putMessage({
      topic: "Snap",
      queueId: i % 2,
      flag: 0,
      body: Buffer.alloc(4000, i),
      properties: {},
      sysFlag: 0,
      bornTimestamp: 1_700_000_000_000,
      bornHost: { host: "192.168.0.7", port: 40000 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
    });
    offsets.push(r.commitLogOffset);
  }
  return { store, offsets };
}

const SEG = 64 * 1024;
const segName = (offset: number) => String(offset).padStart(20, "0");
const layout = (cl: string) =>
  fs
    .readdirSync(cl)
    .sort()
    .map((n) => [n, fs.statSync(join(cl, n)).size]);

for (const leftEmpty of [0, 1, 2]) {
  test(`a follower power-cut right after its snapshot install created ${leftEmpty} empty commit-log file(s) (sizes lost) comes back, and the leader's entries lay its segments out exactly as the leader's`, async () => {
    const leader = await leaderStore();
    // The snapshot's last entry ends inside the leader's second segment.
    const end = leader.offsets.find((o) => o > SEG + SEG / 3)!;
    const segmentEnd = leader.store.segmentEndAt(end);
    assert.equal(segmentEnd, 2 * SEG);
    const { ixDir, cl } = await dirs();
    const ix = RaftLogIndex.open(ixDir, voters, cl);
    cleanups.push(async () => ix.close());
    await ix.installBase({ index: 10, term: 1, end, segmentEnd });
    // The power cut: the appends had created these files; their sizes never reached the disk.
    for (const o of [end, segmentEnd].slice(0, leftEmpty)) fs.writeFileSync(join(cl, segName(o)), "");
    const store = await MessageStore.open({
      storePathRootDir: join(cl, ".."),
      mappedFileSizeCommitLog: SEG,
      storeHost: { host: "127.0.0.1", port: 10912 },
      logger,
    });
    cleanups.push(() => store.shutdown());
    assert.deepEqual(layout(cl), [], "no segment file kept with a guessed size");
    assert.equal(store.maxPhysicalOffset, leftEmpty > 0 ? end : 0);
    assert.equal(misfitFirstSegment(ix.logBase, store.segmentHolding(end)), undefined);
    const members = new MembershipLog(ix, ixDir, peers, logger);
    const lazy = new LazyIndexSync(false, ix, "n1", logger, {
      stopped: () => false,
      failed: () => false,
      durableMoved: () => undefined,
      recovered: () => undefined,
      fail: (err) => assert.fail(err),
    });
    const writer = new EntryWriter(store, ix, members, lazy, logger);
    // The leader's entries after the snapshot: one chunk each (a chunk never spans two of the
    // leader's segments; the one before a segment end carries its blank filler).
    const entries: Entry[] = [];
    let at = end;
    for (let i = 0; i < 1000; i++) {
      const c = await leader.store.readReplicationChunk(at, 9000);
      if (!c) break;
      entries.push({
        index: 11 + entries.length,
        term: 1,
        type: "normal",
        data: encodeEntryData(c.next, [{ offset: c.offset, bytes: c.data }]),
      });
      at = c.next;
    }
    assert.ok(at > 3 * SEG, "entries over several leader segments");
    const { end: written } = await writer.write(entries);
    assert.equal(written, leader.store.maxPhysicalOffset);
    await store.whenConfirmed(written);
    assert.equal(writer.appendError, undefined);
    const want = layout(join(leader.store.commitLogDir))
      .filter(([n]) => Number(n) >= SEG)
      .map(([n, size]) => (Number(n) === SEG ? [segName(end), Number(size) - (end - SEG)] : [n, size]));
    assert.deepEqual(layout(cl), want, "the follower's segments end where the leader's do");
    assert.equal(misfitFirstSegment(ix.logBase, store.segmentHolding(end)), undefined);
  });
}

test("a store whose first segment after an installed snapshot does not end where the leader's did is refused at start with the repair step", () => {
  const base = { index: 106, term: 3, end: 330860, segmentEnd: 393216 };
  const path = "/data/commitlog/00000000000000330860";
  assert.equal(misfitFirstSegment(base, { start: 330860, end: 393216, path }), undefined);
  assert.equal(misfitFirstSegment(base, undefined), undefined, "retention deleted it: nothing to line up");
  assert.equal(misfitFirstSegment({ index: 0, end: 0 }, { start: 0, end: 65536, path }), undefined);
  const why = misfitFirstSegment(base, { start: 330860, end: 396396, path });
  assert.match(
    why ?? "",
    /covers \[330860, 396396\) but the snapshot installed at entry 106 begins the log at 330860 in a leader's segment that ends at 393216/,
  );
  assert.match(why ?? "", /move its store directory away and restart it empty/);
});
