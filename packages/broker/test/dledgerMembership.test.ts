import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { type ConfigChange, type Entry, encodeConfigChange, MemoryStorage, RaftNode } from "@tidemq/raft";
import { createLogger } from "@tidemq/remoting";
import { checkAddPeer, checkRemovePeer, explain } from "../src/dledger/MembershipChange.js";
import { encodeMembershipContext, MembershipLog } from "../src/dledger/MembershipLog.js";
import { RaftLogIndex } from "../src/dledger/RaftLogIndex.js";
import { cleanupsAfterAll, removeDir, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-membership-test", "error");
const initial = [
  { id: "n0", host: "127.0.0.1", port: 1 },
  { id: "n1", host: "127.0.0.1", port: 2 },
  { id: "n2", host: "127.0.0.1", port: 3 },
];

function configEntry(index: number, term: number, cc: ConfigChange): Entry {
  return { index, term, type: "config", data: encodeConfigChange(cc) };
}

test("membership changes persist beside the Raft index, survive a reopen, and stop counting once a new leader's log truncates them", async () => {
  const dir = await tempDir("dlmembers");
  cleanups.push(() => removeDir(dir));
  const ixDir = join(dir, "dledger");
  const index = RaftLogIndex.open(
    ixDir,
    initial.map((p) => p.id),
    join(dir, "commitlog"),
  );
  cleanups.push(async () => index.close());
  let members = new MembershipLog(index, ixDir, initial, logger);
  assert.deepEqual(members.currentVoters(), ["n0", "n1", "n2"]);
  assert.deepEqual(members.initialState().config, { voters: ["n0", "n1", "n2"], removedAt: {}, index: 0 });

  // 1 no-op, 2 "remove n0", 3 "add n3 at 127.0.0.1:9" (persisted before their index records).
  index.append([{ index: 1, term: 1, type: "noop", end: 0 }]);
  const remove = configEntry(2, 1, {
    op: "removeVoter",
    node: "n0",
    voters: ["n1", "n2"],
    context: encodeMembershipContext({ peers: { n1: "127.0.0.1:2", n2: "127.0.0.1:3" } }),
  });
  members.persist(remove);
  index.append([{ index: 2, term: 1, type: "config", end: 0 }]);
  const add = configEntry(3, 2, {
    op: "addVoter",
    node: "n3",
    voters: ["n1", "n2", "n3"],
    context: encodeMembershipContext({ address: "127.0.0.1:9", peers: {} }),
  });
  members.persist(add);
  index.append([{ index: 3, term: 2, type: "config", end: 0 }]);
  assert.deepEqual(members.currentVoters(), ["n1", "n2", "n3"]);
  assert.deepEqual(members.peer("n3"), { id: "n3", host: "127.0.0.1", port: 9 });
  // The core reads config entries back with their data.
  assert.deepEqual([...members.entries(2, 4, 1 << 20)[1]!.data], [...add.data]);
  assert.equal(members.entries(1, 2, 1 << 20)[0]!.type, "noop");

  // Commit index 2: entry 3 may still be truncated, so the core re-reads from it. The core also
  // learns that entry 2 removed n0 (to tell n0 if it comes back unaware: raft's removedPeer.ts).
  await index.setHardState({ term: 2, vote: "n1", commit: 2 }, true);
  members = new MembershipLog(index, ixDir, initial, logger);
  assert.deepEqual(members.initialState().config, { voters: ["n1", "n2"], removedAt: { n0: 2 }, index: 2 });
  assert.deepEqual(members.peer("n3"), { id: "n3", host: "127.0.0.1", port: 9 });
  await index.setHardState({ term: 2, vote: "n1", commit: 3 }, true);
  assert.deepEqual(members.initialState().config, {
    voters: ["n1", "n2", "n3"],
    removedAt: { n0: 2 },
    index: 3,
  });

  // A new leader's log replaces entry 3: the add no longer counts (now or after a reopen).
  await index.setHardState({ term: 3, vote: "n2", commit: 2 }, true);
  index.truncateFrom(3);
  index.append([{ index: 3, term: 3, type: "noop", end: 0 }]);
  assert.deepEqual(members.currentVoters(), ["n1", "n2"]);
  members = new MembershipLog(index, ixDir, initial, logger);
  assert.deepEqual(members.currentVoters(), ["n1", "n2"]);
  assert.equal(members.lastConfigIndex(), 2);
});

test("addDLedgerPeer / removeDLedgerPeer checks: leader only, one id once, the leader is not removed, an add after retention is taken (the new replica gets a snapshot)", () => {
  const base = { selfId: "n1", role: "leader", leaderId: "n1", voters: ["n1", "n2"], commitLogMinOffset: 0 };
  assert.deepEqual(checkAddPeer({ ...base, id: "n3", address: "10.0.0.4:40911" }), {
    host: "10.0.0.4",
    port: 40911,
  });
  assert.throws(
    () => checkAddPeer({ ...base, role: "follower", leaderId: "n2", id: "n3", address: "h:1" }),
    /n1 is not the leader \(leader: n2\)/,
  );
  assert.throws(() => checkAddPeer({ ...base, id: "n2", address: "h:1" }), /already a member/);
  assert.throws(() => checkAddPeer({ ...base, id: "n3", address: "nohost" }), /invalid address/);
  assert.throws(() => checkAddPeer({ ...base, id: "n 3", address: "h:1" }), /invalid replica id/);
  // An id the group removed is not reused (its replica would take that removal as its own).
  assert.throws(
    () => checkAddPeer({ ...base, id: "n0", address: "h:1", removed: { n0: 7 } }),
    /n0 was removed from the group by config entry 7; .* add the replacement under a new id/,
  );
  assert.deepEqual(checkAddPeer({ ...base, id: "n3", address: "h:1", removed: { n0: 7 } }), {
    host: "h",
    port: 1,
  });
  // Retention deleted the log's start: the new replica gets a snapshot (SnapshotInstall.ts).
  assert.deepEqual(checkAddPeer({ ...base, id: "n3", address: "h:1", commitLogMinOffset: 1 << 30 }), {
    host: "h",
    port: 1,
  });
  checkRemovePeer({ ...base, id: "n2" });
  assert.throws(() => checkRemovePeer({ ...base, id: "n1" }), /transfer leadership first/);
  assert.throws(() => checkRemovePeer({ ...base, id: "n0" }), /not a member/);
});

test("a second change while one is uncommitted is refused in the operator's words", () => {
  const storage = new MemoryStorage(["n1"]);
  const node = new RaftNode({ id: "n1", storage, random: () => 0.5 });
  node.campaign();
  for (let i = 0; i < 10 && node.hasReady(); i++) {
    const rd = node.ready();
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    node.advance();
  }
  assert.equal(node.role, "leader");
  node.proposeConfigChange({ op: "addVoter", node: "n2" });
  let err: unknown;
  try {
    node.proposeConfigChange({ op: "addVoter", node: "n3" });
  } catch (e) {
    err = e;
  }
  assert.match(explain(err), /another membership change is not committed yet .*one change at a time/);
});
