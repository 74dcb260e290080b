import { CompactedError, invariant } from "./errors.js";
import { dropRemoved } from "./membershipChange.js";
import type { Progress } from "./progress.js";
import { quorumIndex } from "./progress.js";
import type { ProposeResult, RaftNode } from "./raft.js";
import { sendSnapshot } from "./snapshot.js";
import type { Entry, Message, NodeId } from "./types.js";
import { NONE } from "./types.js";

// Log replication: the leader's appends (batching, pipelining through each follower's
// Progress), acknowledgements, commit advance and heartbeats; the follower's answers. Plain
// functions over the node's state: this is the hot path, so no closures or objects per message.

// ---------------------------------------------------------------- leader: proposing

export function appendAsLeader(
  n: RaftNode,
  ents: readonly { type: Entry["type"]; data: Uint8Array }[],
): ProposeResult {
  invariant(ents.length > 0, "empty proposal");
  const first = n.log.lastIndex() + 1;
  const term = n.term;
  const entries = ents.map((e, i) => ({ index: first + i, term, type: e.type, data: e.data }));
  n.log.append(entries);
  bcastAppend(n);
  return { firstIndex: first, lastIndex: first + entries.length - 1, term };
}

export function bcastAppend(n: RaftNode): void {
  for (const [id, pr] of n.progress) {
    if (sendAppend(n, id, true) && pr.state === "replicate") sendAppendsWhileOpen(n, id);
  }
}

/** The commit index moved: tell the followers now (empty appends), or, lazily, with the
 *  entries that are waiting for them (the others learn it from their next append/heartbeat). */
export function bcastCommit(n: RaftNode): void {
  if (!n.lazyCommitBroadcast) {
    bcastAppend(n);
    return;
  }
  for (const [id, pr] of n.progress) {
    if (sendAppend(n, id, false) && pr.state === "replicate") sendAppendsWhileOpen(n, id);
  }
}

export function bcastHeartbeat(n: RaftNode): void {
  for (const [id, pr] of n.progress) {
    n.send({ type: "heartbeat", to: id, commit: Math.min(pr.match, n.log.committed) });
  }
}

/** Pipelining: keep sending batches until the window is full or the log is exhausted. */
function sendAppendsWhileOpen(n: RaftNode, to: NodeId): void {
  for (let k = 0; k <= n.maxInflight && sendAppend(n, to, false); k++);
}

/** Send the next batch to `to` if its progress allows; returns whether something was sent. */
export function sendAppend(n: RaftNode, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = n.progress.get(to);
  if (!pr || pr.isPaused()) return false;
  const prev = pr.next - 1;
  const prevTerm = n.log.term(prev);
  let entries: Entry[];
  try {
    if (prevTerm === undefined) throw new CompactedError(prev, n.log.firstIndex());
    entries = n.log.entriesFrom(pr.next, n.maxBytesPerMessage, n.maxEntriesPerMessage);
  } catch (e) {
    if (!(e instanceof CompactedError)) throw e;
    return sendSnapshot(n, to, pr);
  }
  if (entries.length === 0 && !sendIfEmpty) return false;
  n.send({ type: "app", to, index: prev, logTerm: prevTerm, entries, commit: n.log.committed });
  if (entries.length > 0) pr.sentEntries(entries[entries.length - 1]!.index);
  else if (pr.state === "probe") pr.probeSent = true;
  return true;
}

/** Commit what a majority has durably (the leader's own copy counts once advance()d). */
export function maybeCommit(n: RaftNode): boolean {
  const stable = n.log.stableLastIndex();
  const matches = n.voters().map((v) => (v === n.id ? stable : (n.progress.get(v)?.match ?? 0)));
  if (!n.log.maybeCommit(quorumIndex(matches), n.term)) return false;
  n.membership.committedTo(n.log.committed);
  if (!n.voters().includes(n.id) && !n.membership.hasPending()) {
    // Our own removal is committed: stop leading so the remaining voters elect a leader.
    n.becomeFollower(n.term, NONE);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- leader: answers

export function handleAppendRejected(n: RaftNode, m: Message, pr: Progress): void {
  let hint = m.rejectHint;
  if (m.logTerm > 0) hint = n.log.findConflictByTerm(hint, m.logTerm);
  if (m.forgot && m.index <= pr.match) {
    // Not stale: an amnesiac follower lost entries it had acknowledged. Without this it
    // would never be repaired (every later rejection is below match, so ignored).
    pr.forgot(Math.min(m.index, hint + 1));
    sendAppend(n, m.from, true);
    return;
  }
  if (pr.maybeDecrTo(m.index, hint)) {
    if (pr.state === "replicate") pr.becomeProbe();
    sendAppend(n, m.from, true);
  }
}

export function handleAppendAccepted(n: RaftNode, m: Message, pr: Progress): void {
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) {
    if (wasPaused && !pr.isPaused()) sendAppend(n, m.from, false);
    return;
  }
  const removedAt = n.removing.get(m.from);
  if (removedAt !== undefined && pr.match >= removedAt) {
    dropRemoved(n, m.from); // it has the entry that removes it: nothing more to send
    return;
  }
  if (pr.state === "probe") pr.becomeReplicate();
  else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === "replicate") pr.freeInflightsTo(pr.match);
  if (maybeCommit(n)) bcastCommit(n);
  else sendAppendsWhileOpen(n, m.from);
  // A leadership transfer waits for its target to catch up: tell it to campaign now.
  if (n.role === "leader" && m.from === n.transferee && pr.match === n.log.lastIndex()) {
    n.send({ type: "timeoutNow", to: m.from });
  }
}

export function handleHeartbeatResp(n: RaftNode, m: Message, pr: Progress): void {
  pr.probeSent = false;
  // A full window whose answers were lost would stall: free one slot per heartbeat.
  if (pr.state === "replicate" && pr.inflights.length >= pr.maxInflight) pr.inflights.shift();
  if (pr.match < n.log.lastIndex()) sendAppend(n, m.from, true);
}

// ---------------------------------------------------------------- follower

export function handleAppend(n: RaftNode, m: Message): void {
  if (m.index < n.log.committed) {
    n.send({ type: "appResp", to: m.from, index: n.log.committed });
    return;
  }
  const lastNew = n.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    n.send({ type: "appResp", to: m.from, index: lastNew });
    return;
  }
  const hint = n.log.findConflictByTerm(Math.min(m.index, n.log.lastIndex()), m.logTerm);
  n.send({
    type: "appResp",
    to: m.from,
    index: m.index,
    reject: true,
    rejectHint: hint,
    logTerm: n.log.term(hint) ?? 0,
    ...(n.amnesia ? { forgot: true } : {}),
  });
}

export function handleHeartbeat(n: RaftNode, m: Message): void {
  if (m.commit > n.log.lastIndex()) {
    // The leader's match for us predates our loss (an amnesiac replica, or one whose data
    // was wiped or lost: the heartbeat's commit is at most our match, so we had those
    // entries): say so (as a rejection of an append at its commit index), so it probes
    // our log again instead of waiting for a proposal — and never commit past our log.
    const last = n.log.lastIndex();
    n.send({
      type: "appResp",
      to: m.from,
      index: m.commit,
      reject: true,
      rejectHint: last,
      logTerm: n.log.term(last) ?? 0,
      forgot: true,
    });
  } else n.log.commitTo(m.commit);
  n.send({ type: "heartbeatResp", to: m.from });
}
