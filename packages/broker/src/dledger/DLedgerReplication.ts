import { createResponse, RequestCode, ResponseCode } from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { SlaveSynchronize } from "../ha/SlaveSynchronize.js";
import type { DLedgerNode, DLedgerRole } from "./DLedgerNode.js";
import { followerBrokerId } from "./DLedgerPeers.js";
import { DLEDGER_ADD_PEER, DLEDGER_REMOVE_PEER, MembershipChange } from "./MembershipChange.js";

/** Followers copy the leader's topics, subscription groups and consumer offsets this often. */
export const DLEDGER_METADATA_SYNC_MS = 1000;
/** A follower re-registers this often, so it learns a new leader's address (for metadata sync) fast. */
const FOLLOWER_REGISTER_MS = 3000;
/** Exit code of a broker whose DLedger replica gave up (EX_TEMPFAIL: a supervisor restarts it). */
export const DLEDGER_FATAL_EXIT_CODE = 75;
/** Admin request (DLedger's LEADERSHIP_TRANSFER code): extFields.selfId = the replica to hand leadership to. */
export const DLEDGER_TRANSFER_LEADER = 51005;

/**
 * The broker side of a DLedger group: maps Raft roles to what clients see. The leader (once
 * writable) is brokerId 0 with role SYNC_MASTER; every other replica is a SLAVE with brokerId
 * selfId+1 that refuses sends with 14. Every role change re-registers with the NameServers at
 * once. Followers copy the leader's metadata every second (the leader's address comes from
 * the NameServers' answer to their registration).
 */
export class DLedgerReplication {
  private sync: SlaveSynchronize | undefined;
  private registerTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Registers with the NameServers now. */
  registerNow: () => void = () => {};
  /** Unregisters from the NameServers for good (this replica was removed from the group). */
  unregister: () => Promise<void> = async () => {};
  private removed = false;
  /**
   * Followers copy the leader's metadata every DLEDGER_METADATA_SYNC_MS. Off when the
   * metadata is replicated through the log (ReplicatedMetadata).
   */
  copyMetadataFromLeader = true;
  /** Runs before a leadership transfer starts (the leader writes its last metadata batch). */
  beforeTransfer: (() => Promise<void>) | undefined;
  /**
   * The replica's Raft loop gave up (an error it cannot recover from, e.g. its disk failing).
   * Staying up would leave a broker that looks alive but is out of the group — the next fault
   * elsewhere then leaves no majority. So by default the process exits at once with
   * DLEDGER_FATAL_EXIT_CODE, as after a crash (a restart recovers the store and catches up from
   * the leader; nothing acknowledged depends on this replica's unsynced state). Embedders may
   * replace it.
   */
  onFatal: (err: Error) => void = (err) => {
    this.ctx.logger.error(
      `FATAL: DLedger replica ${this.node.self.id} of ${this.ctx.config.brokerName} gave up (${err.message}); exiting with code ${DLEDGER_FATAL_EXIT_CODE} so a supervisor restarts it (a restart recovers the store and catches up from the leader)`,
    );
    process.exit(DLEDGER_FATAL_EXIT_CODE);
  };
  /** Observers of role changes (after the broker switched brokerId/role and re-registered). */
  readonly roleListeners = new Set<(r: DLedgerRole) => void>();

  constructor(
    private readonly ctx: BrokerContext,
    private readonly remoting: RemotingClient,
    readonly node: DLedgerNode,
  ) {
    this.applyRole({ role: "follower", term: 0, leaderId: "" });
  }

  async start(store: MessageStore): Promise<void> {
    const { server, offsets } = this.ctx;
    server.registerHandler(RequestCode.GET_ALL_CONSUMER_OFFSET, (request) =>
      createResponse(
        request,
        ResponseCode.SUCCESS,
        undefined,
        undefined,
        Buffer.from(offsets.encode(), "utf8"),
      ),
    );
    server.registerHandler(DLEDGER_TRANSFER_LEADER, async (request) => {
      const to = request.extFields?.selfId ?? "";
      try {
        if (this.node.isWritable && to !== this.node.self.id) await this.beforeTransfer?.();
        this.node.transferLeadership(to);
      } catch (err) {
        return createResponse(request, ResponseCode.SYSTEM_ERROR, (err as Error).message);
      }
      return createResponse(request, ResponseCode.SUCCESS, `leadership transfer to ${to} started`);
    });
    const membership = new MembershipChange(this.node, store);
    server.registerHandler(DLEDGER_ADD_PEER, (request) => membership.handle(request));
    server.registerHandler(DLEDGER_REMOVE_PEER, (request) => membership.handle(request));
    this.ctx.runtimeInfoExtras = () => {
      const st = this.node.status();
      const out: Record<string, string> = {
        dLegerSelfId: st.selfId,
        dLegerRole: st.writable
          ? "LEADER"
          : st.role === "leader"
            ? "LEADER_NOT_READY"
            : st.role.toUpperCase(),
        dLegerTerm: String(st.term),
        dLegerLeaderId: st.leaderId,
        dLegerCommitIndex: String(st.commitIndex),
        dLegerLastIndex: String(st.lastIndex),
        dLegerMembers: this.node.voters().join(","),
      };
      if (st.amnesiaRecoverTo > 0) out.dLegerAmnesiaRecoverTo = String(st.amnesiaRecoverTo);
      if (st.notWritable) {
        out.dLegerNotWritableMs = String(st.notWritable.ms);
        out.dLegerNotWritableWhy = st.notWritable.why;
      }
      if (st.peers.length > 0) out.dLegerPeerLag = st.peers.map((p) => `${p.id}:${p.lag}`).join(";");
      return out;
    };
    this.node.onRoleChange = (r) => this.applyRole(r);
    this.node.onFatal = (err) => this.onFatal(err);
    this.node.onMembership = (member) => {
      if (member || this.removed) return;
      // Out of the group: clients must not be sent here (read/write splitting) any more.
      this.removed = true;
      this.ctx.logger.warn(
        `dledger: ${this.node.self.id} unregisters from the NameServers (removed from the group; restart it to register again)`,
      );
      void this.unregister().catch(() => undefined);
    };
    await this.node.start(store);
    this.registerTimer = setInterval(() => {
      if (!this.node.isWritable && !this.removed) this.registerNow();
    }, FOLLOWER_REGISTER_MS);
    this.registerTimer.unref();
  }

  private applyRole(r: DLedgerRole): void {
    const { config, logger } = this.ctx;
    if (r.role === "leader") {
      config.brokerId = 0;
      config.brokerRole = "SYNC_MASTER";
      const sync = this.sync;
      this.sync = undefined;
      void sync?.stop();
    } else {
      config.brokerId = followerBrokerId(config.dLegerSelfId, this.node.peers);
      config.brokerRole = "SLAVE";
      if (!this.sync && !this.stopped && this.ctx.server && this.copyMetadataFromLeader) {
        this.sync = new SlaveSynchronize({
          client: this.remoting,
          logger,
          topics: this.ctx.topics,
          groups: this.ctx.subscriptionGroups,
          offsets: this.ctx.offsets,
          intervalMs: DLEDGER_METADATA_SYNC_MS,
          selfAddr: this.ctx.brokerAddr,
        });
        this.sync.start();
      }
    }
    logger.info(`dledger: registering as brokerId ${config.brokerId} (${config.brokerRole}, term ${r.term})`);
    this.registerNow();
    for (const l of this.roleListeners ?? []) l(r);
  }

  haServerAddr(brokerIP: string): string {
    return `${brokerIP}:0`;
  }

  /** A NameServer answered a follower's registration with the leader's address. */
  onMasterInfo(masterAddr: string | undefined, _haServerAddr?: string): void {
    this.sync?.setMasterAddr(masterAddr);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.registerTimer) clearInterval(this.registerTimer);
    await this.sync?.stop();
    await this.node.stop();
  }
}
