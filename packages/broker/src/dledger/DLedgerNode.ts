import fs from "node:fs";
import { join } from "node:path";
import { type ConfigChange, RaftNode } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { BrokerConfig } from "../BrokerConfig.js";
import { BrokerConfigError } from "../loadBrokerConfig.js";
import { CommitWaiters } from "./CommitWaiters.js";
import { type DLedgerPeer, parseDLedgerPeers } from "./DLedgerPeers.js";
import { ReadyTrace, TIMELINE, TRACE, timeline } from "./DLedgerTrace.js";
import { blankHeader, encodeEntryData, type LogChunk } from "./EntryData.js";
import { EntryWriter } from "./EntryWriter.js";
import { HardStateWriter } from "./HardStateWriter.js";
import { LazyIndexSync } from "./LazyIndexSync.js";
import { type DLedgerRole, LeaderWritability } from "./LeaderWritability.js";
import { reconcileLogAndIndex } from "./LogIndexReconcile.js";
import { MembershipFollower } from "./MembershipFollower.js";
import { MembershipLog } from "./MembershipLog.js";
import { RaftLogIndex } from "./RaftLogIndex.js";
import { ELECTION_TICKS, HEARTBEAT_TICKS, ticksPerWakeup } from "./RaftTicks.js";
import { RaftTransport } from "./RaftTransport.js";
import { ReadyPipeline } from "./ReadyPipeline.js";
import { type DLedgerReplicaStatus, LeaderWatch, replicaStatus } from "./ReplicaStatus.js";
import {
  BehindLeaderError,
  installSnapshot,
  misfitFirstSegment,
  SnapshotRefusedError,
  type SnapshotStateMachine,
  snapshotPayloadAt,
} from "./SnapshotInstall.js";

export type { DLedgerRole } from "./LeaderWritability.js";
// The tick constants' old home (dledgerCpu.test.ts and others import them from here).
export { ELECTION_TICKS, HEARTBEAT_TICKS, ticksPerWakeup } from "./RaftTicks.js";
export type { DLedgerReplicaStatus } from "./ReplicaStatus.js";

/**
 * One replica of a DLedger group: drives the Raft core over the commit log. The commit log
 * IS the Raft log — a leader's local put is encoded once into the log and proposed as one
 * entry (its byte range); followers append the same bytes at the same offsets
 * (appendReplicated); the index beside the log (RaftLogIndex) maps entries to byte ranges.
 * The store's commit gate holds visibility (pulls, queries) and put answers at the commit
 * index, so a send is acknowledged only once a majority holds it on disk.
 *
 * Writes are taken only while this replica is a leader whose no-op entry committed and whose
 * dispatch caught up (DLedger waits the same way); any other time local puts are refused
 * with SERVICE_NOT_AVAILABLE (14, retried elsewhere by clients).
 */
export class DLedgerNode {
  /** The store's commit gate: records ending at or below this offset are committed. */
  readonly gate = { committedOffset: 0 };
  readonly self: DLedgerPeer;
  readonly peers: DLedgerPeer[];
  private readonly index: RaftLogIndex;
  /** The Raft storage: the index plus the membership changes (config entries). */
  readonly members: MembershipLog;
  /** The transport's peers follow the voters (MembershipFollower.ts). */
  private readonly membership: MembershipFollower;
  /** whenCommitted's callers (CommitWaiters.ts). */
  private readonly commitWaiters = new CommitWaiters();
  private node: RaftNode | undefined;
  private store: MessageStore | undefined;
  private transport: RaftTransport | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The Ready loop (ReadyPipeline.ts). */
  private readonly pipeline: ReadyPipeline;
  private stopped = false;
  private failed: Error | undefined;
  /** Role and whether writes are taken (LeaderWritability.ts). */
  private readonly writability: LeaderWritability;
  /** Term, vote and commit index as handed to storage (HardStateWriter.ts). */
  private readonly hardState: HardStateWriter;
  /** Writes Readies' entries into the commit log and the index (EntryWriter.ts); set by start. */
  private writer: EntryWriter | undefined;
  private readonly syncFlush: boolean;
  /** dLegerLazyIndexSync: acknowledge once the commit-log bytes are durable (see ReadyPipeline.complete);
   *  the amnesia mark and the commit gate's cap at the durable index (LazyIndexSync.ts). */
  private readonly lazy: LazyIndexSync;
  private lastTickError = 0;
  /** For /metrics (status()): elections started, leader changes seen, last leader message. */
  private readonly leaderWatch = new LeaderWatch();
  /** Called once when the Raft loop gives up (after the "stopped replicating" line): the
   *  broker exits the process (DLedgerReplication), a test may watch instead. */
  onFatal: (err: Error) => void = () => {};
  /**
   * Called once, instead of the refusal's ERROR line, when this replica's log ends before the
   * leader's oldest retained entry and the leader's snapshot covers all it committed
   * (BehindLeaderError): StoreReset.ts moves the store aside and restarts the broker empty.
   * Unset, the replica refuses the snapshot and stays up (the operator step in its log).
   */
  set onBehindLeader(handler: ((err: BehindLeaderError) => void) | undefined) {
    this.behindLeader = handler;
    // Set once the broker has started: the refusal may have come first.
    const pending = this.failed;
    if (handler && pending instanceof BehindLeaderError && !this.stopped) handler(pending);
  }
  private behindLeader: ((err: BehindLeaderError) => void) | undefined;
  /** Called when a config entry removes this replica from the group (false) or adds it (true). */
  onMembership: (member: boolean) => void = () => {};
  /** Called when this replica starts or stops taking writes (register with NameServers at once). */
  onRoleChange: (r: DLedgerRole) => void = () => {};
  /** The metadata beside the log that a snapshot carries and installs (SnapshotInstall.ts). */
  stateMachine: SnapshotStateMachine | undefined;
  /** Called before each local append is proposed (ReplicatedMetadata.localAppend: a due
   *  metadata batch rides along in the same Ready). */
  beforeLocalProposal: (() => void) | undefined;
  /** TIDEMQ_DLEDGER_TRACE=1 figures (DLedgerTrace.ts). */
  private readonly trace: ReadyTrace;

  private constructor(
    private readonly config: BrokerConfig,
    private readonly logger: Logger,
    index: RaftLogIndex,
  ) {
    this.peers = parseDLedgerPeers(config.dLegerPeers);
    this.self = this.peers.find((p) => p.id === config.dLegerSelfId)!;
    this.trace = new ReadyTrace(this.self.id, logger, () => ({
      log: this.store!.flushTimes.count,
      index: this.index.syncCount,
    }));
    this.index = index;
    this.writability = new LeaderWritability({
      node: () => this.node,
      store: () => this.store,
      index,
      logger,
      selfId: this.self.id,
      brokerName: config.brokerName,
      emit: (r) => this.onRoleChange(r),
      // Three election timeouts: an election plus a commit round take far less.
      stallWarnMs: 3 * ELECTION_TICKS * config.dLegerTickMs,
      durableIndexEnd: () => this.lazy.durableIndexEnd,
    });
    this.members = new MembershipLog(index, index.dir, this.peers, logger);
    this.membership = new MembershipFollower({
      node: () => this.node,
      transport: () => this.transport,
      members: this.members,
      selfId: this.self.id,
      logger,
      onMembership: (member) => this.onMembership(member),
    });
    this.hardState = new HardStateWriter(index.hardState, index, logger);
    this.gate.committedOffset = index.endOf(this.hardState.hard.commit);
    this.syncFlush = config.dLegerSyncFlush;
    // The environment variable is the benchmarks' A/B switch (bench/dledger-throughput.mjs --ab).
    this.lazy = new LazyIndexSync(
      this.syncFlush && (config.dLegerLazyIndexSync || process.env.TIDEMQ_DLEDGER_LAZY_INDEX_SYNC === "1"),
      index,
      this.self.id,
      logger,
      {
        stopped: () => this.stopped,
        failed: () => this.failed !== undefined,
        durableMoved: () => {
          if (!this.node) return;
          this.applyCommitted(this.node.hardState().commit);
          if (this.writability.role === "leader" && !this.writability.writable) this.writability.check();
        },
        recovered: () => {
          this.node?.recovered();
          this.pipeline.kick();
        },
        fail: (err) => this.fail(err),
      },
    );
    this.pipeline = new ReadyPipeline({
      selfId: this.self.id,
      index,
      syncFlush: this.syncFlush,
      lazy: this.lazy,
      hardState: this.hardState,
      writability: this.writability,
      membership: this.membership,
      leaderWatch: this.leaderWatch,
      trace: this.trace,
      node: () => this.node,
      store: () => this.store!,
      transport: () => this.transport!,
      writer: () => this.writer!,
      stopped: () => this.stopped,
      failed: () => this.failed !== undefined,
      installSnapshot: (snapshot) =>
        installSnapshot(snapshot, {
          index: this.index,
          members: this.members,
          store: this.store!,
          gate: this.gate,
          stateMachine: this.stateMachine,
          logger: this.logger,
        }),
      applyCommitted: (commit) => this.applyCommitted(commit),
      fail: (err) => this.fail(err),
    });
  }

  /**
   * Opens the Raft index before the store (the store must open behind the commit gate).
   * Refuses a store whose commit log was written outside DLedger mode: its records are in
   * no Raft entry, and the group would either drop them or diverge.
   */
  static open(config: BrokerConfig, logger: Logger): DLedgerNode {
    const dir = join(config.storePathRootDir, "dledger");
    if (!RaftLogIndex.exists(dir)) {
      const clDir = config.storePathCommitLog || join(config.storePathRootDir, "commitlog");
      const segments = fs.existsSync(clDir) ? fs.readdirSync(clDir).filter((f) => /^\d{20}$/.test(f)) : [];
      if (segments.length > 0) {
        throw new BrokerConfigError(
          `enableDLegerCommitLog=true but ${clDir} holds a commit log written without DLedger: a DLedger replica must start from an empty store (move the old store away, or run without enableDLegerCommitLog)`,
        );
      }
    }
    const peers = parseDLedgerPeers(config.dLegerPeers);
    const clDir = config.storePathCommitLog || join(config.storePathRootDir, "commitlog");
    return new DLedgerNode(
      config,
      logger,
      RaftLogIndex.open(
        dir,
        peers.map((p) => p.id),
        clDir,
      ),
    );
  }

  /** Starts replicating over an open store (opened with `gate` as its commit gate). */
  async start(store: MessageStore): Promise<void> {
    this.store = store;
    this.writer = new EntryWriter(store, this.index, this.members, this.lazy, this.logger);
    store.refuseLocalAppends(this.writability.notWritableReason());
    const base = this.index.logBase;
    const misfit = misfitFirstSegment(base, store.segmentHolding(base.end));
    if (misfit) throw new Error(`dledger: ${misfit}`);
    // Reconcile log and index after a crash (LogIndexReconcile.ts), the amnesia mark first.
    const { last, hard } = await reconcileLogAndIndex(
      this.index,
      store,
      this.hardState.hard,
      this.logger,
      (logEnd, end) => this.lazy.mark(logEnd, end),
    );
    this.hardState.hard = hard;
    await this.lazy.syncAtStart();
    // Retention compacts the Raft log: a replica behind the first retained entry gets a snapshot.
    this.index.setCompaction(
      () => store.commitLogMinOffset,
      (_index, end) => snapshotPayloadAt(end, store.segmentEndAt(end), this.stateMachine),
    );
    // Every entry before the first retained one was committed (RaftLogIndex.firstIndex), also
    // where the lazily persisted commit index lags behind it; the core starts applied there,
    // so the gate must too (or what it holds back stays hidden until the next commit).
    const commit = Math.max(this.hardState.hard.commit, this.index.firstIndex() - 1);
    this.gate.committedOffset = this.index.endOf(commit);
    store.commitAdvanced();
    this.node = new RaftNode({
      id: this.self.id,
      storage: this.members,
      random: Math.random,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: HEARTBEAT_TICKS,
      applied: commit,
      maxBytesPerMessage: 1024 * 1024,
      maxInflightMessages: 256,
      // Pipelined Readies: the leader ships new entries while its previous write is being
      // fsynced, a follower writes and acknowledges batch after batch (fsyncs group-commit).
      asyncStorageWrites: true,
      // A new commit index reaches followers with the next entries (the next round, under load)
      // or heartbeat (≤ 100 ms), not by an extra empty append + answer per follower per round.
      lazyCommitBroadcast: process.env.TIDEMQ_DLEDGER_EAGER_COMMIT !== "1",
      amnesia: this.lazy.recoverTo > 0,
      ...(this.config.preferredLeaderId ? { preferredLeaderId: this.config.preferredLeaderId } : {}),
    });
    store.setLocalAppendListener(this.onLocalAppend);
    this.members.reportConfigDrift(this.peers.map((p) => p.id));
    this.transport = new RaftTransport(this.self, this.membership.peers(), this.logger);
    this.transport.locate = (id) => this.members.peer(id);
    this.membership.started(this.node.voters());
    this.transport.onMessage = (m) => {
      if (this.stopped || this.failed) return;
      if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") this.leaderWatch.leaderContact();
      try {
        if (TIMELINE) {
          if (m.type === "app" && m.entries.length > 0)
            timeline(this.self.id, "recv", m.entries.at(-1)!.index, m.from);
          else if (m.type === "appResp" && !m.reject) timeline(this.self.id, "ack", m.index, m.from);
        }
        this.node!.step(m);
      } catch (err) {
        this.logger.warn(`dledger: message from ${m.from} refused: ${(err as Error).message}`);
      }
      // A leader's commit index moves when a follower's ack arrives (it counts only fsynced
      // copies): answer the puts now rather than after the Ready being persisted.
      if (this.writability.role === "leader") this.applyCommitted(this.node!.hardState().commit);
      this.pipeline.kick();
    };
    await this.transport.start();
    const batch = ticksPerWakeup(this.config.dLegerTickMs);
    this.timer = setInterval(() => this.onTick(batch), this.config.dLegerTickMs * batch);
    this.logger.info(
      `dledger: replica ${this.self.id} of group ${this.config.dLegerGroup || this.config.brokerName} (${this.peers.map((p) => `${p.id}=${p.host}:${p.port}`).join(", ")}), log index ${last}, commit ${this.hardState.hard.commit}, term ${this.hardState.hard.term}`,
    );
  }

  get isWritable(): boolean {
    return this.writability.writable;
  }

  get raftPort(): number {
    return this.transport?.port ?? 0;
  }

  status(): DLedgerReplicaStatus {
    return replicaStatus({
      selfId: this.self.id,
      st: this.node?.status(),
      writable: this.writability.writable,
      hard: this.hardState.hard,
      lastIndex: this.index.lastIndex(),
      committedOffset: this.gate.committedOffset,
      watch: this.leaderWatch,
      amnesiaRecoverTo: this.lazy.recoverTo,
      notWritable: this.writability.notWritableStatus(),
    });
  }

  /** Leader only: hands leadership to `to` (it campaigns once caught up). */
  transferLeadership(to: string): void {
    if (!this.node) throw new Error("dledger replica not started");
    if (!this.node.voters().includes(to))
      throw new Error(`${to} is not a member of the group (${this.node.voters().join(",")})`);
    const st = this.node.status();
    if (st.role !== "leader")
      throw new Error(`${this.self.id} is not the leader (leader: ${st.leader || "unknown"})`);
    if (to === this.self.id) return;
    this.node.transferLeadership(to);
    this.pipeline.kick();
  }

  // ---------------------------------------------------------------- membership (MembershipChange.ts)

  /** The current voters (the log's membership; dLegerPeers only until the first change). */
  voters(): readonly string[] {
    return this.node?.voters() ?? this.members.currentVoters();
  }

  /** Leader only: proposes one membership change; resolves where its config entry went. */
  proposeConfigChange(cc: ConfigChange): { index: number; term: number } {
    if (!this.node) throw new Error("dledger replica not started");
    this.members.learn(cc); // the transport needs the new voter's address before the entry goes out
    const r = this.node.proposeConfigChange(cc);
    this.pipeline.kick();
    return { index: r.lastIndex, term: r.term };
  }

  /** Resolves true once `index` is committed with `term` still there, false after `ms`. */
  async whenCommitted(index: number, term: number, ms: number): Promise<boolean> {
    const done = () => this.node !== undefined && this.node.hardState().commit >= index;
    if (!done()) await this.commitWaiters.wait(index, ms);
    return done() && this.index.lastIndex() >= index && this.index.term(index) === term;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.hardState.stop();
    this.writer?.stop();
    this.store?.setLocalAppendListener(undefined);
    this.store?.refuseLocalAppends("the broker is stopping");
    await this.transport?.stop();
    for (let i = 0; i < 500 && !this.pipeline.idle; i++) await new Promise((r) => setTimeout(r, 5));
    try {
      await this.index.setHardState(
        { ...this.hardState.hard, commit: this.node?.status().commit ?? this.hardState.hard.commit },
        true,
      );
    } catch {
      // best effort: the commit index is re-learned from the leader
    }
    // A clean stop leaves the index durable (no amnesia mark at the next start).
    await this.index.sync().catch(() => {});
    this.index.close();
  }

  // ---------------------------------------------------------------- driving the core

  private onTick(ticks: number): void {
    if (this.stopped || this.failed || !this.node) return;
    try {
      for (let i = 0; i < ticks; i++) this.node.tick();
    } catch (err) {
      // E.g. entries a lagging follower needs were deleted by retention: keep leading the
      // others; say so at most every 10 s.
      if (Date.now() - this.lastTickError > 10_000) {
        this.lastTickError = Date.now();
        this.logger.error(`dledger: ${(err as Error).message}`);
      }
    }
    if (this.writability.role === "leader" && !this.writability.writable) this.writability.check();
    // Most ticks change nothing (no election, no heartbeat due): no loop turn for those.
    if (this.node.hasReady() || this.writer!.takeBackPending) this.pipeline.kick();
  }

  private applyCommitted(commit: number): void {
    if (TRACE) this.trace.committed(commit);
    this.commitWaiters.committed(commit);
    const offset = Math.min(
      this.index.endOf(Math.min(commit, this.index.lastIndex())),
      this.lazy.durableIndexEnd,
    );
    if (offset > this.gate.committedOffset) {
      if (TIMELINE) timeline(this.self.id, "commit", commit);
      this.gate.committedOffset = offset;
      this.store!.commitAdvanced();
    }
  }

  /** Every local append on the leader becomes one Raft entry (its bytes, at their offsets). */
  private readonly onLocalAppend = (prevEnd: number, offset: number, bytes: Buffer): void => {
    const chunks: LogChunk[] = [];
    if (prevEnd < offset) chunks.push({ offset: prevEnd, bytes: blankHeader(offset - prevEnd) });
    // `bytes` is a view into the store's write buffer: encodeEntryData copies it into the entry
    // at once, so no copy of our own (one 50-100 KiB allocation and memcpy less per entry).
    chunks.push({ offset, bytes });
    const data = encodeEntryData(offset + bytes.length, chunks);
    try {
      if (!this.writability.writable || !this.node) throw new Error("not writable");
      this.beforeLocalProposal?.();
      const r = this.node.propose([data]);
      this.writer!.proposed(r.term, r.lastIndex);
      if (TRACE) this.trace.proposed(r.lastIndex);
      if (TIMELINE) timeline(this.self.id, "propose", r.lastIndex, String(bytes.length));
    } catch (err) {
      // Leadership moved (or a transfer began) between the check and the append: take the
      // records back; their puts are answered SERVICE_NOT_AVAILABLE.
      this.writability.refuse(this.writability.notWritableReason());
      // Taken back by the loop, before it next touches the log (see EntryWriter.takeBackRefused).
      this.writer!.refused(prevEnd);
      this.pipeline.kick();
      this.logger.warn(
        `dledger: proposal refused (${(err as Error).message}); records from ${prevEnd} taken back`,
      );
      this.writability.emit();
      return;
    }
    this.pipeline.kick();
  };

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.writability.refuse(`DLedger replica failed: ${err.message}`);
    if (err instanceof BehindLeaderError && this.behindLeader && !this.stopped) {
      this.writability.emit();
      this.behindLeader(err);
      return;
    }
    this.logger.error(`dledger: replica ${this.self.id} stopped replicating: ${err.stack ?? err.message}`);
    this.writability.emit();
    // Not an error of a clean stop's last writes; nor a refused snapshot, which a restart would
    // only meet again: that replica stays up (reads of what it has), replicating nothing.
    if (!this.stopped && !(err instanceof SnapshotRefusedError)) this.onFatal(err);
  }
}
