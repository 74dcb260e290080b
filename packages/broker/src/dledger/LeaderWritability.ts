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
  /** The commit-log offset the Raft index is durable to (the commit gate's cap). */
  durableIndexEnd(): number;
  /** A leader not writable this long after its election logs one WARN (a few election timeouts). */
  stallWarnMs: number;
}

/** Why an elected leader does not take writes yet: a short kind (a metrics label) and the words. */
export interface NotWritable {
  kind: "transfer" | "term_start_uncommitted" | "index_sync" | "applying";
  why: string;
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
  /** When this replica last became leader (ms), and why it is not writable yet (leader only). */
  private electedAt = 0;
  blockedBy: NotWritable | undefined;
  private stallWarned = false;

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
      this.electedAt = Date.now();
      this.stallWarned = false;
      this.blockedBy = undefined;
      this.host.logger.info(`dledger: ${this.host.selfId} elected leader of term ${node.status().term}`);
    }
    if (role !== "leader") this.blockedBy = undefined;
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
    const st = this.host.node()!.status();
    if (st.role !== "leader") return;
    const blocked = this.notWritableYet(st);
    if (blocked) {
      this.blockedBy = blocked;
      this.warnIfStalled(blocked);
      return;
    }
    const store = this.host.store()!;
    if (this.stallWarned) {
      this.host.logger.warn(
        `dledger: ${this.host.selfId} takes writes ${Math.round((Date.now() - this.electedAt) / 1000)} s after its election (term ${st.term})`,
      );
    }
    this.blockedBy = undefined;
    this.writable = true;
    store.refuseLocalAppends(undefined);
    this.host.logger.info(`dledger: ${this.host.selfId} is the leader of term ${st.term} and takes writes`);
    this.emit();
  }

  /** What keeps an elected leader from taking writes (undefined: nothing). */
  private notWritableYet(st: ReturnType<RaftNode["status"]>): NotWritable | undefined {
    const store = this.host.store()!;
    const index = this.host.index;
    if (st.transferee) return { kind: "transfer", why: `leadership transfer to ${st.transferee} under way` };
    if (st.commit < this.leaderStartIndex) {
      const acks = Object.entries(st.progress)
        .filter(([id]) => id !== this.host.selfId)
        .map(([id, p]) => `${id} holds ${p.match}`)
        .join(", ");
      return {
        kind: "term_start_uncommitted",
        why: `entry ${this.leaderStartIndex} of its term (term ${st.term}) is not committed: commit index ${st.commit}${acks ? `, ${acks}` : ""} (no majority has it on disk)`,
      };
    }
    const indexEnd = index.endOf(index.lastIndex());
    if (store.maxPhysicalOffset !== indexEnd) {
      return {
        kind: "index_sync",
        why: `its commit log ends at ${store.maxPhysicalOffset} but its Raft index at ${indexEnd} (index sync)`,
      };
    }
    const committed = index.endOf(st.commit);
    if (store.visibleOffset < committed || store.stats.dispatchBehindBytes > 0) {
      const durable = this.host.durableIndexEnd();
      const gate =
        durable < committed
          ? `the commit gate waits for its Raft index, durable only to ${durable}`
          : `dispatch ${store.stats.dispatchBehindBytes} bytes behind`;
      return {
        kind: "applying",
        why: `applying: committed to offset ${committed}, visible to consumers up to ${store.visibleOffset} (${gate})`,
      };
    }
    return undefined;
  }

  /** One WARN per election when the leader stays unwritable past stallWarnMs. */
  private warnIfStalled(b: NotWritable): void {
    if (this.stallWarned || Date.now() - this.electedAt < this.host.stallWarnMs) return;
    this.stallWarned = true;
    this.host.logger.warn(
      `dledger: ${this.host.selfId} was elected leader ${Math.round((Date.now() - this.electedAt) / 1000)} s ago and still takes no writes: ${b.why}`,
    );
  }

  /** Leader not writable yet: for how long since its election, and why (status, clusterList). */
  notWritableStatus(): { ms: number; kind: NotWritable["kind"]; why: string } | undefined {
    // The core's role too: a step-down may not have reached onRole yet (a Ready in flight).
    if (this.role !== "leader" || this.writable || !this.blockedBy) return undefined;
    if (this.host.node()?.status().role !== "leader") return undefined;
    return { ms: Date.now() - this.electedAt, ...this.blockedBy };
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
