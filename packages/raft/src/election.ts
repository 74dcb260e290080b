import { majority } from "./progress.js";
import type { RaftNode } from "./raft.js";
import { toldRemoved } from "./removedPeer.js";
import type { Message } from "./types.js";
import { NONE } from "./types.js";

// Leader election: pre-vote, vote, check-quorum leases, campaigns. Plain functions over the
// node's state (no per-call closures), called from RaftNode's tick and step dispatch.

/** Follower / candidate tick: campaign once the randomized election timeout elapses. */
export function tickElection(n: RaftNode): void {
  n.electionElapsed++;
  if (promotable(n) && n.electionElapsed >= n.randomizedElectionTimeout) {
    n.electionElapsed = 0;
    hup(n, false);
  }
}

/** May campaign: a voter, not one that may have forgotten acknowledged entries, nor one a
 *  member told of its committed removal (removedPeer.ts). */
export function promotable(n: RaftNode): boolean {
  return !n.amnesia && n.voters().includes(n.id) && !toldRemoved(n);
}

export function hup(n: RaftNode, transfer: boolean): void {
  if (n.preVote && !transfer) campaignRound(n, "preVote", false);
  else campaignRound(n, "vote", transfer);
}

function campaignRound(n: RaftNode, kind: "preVote" | "vote", transfer: boolean): void {
  if (kind === "preVote") n.becomePreCandidate();
  else n.becomeCandidate();
  const term = kind === "preVote" ? n.term + 1 : n.term;
  n.votes.set(n.id, true);
  if (pollResult(n) === "won") {
    onElectionWon(n);
    return;
  }
  const index = n.log.lastIndex();
  const logTerm = n.log.lastTerm();
  for (const v of n.voters()) {
    if (v === n.id) continue;
    n.send({ type: kind, to: v, term, index, logTerm, ...(transfer ? { transfer: true } : {}) });
  }
}

function onElectionWon(n: RaftNode): void {
  if (n.role === "preCandidate") campaignRound(n, "vote", false);
  else n.becomeLeader();
}

function pollResult(n: RaftNode): "won" | "lost" | "pending" {
  const voters = n.voters();
  const q = majority(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const g = n.votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  if (granted >= q) return "won";
  if (rejected >= q) return "lost";
  return "pending";
}

/** Candidate / pre-candidate: count a (pre-)vote answer of the current round. */
export function receiveVote(n: RaftNode, m: Message): void {
  if ((m.type === "voteResp") !== (n.role === "candidate")) return;
  if (!n.votes.has(m.from)) n.votes.set(m.from, !m.reject);
  const r = pollResult(n);
  if (r === "won") onElectionWon(n);
  else if (r === "lost") n.becomeFollower(n.term, NONE);
}

/** A vote or pre-vote request of our term (a higher one has already moved us to it). */
export function handleVoteRequest(n: RaftNode, m: Message): void {
  const pre = m.type === "preVote";
  // An amnesiac replica grants nothing: its log may lack entries it acknowledged, so its
  // up-to-date check could elect a leader without them (RaftConfig.amnesia).
  const canVote =
    !n.amnesia && (n.vote === m.from || (n.vote === NONE && n.leader === NONE) || (pre && m.term > n.term));
  const respType = pre ? "preVoteResp" : "voteResp";
  if (canVote && n.log.isUpToDate(m.index, m.logTerm)) {
    n.send({ type: respType, to: m.from, term: m.term });
    if (!pre) {
      n.electionElapsed = 0;
      n.vote = m.from;
    }
  } else {
    n.send({ type: respType, to: m.from, reject: true });
  }
}

/** Check-quorum lease: a vote request is ignored while we hear from a live leader, unless it
 *  comes from a leadership transfer. */
export function inLease(n: RaftNode, m: Message): boolean {
  const lease = n.checkQuorum && n.leader !== NONE && n.electionElapsed < n.electionTicks;
  return lease && !m.transfer;
}

/** Check-quorum: the leader heard from a majority (itself included) within the window. */
export function quorumActive(n: RaftNode): boolean {
  let active = 0;
  for (const v of n.voters()) {
    if (v === n.id || n.progress.get(v)?.recentActive) active++;
  }
  return active >= majority(n.voters().length);
}
