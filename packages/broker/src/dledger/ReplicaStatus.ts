import type { HardState, RaftStatus, Role, SoftState } from "@tidemq/raft";

export interface DLedgerReplicaStatus {
  selfId: string;
  role: Role;
  writable: boolean;
  term: number;
  leaderId: string;
  commitIndex: number;
  lastIndex: number;
  committedOffset: number;
  /** Leader only: per peer, the last index it holds and how many entries it lags. */
  peers: { id: string; matchIndex: number; lag: number }[];
  /** Elections this replica started (times it became a candidate) since the process started. */
  elections: number;
  /** Times this replica saw the leader change to another known leader since it started. */
  leaderChanges: number;
  /** ms since the last append/heartbeat from a leader (0 on the leader; -1: none yet). */
  leaderContactAgeMs: number;
  /** > 0: the amnesia mark (dLegerLazyIndexSync) — this replica neither votes nor campaigns
   *  until its durable log reaches past this commit-log offset. */
  amnesiaRecoverTo: number;
  /** An elected leader that takes no writes yet: ms since its election, and why. */
  notWritable?: { ms: number; kind: string; why: string };
}

/** For /metrics (status()): elections started, leader changes seen, last leader message. */
export class LeaderWatch {
  elections = 0;
  leaderChanges = 0;
  lastLeaderContactAt = 0;
  private seenLeader = "";
  private candidateTerm = -1;

  /** An append, heartbeat or snapshot from a leader arrived now. */
  leaderContact(): void {
    this.lastLeaderContactAt = Date.now();
  }

  /** Counts for /metrics: a new candidacy (role candidate, new term) and a new known leader.
   *  `role`: the replica's role before this soft state. */
  noteSoftState(ss: SoftState, role: Role): void {
    if (ss.role === "candidate" && (role !== "candidate" || ss.term !== this.candidateTerm)) this.elections++;
    if (ss.role === "candidate") this.candidateTerm = ss.term;
    if (ss.leader && ss.leader !== this.seenLeader) {
      if (this.seenLeader) this.leaderChanges++;
      this.seenLeader = ss.leader;
    }
  }
}

/** What status() reports, from the core's status (undefined before start) and the replica's. */
export function replicaStatus(r: {
  selfId: string;
  st: RaftStatus | undefined;
  writable: boolean;
  hard: HardState;
  lastIndex: number;
  committedOffset: number;
  watch: LeaderWatch;
  amnesiaRecoverTo: number;
  notWritable?: { ms: number; kind: string; why: string } | undefined;
}): DLedgerReplicaStatus {
  const { st, watch } = r;
  const peers: DLedgerReplicaStatus["peers"] = [];
  if (st && st.role === "leader") {
    for (const id of st.voters) {
      const match = id === r.selfId ? r.lastIndex : (st.progress[id]?.match ?? 0);
      peers.push({ id, matchIndex: match, lag: Math.max(0, st.lastIndex - match) });
    }
  }
  return {
    selfId: r.selfId,
    role: st?.role ?? "follower",
    writable: r.writable,
    term: st?.term ?? r.hard.term,
    leaderId: st?.leader ?? "",
    commitIndex: st?.commit ?? r.hard.commit,
    lastIndex: st?.lastIndex ?? r.lastIndex,
    committedOffset: r.committedOffset,
    peers,
    elections: watch.elections,
    leaderChanges: watch.leaderChanges,
    leaderContactAgeMs:
      st?.role === "leader" ? 0 : watch.lastLeaderContactAt ? Date.now() - watch.lastLeaderContactAt : -1,
    amnesiaRecoverTo: r.amnesiaRecoverTo,
    ...(r.notWritable ? { notWritable: r.notWritable } : {}),
  };
}
