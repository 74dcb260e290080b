import { quorumActive } from "./election.js";
import { abandonTransfer, maybeTransferToPreferred } from "./leadershipTransfer.js";
import { dropRemoved } from "./membershipChange.js";
import type { RaftNode } from "./raft.js";
import { bcastHeartbeat } from "./replication.js";
import { NONE } from "./types.js";

/** The leader's tick: follower liveness, check-quorum, transfer timeout, heartbeats. */
export function tickLeader(n: RaftNode): void {
  n.heartbeatElapsed++;
  n.electionElapsed++;
  for (const [id, pr] of n.progress) {
    pr.recentActive = ++pr.ticksSinceHeard < n.electionTicks;
    if (!pr.recentActive && n.removing.has(id)) dropRemoved(n, id);
    // A lost InstallSnapshot would otherwise park the follower forever.
    if (pr.state === "snapshot" && ++pr.snapshotTicks >= n.electionTicks) pr.becomeProbe();
  }
  if (n.checkQuorum && !quorumActive(n)) {
    // No second writer (rocketmq#7017): a leader that has not heard from a majority for an
    // election timeout stops leading — by then the others may have elected a new leader.
    n.becomeFollower(n.term, NONE);
    return;
  }
  if (n.preferredBackoff > 0) n.preferredBackoff--;
  if (n.electionElapsed >= n.electionTicks) {
    n.electionElapsed = 0;
    abandonTransfer(n);
  }
  if (n.heartbeatElapsed >= n.heartbeatTicks) {
    n.heartbeatElapsed = 0;
    bcastHeartbeat(n);
    maybeTransferToPreferred(n);
  }
}
