import { NotLeaderError, RaftError } from "./errors.js";
import type { RaftNode } from "./raft.js";
import { sendAppend } from "./replication.js";
import type { NodeId } from "./types.js";
import { NONE } from "./types.js";

// Leadership transfer (TimeoutNow, thesis §3.10) and the automatic transfer to a preferred leader.

/** Hand leadership to `to`: stop taking proposals, catch it up, tell it to campaign now.
 *  Gives up after one election timeout. */
export function transferLeadership(n: RaftNode, to: NodeId): void {
  if (n.role !== "leader") throw new NotLeaderError(n.leader);
  if (to === n.id || n.transferee === to) return;
  const pr = n.progress.get(to);
  if (!pr || !n.voters().includes(to)) throw new RaftError(`${to} is not a voter`, false);
  n.transferee = to;
  n.electionElapsed = 0;
  if (pr.match === n.log.lastIndex()) n.send({ type: "timeoutNow", to });
  else sendAppend(n, to, true);
}

/** An election timeout passed on the leader: a transfer that did not finish is abandoned. */
export function abandonTransfer(n: RaftNode): void {
  // To the preferred leader, it is retried only after a few more timeouts of taking
  // proposals: a preferred replica that does not campaign (an amnesiac one waits for new
  // entries to recover) would otherwise have every proposal refused, for ever.
  if (n.transferee !== NONE && n.transferee === n.preferredLeaderId) n.preferredBackoff = 4 * n.electionTicks;
  n.transferee = NONE;
}

export function maybeTransferToPreferred(n: RaftNode): void {
  const p = n.preferredLeaderId;
  if (p === NONE || p === n.id || n.transferee !== NONE || !n.voters().includes(p)) return;
  if (n.preferredBackoff > 0) return;
  const pr = n.progress.get(p);
  if (pr?.recentActive && pr.match === n.log.lastIndex()) transferLeadership(n, p);
}
