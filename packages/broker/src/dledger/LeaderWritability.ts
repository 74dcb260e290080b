import type { RaftNode, Role } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { RaftLogIndex } from "./RaftLogIndex.js";

export interface DLedgerRole {
  /** leader: writable (its no-op committed and everything before it dispatched). */
  role: "leader" | "follower";
  term: number;
  leaderId: string;
}

/** What the writability follows: the replica's core, store and index (undefined before start). */
export interface WritabilityHost {
  node(): RaftNode | undefined;
  store(): MessageStore | undefined;
  index: RaftLogIndex;
  logger: Logger;
  selfId: string;
  brokerName: string;
  /** Tells the broker (DLedgerNode.onRoleChange: register with NameServers at once). */
  emit(r: DLedgerRole): void;
}

/**
 * The replica's role and whether it takes writes. Writes are taken only while this replica is
 * a leader whose no-op entry committed and whose dispatch caught up (DLedger waits the same
 * way); any other time local puts are refused with SERVICE_NOT_AVAILABLE (14, retried
 * elsewhere by clients). Every change of writability is reported (emit).
 */
export class LeaderWritability {
  role: Role = "follower";
  /** Read-only outside: refuse() and check() change it. */
  writable = false;
  private leaderStartIndex = 0;

  constructor(private readonly host: WritabilityHost) {}

  /** The core's role changed (a Ready's soft state). */
  onRole(role: Role): void {
    const node = this.host.node()!;
    const was = this.role;
    this.role = role;
    if (role === "leader" && was !== "leader") {
      // The new term's no-op: writes wait until it commits (all earlier entries are then
      // committed too) and dispatch has caught up, so queue offsets continue correctly.
      this.leaderStartIndex = node.status().lastIndex;
      this.host.logger.info(`dledger: ${this.host.selfId} elected leader of term ${node.status().term}`);
    }
    if (role !== "leader" && this.writable) {
      this.writable = false;
      this.host.store()!.refuseLocalAppends(this.notWritableReason());
      this.host.logger.info(
        `dledger: ${this.host.selfId} is no longer the leader (term ${node.status().term}); sends refused`,
      );
      this.emit();
    } else if (role !== "leader" && was === "leader") {
      this.emit();
    }
  }

  /** A leader becomes writable once its no-op committed and dispatch caught up. */
  check(): void {
    const store = this.host.store()!;
    const index = this.host.index;
    const st = this.host.node()!.status();
    if (st.role !== "leader" || st.transferee) return;
    if (st.commit < this.leaderStartIndex) return;
    const committed = index.endOf(st.commit);
    if (store.maxPhysicalOffset !== index.endOf(index.lastIndex())) return;
    if (store.visibleOffset < committed || store.stats.dispatchBehindBytes > 0) return;
    this.writable = true;
    store.refuseLocalAppends(undefined);
    this.host.logger.info(`dledger: ${this.host.selfId} is the leader of term ${st.term} and takes writes`);
    this.emit();
  }

  /** Stops taking writes: local puts are refused with `reason` (the caller emits). */
  refuse(reason: string): void {
    this.writable = false;
    this.host.store()?.refuseLocalAppends(reason);
  }

  emit(): void {
    const st = this.host.node()!.status();
    try {
      this.host.emit({ role: this.writable ? "leader" : "follower", term: st.term, leaderId: st.leader });
    } catch (err) {
      this.host.logger.error(`dledger: role change handler failed: ${(err as Error).message}`);
    }
  }

  notWritableReason(): string {
    const leader = this.host.node()?.status().leader;
    return `broker ${this.host.brokerName} replica ${this.host.selfId} is not the DLedger leader${leader ? ` (leader: ${leader})` : ""}; send to the leader`;
  }
}
