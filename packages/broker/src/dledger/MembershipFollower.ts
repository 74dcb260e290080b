import { type ConfigChange, decodeConfigChange, type RaftNode, type Ready } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { DLedgerPeer } from "./DLedgerPeers.js";
import type { MembershipLog } from "./MembershipLog.js";
import type { RaftTransport } from "./RaftTransport.js";

/** What following the membership touches: the core, the transport (undefined before start). */
export interface MembershipFollowerHost {
  node(): RaftNode | undefined;
  transport(): RaftTransport | undefined;
  members: MembershipLog;
  selfId: string;
  logger: Logger;
  /** DLedgerNode.onMembership: this replica was removed from the group (false) or added (true). */
  onMembership(member: boolean): void;
}

/**
 * The replica's view of the group's membership as the log changes it (MembershipChange.ts
 * proposes the changes; MembershipLog.ts stores them): the transport's peers follow the
 * voters at once, and this replica learns when it is removed from the group.
 */
export class MembershipFollower {
  /** node.voters() as last seen (the core returns a new array when membership changes). */
  private seenVoters: readonly string[] = [];

  constructor(private readonly host: MembershipFollowerHost) {}

  /** The core started with these voters. */
  started(voters: readonly string[]): void {
    this.seenVoters = voters;
  }

  /** Transport peers: the voters, and on a leader the removed ones it still tells of their removal. */
  peers(): DLedgerPeer[] {
    const { members, logger } = this.host;
    const node = this.host.node();
    const out = [];
    const ids = new Set(node?.voters() ?? members.currentVoters());
    for (const id of Object.keys(node?.status().progress ?? {})) ids.add(id);
    for (const id of ids) {
      const p = members.peer(id);
      if (p) out.push(p);
      else if (id !== this.host.selfId) logger.error(`dledger: no address known for member ${id}`);
    }
    return out;
  }

  /** Config entries take effect when appended (thesis §4.1): the transport follows at once. */
  follow(rd: Ready): void {
    const { members, logger } = this.host;
    if (rd.removed) {
      // Down during its removal (for longer than the leader tells a removed replica): a member
      // it asked for votes says the removal is committed. Its own log still names the old group.
      logger.warn(
        `dledger: replica ${this.host.selfId} was removed from the group by config entry ${rd.removed.index} while it was down (told by ${rd.removed.by}): it no longer campaigns or leads; stop this broker (its data is no longer part of the group)`,
      );
      this.host.onMembership(false);
    }
    let last: { index: number; cc: ConfigChange } | undefined;
    for (const e of rd.entries) {
      if (e.type !== "config") continue;
      last = { index: e.index, cc: decodeConfigChange(e.data) };
      members.learn(last.cc);
    }
    const voters = this.host.node()!.voters();
    if (voters === this.seenVoters) return;
    const was = this.seenVoters;
    this.seenVoters = voters;
    this.host.transport()?.setPeers(this.peers());
    logger.info(`dledger: group membership is now ${voters.join(",")} (was ${was.join(",")})`);
    const id = this.host.selfId;
    if (was.includes(id) && !voters.includes(id)) {
      if (last?.cc.op === "removeVoter" && last.cc.node === id) {
        logger.warn(
          `dledger: replica ${id} was removed from the group by config entry ${last.index}: it no longer campaigns or leads; stop this broker (its data is no longer part of the group)`,
        );
        this.host.onMembership(false);
      } else {
        // A new replica catching up through the group's history, before the entry that adds it.
        logger.info(`dledger: replica ${id} is not a member as of entry ${last?.index ?? "?"} (catching up)`);
      }
    } else if (!was.includes(id) && voters.includes(id)) {
      logger.info(`dledger: replica ${id} is a member of the group`);
    }
  }
}
