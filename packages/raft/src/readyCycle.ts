import { invariant } from "./errors.js";
import type { RaftNode } from "./raft.js";
import { bcastCommit, maybeCommit } from "./replication.js";
import type { HardState, MessageType, Ready, SoftState } from "./types.js";

// The Ready/advance cycle (etcd-raft's design): what the application must persist, send and
// apply, handed out by ready() and reported done by advance(), one Ready at a time or, with
// asyncStorageWrites, as a pipeline.

/** Messages that promise something about durable state are sent only after the Ready is persisted. */
export const AFTER_PERSIST: ReadonlySet<MessageType> = new Set([
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "heartbeatResp",
]);

export interface PendingReady {
  lastEntry?: { index: number; term: number };
  snapshotIndex?: number;
  appliedTo: number;
}

export function hasReady(n: RaftNode): boolean {
  if (n.asyncWrites && n.pending.length > 0 && !canPipeline(n)) return false;
  if (n.msgs.length > 0 || n.msgsAfterPersist.length > 0) return true;
  if (n.log.unstable.hasEntriesNotInProgress() || n.log.unstable.snapshot) return true;
  if (n.log.committed > Math.max(n.log.applied, n.log.applying)) return true;
  if (n.removedBy !== undefined && !n.removedReported) return true;
  if (!sameHard(n.hardState(), n.prevHard)) return true;
  return !sameSoft(n.softState(), n.prevSoft);
}

/** With asynchronous writes, another Ready may be handed out before the earlier ones are
 *  advanced — except around an incoming snapshot, which is written with nothing in flight
 *  and before any later entry. */
function canPipeline(n: RaftNode): boolean {
  return n.asyncWrites && n.log.unstable.snapshot === undefined;
}

export function collectReady(n: RaftNode): Ready {
  invariant(
    n.pending.length === 0 || canPipeline(n),
    n.asyncWrites ? "ready() while a snapshot is being persisted" : "ready() called again before advance()",
  );
  const entries = n.log.unstable.entriesNotInProgress();
  n.log.unstable.acceptInProgress();
  const snapshot = n.log.unstable.snapshot;
  const committedEntries = n.log.nextCommittedEntries(n.maxApplyBytes);
  const hs = n.hardState();
  const ss = n.softState();
  const hardChanged = !sameHard(hs, n.prevHard);
  const mustSync =
    entries.length > 0 ||
    snapshot !== undefined ||
    hs.term !== n.prevHard.term ||
    hs.vote !== n.prevHard.vote;
  const rd: Ready = {
    ...(sameSoft(ss, n.prevSoft) ? {} : { softState: ss }),
    ...(hardChanged ? { hardState: hs } : {}),
    ...(snapshot ? { snapshot } : {}),
    mustSync,
    entries,
    committedEntries,
    messages: n.msgs,
    messagesAfterPersist: n.msgsAfterPersist,
    ...(n.removedBy !== undefined && !n.removedReported
      ? { removed: { index: n.removedBy.index, by: n.removedBy.by } }
      : {}),
  };
  if (n.removedBy !== undefined) n.removedReported = true;
  n.msgs = [];
  n.msgsAfterPersist = [];
  n.prevHard = hs;
  n.prevSoft = ss;
  const last = entries[entries.length - 1];
  const lastApplied = committedEntries[committedEntries.length - 1];
  if (lastApplied) n.log.applying = lastApplied.index;
  n.pending.push({
    ...(last ? { lastEntry: { index: last.index, term: last.term } } : {}),
    ...(snapshot ? { snapshotIndex: snapshot.metadata.index } : {}),
    appliedTo: lastApplied ? lastApplied.index : 0,
  });
  return rd;
}

/** The oldest outstanding Ready is done. The leader counts its own copy of new entries toward
 *  commit only from here on. */
export function advanceReady(n: RaftNode): void {
  const p = n.pending.shift();
  invariant(p !== undefined, "advance() without ready()");
  if (p.snapshotIndex !== undefined) {
    n.log.unstable.stableSnapTo(p.snapshotIndex);
    if (n.log.applied < p.snapshotIndex) n.log.applied = p.snapshotIndex;
  }
  if (p.lastEntry) n.log.unstable.stableTo(p.lastEntry.index, p.lastEntry.term);
  if (p.appliedTo > n.log.applied) n.log.appliedTo(p.appliedTo);
  if (n.role === "leader" && maybeCommit(n)) bcastCommit(n);
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.term === b.term;
}
