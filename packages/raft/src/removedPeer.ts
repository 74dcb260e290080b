import type { RaftNode } from "./raft.js";
import type { Message } from "./types.js";
import { NONE } from "./types.js";

// A replica removed from the group while it was down comes back on its old log as a voter of
// its old configuration: nobody sends it anything (the leader told removed peers of their
// removal only for an election timeout, membershipChange.ts), so it would campaign forever —
// and its application (the broker) would keep acting as a member. The members it asks for
// votes tell it instead, and only when their log shows its removal COMMITTED: a pending one
// may still be truncated away, and a replica that is merely behind is still a voter.

/** A (pre-)vote request from a peer whose removal we have committed and whose log lacks the
 *  entry that removed it: answer "you are removed" and ignore the request (it changes neither
 *  our term nor our vote). Returns whether the message was handled so. */
export function tellIfRemoved(n: RaftNode, m: Message): boolean {
  if (m.type !== "vote" && m.type !== "preVote") return false;
  const at = n.membership.committedRemoval(m.from, n.log.committed);
  if (at === undefined) return false;
  const term = n.log.term(at);
  // Terms never decrease along a log, so a last entry (m.index, m.logTerm) before the removal
  // entry, or of a lower term than it, means the candidate's log does not hold it. (One that
  // holds it knows its membership from its own log.)
  const lacks = m.index < at || (term !== undefined && m.logTerm < term);
  if (!lacks) return false;
  n.send({
    type: m.type === "vote" ? "voteResp" : "preVoteResp",
    to: m.from,
    reject: true,
    removed: true,
    index: at,
    logTerm: term ?? 0,
  });
  return true;
}

/** A member answered our (pre-)vote request with "you are removed" (config entry at m.index,
 *  of term m.logTerm, committed): stop campaigning until our log holds that entry (then the
 *  log's membership decides again, e.g. if we are added back). */
export function learnRemoved(n: RaftNode, m: Message): void {
  if (n.removedBy !== undefined || n.log.term(m.index) === m.logTerm) return;
  n.removedBy = { index: m.index, term: m.logTerm, by: m.from };
  if (n.role === "preCandidate" || n.role === "candidate") n.becomeFollower(n.term, NONE);
}

/** Told removed by a member, and our log does not hold the entry that removed us yet. */
export function toldRemoved(n: RaftNode): boolean {
  const r = n.removedBy;
  if (r === undefined) return false;
  if (n.log.term(r.index) === r.term) {
    n.removedBy = undefined; // our own log now says who the voters are
    return false;
  }
  return true;
}
