// Replacing a dead replica by single-server changes, with a new replica that starts from an
// empty log and a wrong idea of the group (its own config file): every config entry names the
// whole voter set, so it ends with the group's membership, and the removed one never campaigns.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeConfigChange, encodeConfigChange, type RaftNode, votersAfter } from "../src/index.js";
import { Net } from "./membershipNet.js";

const enc = new TextEncoder();

test("config entries round-trip in both formats; the full voter set wins over the delta", () => {
  const v1 = decodeConfigChange(encodeConfigChange({ op: "addVoter", node: "n3" }));
  assert.deepEqual(v1, { op: "addVoter", node: "n3" });
  const ctx = enc.encode('{"address":"127.0.0.1:1"}');
  const v2 = decodeConfigChange(
    encodeConfigChange({ op: "removeVoter", node: "n0", voters: ["n1", "n2"], context: ctx }),
  );
  assert.equal(v2.op, "removeVoter");
  assert.equal(v2.node, "n0");
  assert.deepEqual(v2.voters, ["n1", "n2"]);
  assert.deepEqual([...v2.context!], [...ctx]);
  assert.deepEqual(votersAfter(["x"], v2), ["n1", "n2"]);
  assert.deepEqual(votersAfter(["n0", "n1", "n2"], v1), ["n0", "n1", "n2", "n3"]);
  assert.throws(() => decodeConfigChange(new Uint8Array([0x81, 0, 9, 1])), /malformed/);
  assert.throws(() => decodeConfigChange(new Uint8Array([7, 65])), /malformed/);
});

test("a dead voter is removed and an empty replica added: it learns the membership from the log, catches up, can lead; the removed one never campaigns", () => {
  const net = new Net();
  const initial = ["n0", "n1", "n2"];
  for (const id of initial) net.add(id, initial);
  net.nodes.get("n1")!.raft.campaign();
  net.settle();
  const leader = net.nodes.get("n1")!.raft;
  assert.equal(leader.role, "leader");
  for (let i = 0; i < 5; i++) leader.propose([enc.encode(`a${i}`)]);
  net.settle();

  // n0 dies; the others remove it.
  net.down.add("n0");
  leader.proposeConfigChange({ op: "removeVoter", node: "n0" });
  // A second change while the first is uncommitted is refused.
  assert.throws(() => leader.proposeConfigChange({ op: "addVoter", node: "n3" }), /not committed yet/);
  net.settle();
  assert.deepEqual(leader.voters(), ["n1", "n2"]);
  leader.propose([enc.encode("b0")]);
  net.settle();

  // n3 starts empty, its config naming the live members and itself (not the group's initial set).
  const n3 = net.add("n3", ["n1", "n2", "n3"]);
  leader.proposeConfigChange({ op: "addVoter", node: "n3" });
  net.settle();
  leader.propose([enc.encode("c0")]);
  net.settle();
  net.tick(3); // heartbeats carry the commit index
  assert.deepEqual(n3.voters(), ["n1", "n2", "n3"]);
  assert.deepEqual(net.nodes.get("n2")!.raft.voters(), ["n1", "n2", "n3"]);
  assert.equal(n3.status().lastIndex, leader.status().lastIndex);
  assert.equal(n3.status().commit, leader.status().commit);

  // The new replica can lead.
  leader.transferLeadership("n3");
  net.settle();
  assert.equal(n3.role, "leader");
  n3.propose([enc.encode("d0")]);
  net.settle();
  net.tick(3);
  assert.equal(net.nodes.get("n2")!.raft.status().commit, n3.status().lastIndex);

  // n0 comes back with its old log: it missed its removal; its pre-votes cannot disrupt, and
  // the members it asks tell it it was removed (removedWhileDown.test.ts).
  net.down.delete("n0");
  const termBefore = n3.term;
  net.tick(60);
  assert.equal(n3.role, "leader");
  assert.equal(n3.term, termBefore);
  const n0 = net.nodes.get("n0")!.raft;
  assert.notEqual(n0.role, "leader");
});

/** Four voters n0..n3, n0 elected leader. */
function fourWithLeaderN0(): { net: Net; leader: RaftNode } {
  const net = new Net();
  const ids = ["n0", "n1", "n2", "n3"];
  for (const id of ids) net.add(id, ids);
  net.nodes.get("n0")!.raft.campaign();
  net.settle();
  const leader = net.nodes.get("n0")!.raft;
  assert.equal(leader.role, "leader");
  return { net, leader };
}

test("a live voter that is removed gets the entry that removes it and never campaigns; a dead one is forgotten after an election timeout", () => {
  const { net, leader } = fourWithLeaderN0();
  leader.propose([enc.encode("x")]);
  net.settle();

  // n3 is alive: it appends its own removal and stops campaigning.
  leader.proposeConfigChange({ op: "removeVoter", node: "n3" });
  net.settle();
  const n3 = net.nodes.get("n3")!.raft;
  assert.deepEqual(n3.voters(), ["n0", "n1", "n2"]);
  assert.equal(leader.status().progress.n3, undefined, "the leader stops sending once n3 has it");
  net.down.add("n0"); // even with no leader to hear from, n3 stays quiet
  net.tick(60);
  assert.equal(n3.role, "follower");
  assert.equal(n3.term, leader.term);
  net.down.delete("n0");
  net.tick(30);

  // n2 is dead when removed: the leader keeps it only until an election timeout of silence.
  const lead = [...net.nodes.values()].map((n) => n.raft).find((r) => r.role === "leader")!;
  net.down.add("n2");
  lead.proposeConfigChange({ op: "removeVoter", node: "n2" });
  net.settle();
  assert.ok(lead.status().progress.n2, "still tracked right after the removal");
  net.tick(25);
  assert.equal(lead.status().progress.n2, undefined);
  assert.deepEqual(lead.voters(), ["n0", "n1"]);
  assert.throws(() => lead.transferLeadership("n2"), /not a voter/);
});

test("a voter silent for an election timeout (restarting) and removed just as it comes back still gets the entry that removes it", () => {
  const { net, leader } = fourWithLeaderN0();
  net.down.add("n3");
  net.tick(25); // n3 is silent longer than an election timeout: not recently active
  assert.equal(leader.status().progress.n3?.recentActive, false);
  leader.proposeConfigChange({ op: "removeVoter", node: "n3" });
  net.settle();
  net.down.delete("n3"); // back (restarted) right after the removal
  net.tick(3);
  const n3 = net.nodes.get("n3")!.raft;
  assert.deepEqual(n3.voters(), ["n0", "n1", "n2"], "n3 learnt of its removal");
  assert.equal(leader.status().progress.n3, undefined, "then the leader stops sending");
});
