import { RaftNode } from "../raft.js";
import type { Entry, Message, NodeId, Ready } from "../types.js";
import { entryKey, InvariantViolation, type SafetyChecker } from "./checker.js";
import { byteEnd, SimDisk } from "./disk.js";
import type { SimRandom } from "./simRandom.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface ReplicaOptions {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxEntriesPerMessage: number;
  readonly maxInflightMessages: number;
  /** Snapshot + compact after this many applied entries (0: never). */
  readonly compactEvery: number;
  readonly preferredLeaderId?: NodeId;
  /** Probability of a crash at each crash point of Ready handling. */
  readonly crashInReadyRate: number;
  /** The core's asyncStorageWrites: up to PIPELINE_DEPTH Readies written and not yet fsynced,
   *  completed in order (a leader sends new entries while its previous write is in flight). */
  readonly asyncStorageWrites?: boolean;
  /** The core's lazyCommitBroadcast. */
  readonly lazyCommitBroadcast?: boolean;
  /**
   * DLedger's acknowledgement rule: an entry is acknowledged once its bytes are durable, its
   * Raft index record is synced later (SimDisk.indexLag) — except for a Ready that truncates,
   * installs a snapshot or holds an entry without bytes (no-op, config): those wait for the
   * index (a lost record of a byteless entry would leave no trace for the amnesia mark). A
   * crash may then forget acknowledged entries; the replica restarts amnesiac.
   */
  readonly indexLag?: boolean;
  /** Test only: restart without honouring the amnesia mark (shows the checker catches it). */
  readonly ignoreAmnesia?: boolean;
}

/** Readies in flight at once with asynchronous storage writes. */
const PIPELINE_DEPTH = 4;

/** A client write the replica accepted as leader, waiting to see it applied. */
interface PendingProposal {
  readonly index: number;
  readonly term: number;
  readonly value: string;
}

/**
 * One simulated replica: the Raft core, a crashable disk, and the replicated state machine —
 * an append-only list of the values of applied entries (a message log, like the broker's).
 */
export class SimReplica {
  raft: RaftNode | undefined;
  readonly disk: SimDisk;
  /** The state machine: value of each applied index (snapshot-restored entries included). */
  private sm: string[] = [];
  private smBase = 0;
  private pending: PendingProposal[] = [];
  crashes = 0;
  /** Probability that a Ready's fsync completes only some steps later. */
  slowDiskRate = 0;
  private inFlight: { raft: RaftNode; rd: Ready; syncAt: number; indexSync: boolean } | undefined;
  /** asyncStorageWrites: Readies written (in this order), waiting for their fsync. */
  private pipeline: { raft: RaftNode; rd: Ready; syncAt: number; indexSync: boolean }[] = [];
  private commitSeen = 0;
  /** Probability of a crash at each crash point of Ready handling (0 once faults heal). */
  crashInReadyRate: number;

  constructor(
    readonly id: NodeId,
    voters: readonly NodeId[],
    private readonly opts: ReplicaOptions,
    private readonly rnd: SimRandom,
    private readonly checker: SafetyChecker,
    private readonly send: (m: Message) => void,
    private readonly onAck: (value: string, index: number) => void,
    private readonly onApply: (e: Entry) => void = () => {},
    /** The leader's commit index moved over (from, to] under this configuration. */
    private readonly onLeaderCommit: (
      from: number,
      to: number,
      termAt: (i: number) => number | undefined,
      voters: readonly NodeId[],
    ) => void = () => {},
  ) {
    this.disk = new SimDisk(voters);
    this.disk.indexLag = opts.indexLag ?? false;
    this.crashInReadyRate = opts.crashInReadyRate;
    this.start();
  }

  get up(): boolean {
    return this.raft !== undefined;
  }

  lastApplied(): number {
    return this.smBase + this.sm.length;
  }

  valueAt(index: number): string | undefined {
    return index > this.smBase ? this.sm[index - this.smBase - 1] : undefined;
  }

  /** (Re)start from the disk: the state machine is rebuilt from the snapshot, then the log. */
  start(): void {
    const snap = this.disk.live.snapshot();
    this.restoreStateMachine(snap.data, snap.metadata.index);
    this.pending = [];
    this.commitSeen = Number.MAX_SAFE_INTEGER; // set by the first observation
    this.raft = new RaftNode({
      id: this.id,
      storage: this.disk.live,
      random: this.rnd.fork(),
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      maxEntriesPerMessage: this.opts.maxEntriesPerMessage,
      maxInflightMessages: this.opts.maxInflightMessages,
      applied: snap.metadata.index,
      asyncStorageWrites: this.opts.asyncStorageWrites ?? false,
      lazyCommitBroadcast: this.opts.lazyCommitBroadcast ?? false,
      amnesia: this.disk.mark > 0 && !this.opts.ignoreAmnesia,
      ...(this.opts.preferredLeaderId ? { preferredLeaderId: this.opts.preferredLeaderId } : {}),
    });
  }

  /** Deliver a message; report a commit it caused on a leader. */
  step(m: Message): void {
    const raft = this.raft!;
    raft.step(m);
    this.observeCommit(raft);
  }

  private observeCommit(raft: RaftNode): void {
    const c = raft.log.committed;
    if (raft.role === "leader" && c > this.commitSeen) {
      this.onLeaderCommit(this.commitSeen, c, (i) => raft.log.term(i), raft.voters());
    }
    this.commitSeen = c;
  }

  crash(): void {
    this.raft = undefined;
    this.inFlight = undefined;
    this.pipeline = [];
    this.disk.crash(this.rnd);
    this.crashes++;
  }

  propose(value: string): boolean {
    const r = this.raft;
    if (r?.role !== "leader") return false;
    try {
      const { firstIndex, term } = r.propose([enc.encode(value)]);
      this.pending.push({ index: firstIndex, term, value });
      return true;
    } catch {
      return false; // NotLeader / transfer in progress: the client would retry elsewhere
    }
  }

  /** Handle every Ready, with a chance of crashing between its steps. Returns false on crash. */
  /**
   * Handle Readies, with a chance of crashing between their steps. With a slow disk the fsync
   * completes only at a later step; the core keeps taking messages and ticks meanwhile (that is
   * allowed between ready() and advance()). Returns false if the replica crashed.
   */
  processReady(now = 0): boolean {
    // The index's own group commit, off the acknowledgement path: done at a random later step.
    if (this.disk.indexLag && this.raft && this.rnd.chance(0.3)) this.syncIndex();
    if (this.opts.asyncStorageWrites) return this.processReadyPipelined(now);
    for (let k = 0; k < 64 && this.raft; k++) {
      const f = this.inFlight;
      if (f) {
        if (now < f.syncAt) return true;
        this.inFlight = undefined;
        if (!this.finishReady(f.raft, f.rd, f.indexSync)) return false;
        continue;
      }
      if (!this.raft.hasReady()) return true;
      const raft = this.raft;
      const rd = raft.ready();
      const indexSync = this.needsIndexSync(rd);
      if (!this.startReady(raft, rd)) return false;
      const slow = this.rnd.chance(this.slowDiskRate);
      if (slow) this.inFlight = { raft, rd, syncAt: now + 1 + this.rnd.int(3), indexSync };
      else if (!this.finishReady(raft, rd, indexSync)) return false;
    }
    return true;
  }

  /**
   * asyncStorageWrites: collect and write every Ready the core offers (up to PIPELINE_DEPTH in
   * flight; messages sent at once), and complete them strictly in order as their fsyncs finish —
   * now, or at a later step. A crash can strike between any write and its fsync with several
   * Readies unsynced; the disk then keeps a random prefix of them (the last maybe torn).
   */
  private processReadyPipelined(now: number): boolean {
    for (let k = 0; k < 64 && this.raft; k++) {
      let progressed = false;
      while (this.raft && this.pipeline.length < PIPELINE_DEPTH && this.raft.hasReady()) {
        const raft = this.raft;
        const rd = raft.ready();
        const indexSync = this.needsIndexSync(rd);
        if (!this.startReady(raft, rd)) return false;
        const delay = this.pipelineDelay();
        this.pipeline.push({ raft, rd, syncAt: now + delay, indexSync });
        progressed = true;
      }
      const head = this.pipeline[0];
      if (head && now >= head.syncAt) {
        this.pipeline.shift();
        if (!this.finishReady(head.raft, head.rd, head.indexSync)) return false;
        progressed = true;
      }
      if (!progressed) return true;
    }
    return true;
  }

  /** Steps until a pipelined Ready's fsync completes: now or next step; on a slow disk 1-3
   *  steps, and (during chaos) sometimes a stall of 5-24 steps, so that elections, conflicting
   *  appends and snapshots arrive while earlier writes are still in flight. */
  private pipelineDelay(): number {
    if (!this.rnd.chance(this.slowDiskRate)) return this.rnd.int(2);
    if (this.crashInReadyRate > 0 && this.rnd.chance(0.1)) return 5 + this.rnd.int(20);
    return 1 + this.rnd.int(3);
  }

  private crashNow(): boolean {
    if (!this.rnd.chance(this.crashInReadyRate)) return false;
    this.crash();
    return true;
  }

  /** Check, send what may go early, write (not yet durable). */
  private startReady(raft: RaftNode, rd: Ready): boolean {
    if (rd.softState?.role === "leader") {
      this.checker.leaderElected(this.id, raft.term, (i) => raft.log.term(i), raft.log.firstIndex());
    }
    if (raft.role === "leader" && rd.committedEntries.length > 0)
      this.checker.committedBy(raft.term, rd.committedEntries);
    for (const m of rd.messages) this.send(m); // allowed before persisting
    if (this.crashNow()) return false;
    if (rd.snapshot) this.disk.write({ kind: "snapshot", snapshot: rd.snapshot });
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      this.checker.appended(this.id, rd.entries, raft.log.term(first - 1));
      this.disk.write({ kind: "entries", entries: rd.entries });
    }
    if (rd.hardState) this.disk.write({ kind: "hardState", hardState: rd.hardState });
    return !this.crashNow(); // written, not synced: lost or torn
  }

  /** DLedgerNode's rule (see ReplicaOptions.indexLag): whether this Ready's answers wait for
   *  the index fsync too. Decided before writing (a truncation is seen against the live log). */
  private needsIndexSync(rd: Ready): boolean {
    if (!this.disk.indexLag) return true;
    if (rd.snapshot) return true;
    const first = rd.entries[0];
    if (first && first.index <= this.disk.live.lastIndex()) return true;
    return rd.entries.some((e) => e.type !== "normal" || e.data.byteLength === 0);
  }

  /** The index fsync; clears a durable amnesia mark the log now reaches past. */
  private syncIndex(): void {
    if (this.disk.syncIndex()) this.raft?.recovered();
  }

  /** fsync, then what must wait for durability: answers, applying, advance. */
  private finishReady(raft: RaftNode, rd: Ready, indexSync: boolean): boolean {
    if (this.crashNow()) return false; // power loss while the fsync was in progress
    if (rd.mustSync) this.disk.sync();
    if (indexSync && this.disk.indexLag) this.syncIndex();
    if (this.crashNow()) return false;
    for (const m of rd.messagesAfterPersist) this.send(m);
    if (rd.snapshot) this.restoreStateMachine(rd.snapshot.data, rd.snapshot.metadata.index);
    for (const e of rd.committedEntries) this.apply(e);
    raft.advance();
    this.observeCommit(raft);
    this.maybeCompact(raft);
    return true;
  }

  private apply(e: Entry): void {
    if (e.index <= this.lastApplied()) return; // covered by a snapshot restored in this Ready
    if (e.index !== this.lastApplied() + 1) {
      throw new Error(`${this.id} applies ${e.index} after ${this.lastApplied()}`);
    }
    this.checker.applied(this.id, e);
    this.onApply(e);
    this.sm.push(entryKey(e));
    if (this.pending.length === 0) return;
    const still: PendingProposal[] = [];
    for (const p of this.pending) {
      if (p.index > e.index) still.push(p);
      else if (p.index === e.index && p.term === e.term) {
        // Acknowledged only if the very entry we appended (same index AND term) committed.
        this.checker.acknowledge(e);
        this.onAck(p.value, e.index);
      }
    }
    this.pending = still;
  }

  private maybeCompact(raft: RaftNode): void {
    const every = this.opts.compactEvery;
    const applied = this.lastApplied();
    if (every === 0 || applied - (raft.log.firstIndex() - 1) < 2 * every) return;
    // `end`: the commit-log offset the snapshot ends at (SimDisk's byte accounting).
    const end = byteEnd(this.disk.live, applied);
    const data = enc.encode(JSON.stringify({ base: this.smBase, sm: this.sm, end }));
    // Keep `every` entries below the snapshot so slightly lagging followers need no snapshot.
    this.disk.snapshotAndCompact(applied, raft.voters(), data, applied - every + 1);
  }

  private restoreStateMachine(data: Uint8Array, index: number): void {
    if (data.length === 0) {
      this.smBase = index;
      this.sm = [];
      return;
    }
    const s = JSON.parse(dec.decode(data)) as { base: number; sm: string[] };
    this.smBase = s.base;
    this.sm = s.sm.slice(0, index - s.base);
    for (let i = 0; i < this.sm.length; i++) {
      const c = this.checker.committed.get(s.base + i + 1);
      if (c && c.key !== this.sm[i]) {
        throw new InvariantViolation(
          `state machine safety: ${this.id}'s snapshot holds ${this.sm[i]} at ${s.base + i + 1}, committed ${c.key}`,
        );
      }
    }
  }
}
