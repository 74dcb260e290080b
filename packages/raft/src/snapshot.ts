import { invariant } from "./errors.js";
import type { Progress } from "./progress.js";
import type { RaftNode } from "./raft.js";
import type { Message, NodeId } from "./types.js";

// InstallSnapshot: the leader ships the application's snapshot to a follower whose next
// entries were compacted away; the follower restores it (or just fast-forwards its commit).

export function sendSnapshot(n: RaftNode, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive) return false; // do not ship a snapshot to a node that may be down
  const snapshot = n.log.storage.snapshot();
  invariant(snapshot.metadata.index >= n.log.firstIndex() - 1, "storage snapshot older than the log");
  pr.becomeSnapshot(snapshot.metadata.index);
  n.send({ type: "snap", to, snapshot });
  return true;
}

export function handleSnapshot(n: RaftNode, m: Message): void {
  const s = m.snapshot;
  invariant(s !== undefined, "snap message without a snapshot");
  const idx = s.metadata.index;
  if (idx <= n.log.committed) {
    n.send({ type: "appResp", to: m.from, index: n.log.committed });
    return;
  }
  if (n.log.matchTerm(idx, s.metadata.term)) {
    // We already have the entries: just fast-forward the commit index.
    n.log.commitTo(idx);
    n.send({ type: "appResp", to: m.from, index: n.log.committed });
    return;
  }
  n.log.restore(s);
  n.membership.restore(s.metadata.voters, idx, s.metadata.removedAt);
  n.send({ type: "appResp", to: m.from, index: n.log.lastIndex() });
}
