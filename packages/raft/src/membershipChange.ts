import { applyConfigChange, type ConfigChange, encodeConfigChange } from "./configChange.js";
import { ProposalDroppedError, RaftError } from "./errors.js";
import { Progress } from "./progress.js";
import type { ProposeResult, RaftNode } from "./raft.js";
import { appendAsLeader } from "./replication.js";
import type { NodeId } from "./types.js";

// The leader's side of single-server membership changes: proposing one, and keeping the
// followers' Progress in step with the voters (Membership tracks the configuration itself).

/** Add or remove one voter. Refused while another change is uncommitted, and until the
 *  leader has committed an entry of its own term (the single-server-change fix, thesis §4.1). */
export function proposeConfigChange(n: RaftNode, cc: ConfigChange): ProposeResult {
  if (n.pendingConfIndex > n.log.committed) {
    throw new ProposalDroppedError(`membership change at ${n.pendingConfIndex} not committed yet`, true);
  }
  if (n.log.term(n.log.committed) !== n.term) {
    throw new ProposalDroppedError("leader has not committed an entry of its term yet", true);
  }
  const voters = n.voters();
  if (cc.op === "addVoter" && voters.includes(cc.node)) {
    throw new RaftError(`${cc.node} is already a voter`, false);
  }
  if (cc.op === "removeVoter" && (!voters.includes(cc.node) || voters.length === 1)) {
    throw new RaftError(`cannot remove ${cc.node} from voters ${voters.join(",")}`, false);
  }
  // The entry names the resulting voters too (see ConfigChange.voters).
  const full: ConfigChange = { ...cc, voters: applyConfigChange(voters, cc) };
  const r = appendAsLeader(n, [{ type: "config", data: encodeConfigChange(full) }]);
  n.pendingConfIndex = r.lastIndex;
  return r;
}

/** The voters changed (a config entry was appended, or we became leader): removed voters go
 *  to `removing`, new ones get a Progress. */
export function syncProgress(n: RaftNode): void {
  const voters = n.voters();
  for (const id of [...n.progress.keys()]) {
    if (voters.includes(id)) n.removing.delete(id);
    else if (!n.removing.has(id)) {
      n.removing.set(id, n.membership.lastPendingIndex() || n.log.lastIndex());
      // A removed peer is told of its removal for an election timeout FROM NOW, not from when it
      // last answered: one restarted just before (silent while down) would otherwise be dropped
      // at the next tick, never get the entry, and stay registered and serving as a member.
      n.progress.get(id)!.heardFrom();
    }
  }
  for (const v of voters) {
    if (v === n.id || n.progress.has(v)) continue;
    const pr = new Progress(n.log.lastIndex() + 1, n.maxInflight);
    n.progress.set(v, pr);
  }
}

export function dropRemoved(n: RaftNode, id: NodeId): void {
  n.removing.delete(id);
  n.progress.delete(id);
}
