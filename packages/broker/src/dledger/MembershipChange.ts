import { createResponse, type RemotingCommand, ResponseCode } from "@tidemq/protocol";
import { ProposalDroppedError, RaftError } from "@tidemq/raft";
import type { MessageStore } from "@tidemq/store";
import type { DLedgerNode } from "./DLedgerNode.js";
import { encodeMembershipContext, parsePeerAddress } from "./MembershipLog.js";

/** Admin requests (TideMQ codes next to DLedger's LEADERSHIP_TRANSFER 51005). */
export const DLEDGER_ADD_PEER = 51006;
export const DLEDGER_REMOVE_PEER = 51007;
/** How long the leader waits for a change's config entry to commit before answering. */
export const MEMBERSHIP_COMMIT_TIMEOUT_MS = 10_000;

export class MembershipChangeError extends Error {
  override readonly name = "MembershipChangeError";
}

export interface AddPeerCheck {
  id: string;
  address: string;
  selfId: string;
  role: string;
  leaderId: string;
  voters: readonly string[];
  /** First commit-log offset the leader still holds (retention deletes below it). */
  commitLogMinOffset: number;
  /** Ids removed from the group (and not added back), with the config entry that removed each. */
  removed?: Readonly<Record<string, number>>;
}

/**
 * Checks an addDLedgerPeer request before anything is proposed; returns the parsed address.
 * A new replica starts empty; if retention deleted the start of the leader's commit log it
 * gets a snapshot (SnapshotInstall.ts) and begins at the leader's oldest data.
 */
export function checkAddPeer(c: AddPeerCheck): { host: string; port: number } {
  checkLeader(c.selfId, c.role, c.leaderId);
  if (!/^[A-Za-z0-9_.]+$/.test(c.id)) {
    throw new MembershipChangeError(`invalid replica id "${c.id}" (letters, digits, _ and . only, e.g. n3)`);
  }
  const p = parsePeerAddress(c.id, c.address);
  if (!p)
    throw new MembershipChangeError(`invalid address "${c.address}" (expected host:port of its Raft port)`);
  if (c.voters.includes(c.id)) {
    throw new MembershipChangeError(`${c.id} is already a member of the group (${c.voters.join(",")})`);
  }
  // A replica that learns of its own removal (live, or told when it comes back) stops and
  // unregisters for good, and one catching up through this group's history meets that removal
  // too: under the same id a replacement would end up out of the group without a word.
  const removedBy = c.removed?.[c.id];
  if (removedBy !== undefined) {
    throw new MembershipChangeError(
      `${c.id} was removed from the group by config entry ${removedBy}; a replica reusing its id would take that removal as its own and stay out of the group: add the replacement under a new id`,
    );
  }
  return { host: p.host, port: p.port };
}

export function checkRemovePeer(c: {
  id: string;
  selfId: string;
  role: string;
  leaderId: string;
  voters: readonly string[];
}): void {
  checkLeader(c.selfId, c.role, c.leaderId);
  if (!c.voters.includes(c.id)) {
    throw new MembershipChangeError(`${c.id} is not a member of the group (${c.voters.join(",")})`);
  }
  if (c.id === c.selfId) {
    throw new MembershipChangeError(
      `${c.id} is the leader: transfer leadership first (tidemq admin transferLeader), then remove it from the new leader`,
    );
  }
  if (c.voters.length <= 1) throw new MembershipChangeError("cannot remove the last member of the group");
}

function checkLeader(selfId: string, role: string, leaderId: string): void {
  if (role !== "leader") {
    throw new MembershipChangeError(
      `${selfId} is not the leader (leader: ${leaderId || "unknown"}); membership changes go to the leader`,
    );
  }
}

/** Maps the core's refusals to the operator's words. */
export function explain(err: unknown): string {
  if (err instanceof ProposalDroppedError && /not committed yet/.test(err.message)) {
    return `another membership change is not committed yet (${err.message}); one change at a time: wait for it (clusterList), then retry`;
  }
  if (err instanceof RaftError || err instanceof MembershipChangeError) return err.message;
  return (err as Error).message;
}

/**
 * Serves addDLedgerPeer / removeDLedgerPeer on the leader: one single-server change through
 * the Raft log as a config entry, answered once it commits (or with an error saying it may
 * still commit).
 */
export class MembershipChange {
  constructor(
    private readonly node: DLedgerNode,
    private readonly store: MessageStore,
    private readonly timeoutMs = MEMBERSHIP_COMMIT_TIMEOUT_MS,
  ) {}

  async add(id: string, address: string): Promise<string> {
    const st = this.node.status();
    const voters = this.node.voters();
    const p = checkAddPeer({
      id,
      address,
      selfId: st.selfId,
      role: st.role,
      leaderId: st.leaderId,
      voters,
      commitLogMinOffset: this.store.stats.commitLogMinOffset,
      removed: this.node.members.removedIds(),
    });
    const after = [...voters, id].sort();
    const peers: Record<string, string> = {};
    for (const v of after) {
      const known = v === id ? p : this.node.members.peer(v);
      if (known) peers[v] = `${known.host}:${known.port}`;
    }
    const context = encodeMembershipContext({ address: `${p.host}:${p.port}`, peers });
    return this.run({ op: "addVoter", node: id, context }, `${id} (${p.host}:${p.port}) added`);
  }

  async remove(id: string): Promise<string> {
    const st = this.node.status();
    const voters = this.node.voters();
    checkRemovePeer({ id, selfId: st.selfId, role: st.role, leaderId: st.leaderId, voters });
    const peers: Record<string, string> = {};
    for (const v of voters) {
      const known = this.node.members.peer(v);
      if (known && v !== id) peers[v] = `${known.host}:${known.port}`;
    }
    return this.run(
      { op: "removeVoter", node: id, context: encodeMembershipContext({ peers }) },
      `${id} removed`,
    );
  }

  private async run(
    cc: { op: "addVoter" | "removeVoter"; node: string; context: Uint8Array },
    done: string,
  ): Promise<string> {
    let at: { index: number; term: number };
    try {
      at = this.node.proposeConfigChange(cc);
    } catch (err) {
      throw new MembershipChangeError(explain(err));
    }
    if (!(await this.node.whenCommitted(at.index, at.term, this.timeoutMs))) {
      throw new MembershipChangeError(
        `the membership change (config entry ${at.index}, term ${at.term}) did not commit within ${this.timeoutMs} ms; it may still take effect — check clusterList before another change`,
      );
    }
    return `${done}: config entry ${at.index} committed; members now ${this.node.voters().join(",")}`;
  }

  /** Request handlers (extFields: selfId, and address for an add). */
  async handle(request: RemotingCommand): Promise<RemotingCommand> {
    const id = request.extFields?.selfId ?? "";
    try {
      const remark =
        request.code === DLEDGER_ADD_PEER
          ? await this.add(id, request.extFields?.address ?? "")
          : await this.remove(id);
      return createResponse(request, ResponseCode.SUCCESS, remark);
    } catch (err) {
      return createResponse(request, ResponseCode.SYSTEM_ERROR, explain(err));
    }
  }
}
