// A replica removed from the group while it was down (longer than the election timeout for
// which the leader tells a removed peer of its removal), restarted on its old log: the members
// it asks for (pre-)votes tell it, only when their log shows its removal committed.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RaftNode } from "../src/index.js";
import { Membership } from "../src/membership.js";
import { Net } from "./membershipNet.js";

const enc = new TextEncoder();

/** n0..n2, n1 leading, a few entries; then n0 dies and is removed; the leader forgets it. */
function removedWhileDown(): { net: Net; leader: RaftNode; removedAt: number } {
  const net = new Net();
  const ids = ["n0", "n1", "n2"];
  for (const id of ids) net.add(id, ids);
  net.nodes.get("n1")!.raft.campaign();
  net.settle();
  const leader = net.nodes.get("n1")!.raft;
  assert.equal(leader.role, "leader");
  for (let i = 0; i < 5; i++) leader.propose([enc.encode(`a${i}`)]);
  net.settle();
  net.down.add("n0");
  const { lastIndex: removedAt } = leader.proposeConfigChange({ op: "removeVoter", node: "n0" });
  net.settle();
  net.tick(25); // silent for an election timeout: the leader no longer tells it
  assert.equal(leader.status().progress.n0, undefined);
  for (let i = 0; i < 5; i++) leader.propose([enc.encode(`b${i}`)]);
  net.settle();
  return { net, leader, removedAt };
}

function campaignsOf(net: Net, id: string): number {
  return net.sent.filter((m) => m.from === id && (m.type === "preVote" || m.type === "vote")).length;
}

test("removed while down, restarted on its old log: the members it asks for votes tell it; it stops campaigning, reports it once, and the group's term does not move", () => {
  const { net, leader, removedAt } = removedWhileDown();
  const term = leader.term;
  const n0 = net.restart("n0");
  assert.deepEqual(n0.voters(), ["n0", "n1", "n2"], "its own log still names it a voter");
  net.tick(60);
  assert.deepEqual(net.removedReports, [{ id: "n0", removed: { index: removedAt, by: "n1" } }]);
  const campaigns = campaignsOf(net, "n0");
  assert.ok(campaigns >= 1 && campaigns <= 2, `one pre-vote round, not ${campaigns} requests`);
  net.tick(100);
  assert.equal(campaignsOf(net, "n0"), campaigns, "no campaign once told");
  assert.equal(net.removedReports.length, 1, "reported once");
  assert.equal(n0.role, "follower");
  assert.equal(leader.role, "leader");
  assert.equal(leader.term, term);

  // Added back under the same id: once its log holds the entry that removed it, the log decides
  // again, and it is a voter that can lead.
  leader.proposeConfigChange({ op: "addVoter", node: "n0" });
  net.settle();
  net.tick(3);
  assert.deepEqual(n0.voters(), ["n0", "n1", "n2"]);
  assert.equal(n0.status().commit, leader.status().commit);
  leader.transferLeadership("n0");
  net.settle();
  assert.equal(n0.role, "leader");
});

test("removed while down when the leader is not among its old voters: the followers tell it", () => {
  const { net, leader, removedAt } = removedWhileDown();
  const n3 = net.add("n3", ["n1", "n2", "n3"]);
  leader.proposeConfigChange({ op: "addVoter", node: "n3" });
  net.settle();
  net.tick(3);
  leader.transferLeadership("n3");
  net.settle();
  assert.equal(n3.role, "leader");
  const term = n3.term;
  net.restart("n0");
  net.tick(60);
  assert.equal(net.removedReports.length, 1);
  assert.equal(net.removedReports[0]!.id, "n0");
  assert.equal(net.removedReports[0]!.removed.index, removedAt);
  assert.ok(["n1", "n2"].includes(net.removedReports[0]!.removed.by));
  const campaigns = campaignsOf(net, "n0");
  net.tick(100);
  assert.equal(campaignsOf(net, "n0"), campaigns, "no campaign once told");
  assert.equal(n3.role, "leader");
  assert.equal(n3.term, term);
});

test("not told: a replica whose removal is only pending, and a new replica (never a member) whose config names itself", () => {
  const net = new Net();
  const ids = ["n0", "n1", "n2"];
  for (const id of ids) net.add(id, ids);
  net.nodes.get("n1")!.raft.campaign();
  net.settle();
  const leader = net.nodes.get("n1")!.raft;
  leader.propose([enc.encode("a")]);
  net.settle();

  // A new replica that believes itself a voter campaigns before anyone added it: it was never
  // removed, so nobody says it was (it is added later as usual).
  const n3 = net.add("n3", ["n1", "n2", "n3"]);
  net.tick(40);
  assert.ok(campaignsOf(net, "n3") > 0, "n3 campaigns (its config names it)");
  assert.deepEqual(net.removedReports, []);
  net.down.add("n3");

  // n0 and n2 down; n0's removal cannot commit (the new majority needs n2): it stays pending.
  net.down.add("n0");
  net.down.add("n2");
  leader.proposeConfigChange({ op: "removeVoter", node: "n0" });
  net.settle();
  assert.equal(leader.status().commit < leader.status().lastIndex, true, "the removal is pending");
  net.tick(25); // n1 loses its quorum and steps down: nobody sends n0 the pending entry
  assert.notEqual(leader.role, "leader");
  net.restart("n0");
  net.tick(60);
  assert.ok(campaignsOf(net, "n0") > 0);
  assert.deepEqual(net.removedReports, [], "a pending removal is never told");
  assert.deepEqual(n3.voters(), ["n1", "n2", "n3"]);
});

test("a restarted member knows who committed entries removed from its storage's ConfigState.removedAt (its log may not hold those entries any more)", () => {
  const m = new Membership({ voters: ["n1", "n2", "n3"], index: 9, removedAt: { n0: 5, n2: 7 } });
  assert.equal(m.committedRemoval("n0", 9), 5);
  assert.equal(m.committedRemoval("n2", 9), undefined, "a voter again (the storage's claim is ignored)");
  assert.equal(m.committedRemoval("n4", 9), undefined, "never a member");
});

test("a member that installs a snapshot knows the removals it names (SnapshotMetadata.removedAt), and only those", () => {
  const m = new Membership({ voters: ["n0", "n1", "n2"], index: 3, removedAt: { n5: 2 } });
  m.restore(["n1", "n2", "n3"], 20, { n0: 12, n3: 15, n4: 25 });
  assert.equal(m.committedRemoval("n0", 20), 12, "named by the snapshot");
  assert.equal(m.committedRemoval("n3", 20), undefined, "a voter as of the snapshot");
  assert.equal(m.committedRemoval("n4", 20), undefined, "after the snapshot's index: not its to name");
  assert.equal(m.committedRemoval("n5", 20), undefined, "the history before the snapshot is gone");
  m.restore(["n1", "n2", "n3"], 30);
  assert.equal(m.committedRemoval("n0", 30), undefined, "a snapshot naming none");
});
