import { applyConfigChange, type ConfigChange, encodeConfigChange } from "./configChange.js";
import { CompactedError, invariant, NotLeaderError, ProposalDroppedError, RaftError } from "./errors.js";
import { Membership } from "./membership.js";
import { majority, Progress, quorumIndex } from "./progress.js";
import { RaftLog } from "./raftLog.js";
import type { RaftStorage } from "./storage.js";
import type { Entry, HardState, Message, MessageType, NodeId, Ready, Role, SoftState } from "./types.js";
import { NONE } from "./types.js";

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  /** Ticks without hearing from a leader before a follower campaigns; the actual timeout is
   *  randomized in [electionTicks, 2·electionTicks). Also the check-quorum window. Default 10. */
  readonly electionTicks?: number;
  /** Ticks between leader heartbeats. Default 1. */
  readonly heartbeatTicks?: number;
  /** Source of randomness in [0, 1) for election timeouts: inject a seeded one in tests. */
  readonly random: () => number;
  /** Pre-vote (thesis §9.6): a partitioned node does not inflate terms. Default true. */
  readonly preVote?: boolean;
  /** A leader that has not heard from a majority for an election timeout steps down, and
   *  followers ignore vote requests while they hear from a leader (leases). Default true. */
  readonly checkQuorum?: boolean;
  /** Batching of appends: at most this many entries / about this many bytes per message. */
  readonly maxEntriesPerMessage?: number;
  readonly maxBytesPerMessage?: number;
  /** Pipelining: appends in flight to one follower before waiting for an answer. */
  readonly maxInflightMessages?: number;
  /** Committed entries handed to the application per Ready (bytes, at least one entry). */
  readonly maxApplyBytesPerReady?: number;
  /** The leader transfers leadership to this voter whenever it is caught up. */
  readonly preferredLeaderId?: NodeId;
  /** Index the application has already applied (its state machine survives restarts). */
  readonly applied?: number;
  /**
   * Asynchronous storage writes (etcd-raft's AsyncStorageWrites, as a pipeline of Readies):
   * ready() may be called again before the earlier Readies are advanced, so a leader sends the
   * next entries while its previous write is still being fsynced, and a follower writes and
   * acknowledges batches back to back. The application persists Readies in the order it got
   * them, completes them in that order (send messagesAfterPersist, apply, advance()), and each
   * advance() reports the oldest outstanding Ready done. Nothing else changes: the leader counts
   * its own copy only once advanced, answers still wait for their Ready's persistence.
   * Default false: one Ready at a time.
   */
  readonly asyncStorageWrites?: boolean;
  /**
   * A leader whose commit index moves tells followers only with the next entries it sends them
   * or the next heartbeat, not with an extra empty append per follower at once. Commit safety
   * does not depend on when followers learn the index; it saves, per round of a busy group, one
   * message each way per follower (and the follower's extra Ready). Followers then apply up to a
   * heartbeat later when writes stop. Default false (etcd-raft's behaviour: broadcast at once).
   */
  readonly lazyCommitBroadcast?: boolean;
  /**
   * Amnesia: this replica may have forgotten entries it acknowledged before a crash (the
   * application acknowledges an entry once its bytes are durable, and keeps the part of its
   * storage that says which entries those bytes are — DLedger's Raft index — durable off that
   * path; a power cut can then lose the tail of it). Such a replica neither grants votes nor
   * campaigns (pre-votes and leadership transfers included) until the application, once its
   * log again covers everything it may have acknowledged, calls recovered().
   *
   * Why that is enough: Raft's leader completeness rests on every voter in a committing
   * majority still holding the entry when it votes. A replica that cannot vote is just absent
   * from elections, which Raft tolerates (its stale acknowledgements still count toward
   * commits, as any acknowledgement of a replica that crashed since does). Default false.
   */
  readonly amnesia?: boolean;
}

export interface ProposeResult {
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly term: number;
}

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: string;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly voters: readonly NodeId[];
  readonly transferee: NodeId;
  /** RaftConfig.amnesia until recovered(): neither votes nor campaigns. */
  readonly amnesia: boolean;
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
}

/** Messages that promise something about durable state are sent only after the Ready is persisted. */
const AFTER_PERSIST: ReadonlySet<MessageType> = new Set([
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "heartbeatResp",
]);

const EMPTY = new Uint8Array(0);

interface PendingReady {
  lastEntry?: { index: number; term: number };
  snapshotIndex?: number;
  appliedTo: number;
}

/**
 * One replica's Raft state machine. Drive it with tick(), step(), propose(); collect work with
 * ready(); report it done with advance(). See README.md for the full contract.
 */
export class RaftNode {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  leader: NodeId = NONE;
  role: Role = "follower";
  readonly log: RaftLog;

  private readonly electionTicks: number;
  private readonly heartbeatTicks: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxEntriesPerMessage: number;
  private readonly maxBytesPerMessage: number;
  private readonly maxInflight: number;
  private readonly maxApplyBytes: number;
  private readonly preferredLeaderId: NodeId;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  private transferee: NodeId = NONE;
  private readonly membership: Membership;
  private pendingConfIndex = 0;
  /**
   * Leader: voters just removed (id → index of the config entry that removed them). They keep
   * getting entries, without counting for commit or quorum, until they hold that entry — so a
   * live removed replica learns it is out and stops campaigning — or stay silent for an
   * election timeout (a dead one).
   */
  private readonly removing = new Map<NodeId, number>();

  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  private prevHard: HardState;
  private prevSoft: SoftState;
  /** Readies handed out and not advanced yet, oldest first (at most one unless async). */
  private pending: PendingReady[] = [];
  private readonly asyncWrites: boolean;
  private readonly lazyCommitBroadcast: boolean;
  private amnesia: boolean;
  /** Leader: ticks before another automatic transfer to the preferred leader (after a failed one). */
  private preferredBackoff = 0;

  constructor(cfg: RaftConfig) {
    this.id = cfg.id;
    invariant(cfg.id !== NONE, "node id must not be empty");
    this.electionTicks = cfg.electionTicks ?? 10;
    this.heartbeatTicks = cfg.heartbeatTicks ?? 1;
    invariant(
      this.heartbeatTicks >= 1 && this.electionTicks > this.heartbeatTicks,
      "need electionTicks > heartbeatTicks ≥ 1",
    );
    this.random = cfg.random;
    this.preVote = cfg.preVote ?? true;
    this.checkQuorum = cfg.checkQuorum ?? true;
    this.maxEntriesPerMessage = cfg.maxEntriesPerMessage ?? 256;
    this.maxBytesPerMessage = cfg.maxBytesPerMessage ?? 1 << 20;
    this.maxInflight = cfg.maxInflightMessages ?? 64;
    this.maxApplyBytes = cfg.maxApplyBytesPerReady ?? 4 << 20;
    this.preferredLeaderId = cfg.preferredLeaderId ?? NONE;
    this.asyncWrites = cfg.asyncStorageWrites ?? false;
    this.lazyCommitBroadcast = cfg.lazyCommitBroadcast ?? false;
    this.amnesia = cfg.amnesia ?? false;

    const { hardState, config } = cfg.storage.initialState();
    this.log = new RaftLog(cfg.storage, hardState.commit, cfg.applied ?? 0);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.membership = new Membership(config);
    this.membership.load(cfg.storage, config.index);
    this.log.onAppend = (ents) => {
      if (this.membership.appended(ents) && this.role === "leader") this.syncProgress();
    };
    this.prevHard = hardState;
    this.becomeFollower(this.term, NONE);
    this.prevSoft = this.softState();
  }

  // ---------------------------------------------------------------- inputs

  /** One unit of logical time (e.g. 100 ms). */
  tick(): void {
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  /** Start an election now (as if the election timeout elapsed). */
  campaign(): void {
    if (this.role !== "leader" && this.promotable()) this.hup(false);
  }

  /** The log again covers every entry this replica may have acknowledged before losing part
   *  of its storage (see RaftConfig.amnesia): it votes and campaigns again. The application
   *  calls this only once that log is durable, and records durably that it did. */
  recovered(): void {
    this.amnesia = false;
  }

  /** Append application data; returns where it went. Acknowledge a client only once an entry
   *  with that index AND term comes back in Ready.committedEntries. */
  propose(data: readonly Uint8Array[]): ProposeResult {
    this.checkCanPropose();
    const entries = data.map((d) => ({ type: "normal" as const, data: d }));
    return this.appendAsLeader(entries);
  }

  /** Add or remove one voter. Refused while another change is uncommitted, and until the
   *  leader has committed an entry of its own term (the single-server-change fix, thesis §4.1). */
  proposeConfigChange(cc: ConfigChange): ProposeResult {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.committed) {
      throw new ProposalDroppedError(`membership change at ${this.pendingConfIndex} not committed yet`, true);
    }
    if (this.log.term(this.log.committed) !== this.term) {
      throw new ProposalDroppedError("leader has not committed an entry of its term yet", true);
    }
    const voters = this.voters();
    if (cc.op === "addVoter" && voters.includes(cc.node)) {
      throw new RaftError(`${cc.node} is already a voter`, false);
    }
    if (cc.op === "removeVoter" && (!voters.includes(cc.node) || voters.length === 1)) {
      throw new RaftError(`cannot remove ${cc.node} from voters ${voters.join(",")}`, false);
    }
    // The entry names the resulting voters too (see ConfigChange.voters).
    const full: ConfigChange = { ...cc, voters: applyConfigChange(voters, cc) };
    const r = this.appendAsLeader([{ type: "config", data: encodeConfigChange(full) }]);
    this.pendingConfIndex = r.lastIndex;
    return r;
  }

  /** Hand leadership to `to`: stop taking proposals, catch it up, tell it to campaign now.
   *  Gives up after one election timeout. */
  transferLeadership(to: NodeId): void {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    if (to === this.id || this.transferee === to) return;
    const pr = this.progress.get(to);
    if (!pr || !this.voters().includes(to)) throw new RaftError(`${to} is not a voter`, false);
    this.transferee = to;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: "timeoutNow", to });
    else this.sendAppend(to, true);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === "vote" || m.type === "preVote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    if (this.asyncWrites && this.pending.length > 0 && !this.canPipeline()) return false;
    if (this.msgs.length > 0 || this.msgsAfterPersist.length > 0) return true;
    if (this.log.unstable.hasEntriesNotInProgress() || this.log.unstable.snapshot) return true;
    if (this.log.committed > Math.max(this.log.applied, this.log.applying)) return true;
    if (!sameHard(this.hardState(), this.prevHard)) return true;
    return !sameSoft(this.softState(), this.prevSoft);
  }

  /** With asynchronous writes, another Ready may be handed out before the earlier ones are
   *  advanced — except around an incoming snapshot, which is written with nothing in flight
   *  and before any later entry. */
  private canPipeline(): boolean {
    return this.asyncWrites && this.log.unstable.snapshot === undefined;
  }

  /** Collect the work to do. Call advance() after doing it (with asyncStorageWrites, more
   *  Readies may be collected first: see RaftConfig.asyncStorageWrites). */
  ready(): Ready {
    invariant(
      this.pending.length === 0 || this.canPipeline(),
      this.asyncWrites
        ? "ready() while a snapshot is being persisted"
        : "ready() called again before advance()",
    );
    const entries = this.log.unstable.entriesNotInProgress();
    this.log.unstable.acceptInProgress();
    const snapshot = this.log.unstable.snapshot;
    const committedEntries = this.log.nextCommittedEntries(this.maxApplyBytes);
    const hs = this.hardState();
    const ss = this.softState();
    const hardChanged = !sameHard(hs, this.prevHard);
    const mustSync =
      entries.length > 0 ||
      snapshot !== undefined ||
      hs.term !== this.prevHard.term ||
      hs.vote !== this.prevHard.vote;
    const rd: Ready = {
      ...(sameSoft(ss, this.prevSoft) ? {} : { softState: ss }),
      ...(hardChanged ? { hardState: hs } : {}),
      ...(snapshot ? { snapshot } : {}),
      mustSync,
      entries,
      committedEntries,
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
    };
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.prevHard = hs;
    this.prevSoft = ss;
    const last = entries[entries.length - 1];
    const lastApplied = committedEntries[committedEntries.length - 1];
    if (lastApplied) this.log.applying = lastApplied.index;
    this.pending.push({
      ...(last ? { lastEntry: { index: last.index, term: last.term } } : {}),
      ...(snapshot ? { snapshotIndex: snapshot.metadata.index } : {}),
      appliedTo: lastApplied ? lastApplied.index : 0,
    });
    return rd;
  }

  /** The last Ready is persisted (and fsynced when it said so), sent and applied. The leader
   *  counts its own copy of new entries toward commit only from here on. */
  advance(): void {
    const p = this.pending.shift();
    invariant(p !== undefined, "advance() without ready()");
    if (p.snapshotIndex !== undefined) {
      this.log.unstable.stableSnapTo(p.snapshotIndex);
      if (this.log.applied < p.snapshotIndex) this.log.applied = p.snapshotIndex;
    }
    if (p.lastEntry) this.log.unstable.stableTo(p.lastEntry.index, p.lastEntry.term);
    if (p.appliedTo > this.log.applied) this.log.appliedTo(p.appliedTo);
    if (this.role === "leader" && this.maybeCommit()) this.bcastCommit();
  }

  status(): RaftStatus {
    const progress: Record<NodeId, ProgressStatus> = {};
    for (const [id, pr] of this.progress) {
      progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      voters: this.voters(),
      transferee: this.transferee,
      amnesia: this.amnesia,
      progress,
    };
  }

  voters(): NodeId[] {
    return this.membership.voters();
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.leader, role: this.role, term: this.term };
  }

  // ---------------------------------------------------------------- roles

  private resetTerm(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + Math.floor(this.random() * this.electionTicks);
    this.votes = new Map();
    this.transferee = NONE;
    this.progress.clear();
    this.removing.clear();
  }

  private becomeFollower(term: number, leader: NodeId): void {
    this.resetTerm(term);
    this.role = "follower";
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    invariant(this.role !== "leader", "leader cannot become pre-candidate");
    // Term and vote stay: a pre-vote changes nothing durable.
    this.votes = new Map();
    this.role = "preCandidate";
    this.leader = NONE;
  }

  private becomeCandidate(): void {
    invariant(this.role !== "leader", "leader cannot become candidate");
    this.resetTerm(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    invariant(this.role === "candidate", "only a candidate becomes leader");
    const term = this.term;
    this.resetTerm(term);
    this.role = "leader";
    this.leader = this.id;
    this.syncProgress();
    // Uncommitted config entries of earlier terms still count as pending.
    this.pendingConfIndex = this.membership.lastPendingIndex();
    // Commit a no-op of our own term so earlier terms' entries can be committed (Figure 8).
    this.log.append([{ index: this.log.lastIndex() + 1, term, type: "noop", data: EMPTY }]);
    this.bcastAppend();
  }

  /** May campaign: a voter, and not one that may have forgotten acknowledged entries. */
  private promotable(): boolean {
    return !this.amnesia && this.voters().includes(this.id);
  }

  private hup(transfer: boolean): void {
    if (this.preVote && !transfer) this.campaignRound("preVote", false);
    else this.campaignRound("vote", transfer);
  }

  private campaignRound(kind: "preVote" | "vote", transfer: boolean): void {
    if (kind === "preVote") this.becomePreCandidate();
    else this.becomeCandidate();
    const term = kind === "preVote" ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.pollResult() === "won") {
      this.onElectionWon();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const v of this.voters()) {
      if (v === this.id) continue;
      this.send({ type: kind, to: v, term, index, logTerm, ...(transfer ? { transfer: true } : {}) });
    }
  }

  private onElectionWon(): void {
    if (this.role === "preCandidate") this.campaignRound("vote", false);
    else this.becomeLeader();
  }

  private pollResult(): "won" | "lost" | "pending" {
    const voters = this.voters();
    const q = majority(voters.length);
    let granted = 0;
    let rejected = 0;
    for (const v of voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    if (granted >= q) return "won";
    if (rejected >= q) return "lost";
    return "pending";
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const [id, pr] of this.progress) {
      pr.recentActive = ++pr.ticksSinceHeard < this.electionTicks;
      if (!pr.recentActive && this.removing.has(id)) this.dropRemoved(id);
      // A lost InstallSnapshot would otherwise park the follower forever.
      if (pr.state === "snapshot" && ++pr.snapshotTicks >= this.electionTicks) pr.becomeProbe();
    }
    if (this.checkQuorum && !this.quorumActive()) {
      // No second writer (rocketmq#7017): a leader that has not heard from a majority for an
      // election timeout stops leading — by then the others may have elected a new leader.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.preferredBackoff > 0) this.preferredBackoff--;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      // A transfer that did not finish in an election timeout is abandoned. To the preferred
      // leader, it is retried only after a few more timeouts of taking proposals: a preferred
      // replica that does not campaign (an amnesiac one waits for new entries to recover) would
      // otherwise have every proposal refused, for ever.
      if (this.transferee !== NONE && this.transferee === this.preferredLeaderId)
        this.preferredBackoff = 4 * this.electionTicks;
      this.transferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
      this.maybeTransferToPreferred();
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters()) {
      if (v === this.id || this.progress.get(v)?.recentActive) active++;
    }
    return active >= majority(this.voters().length);
  }

  private maybeTransferToPreferred(): void {
    const p = this.preferredLeaderId;
    if (p === NONE || p === this.id || this.transferee !== NONE || !this.voters().includes(p)) return;
    if (this.preferredBackoff > 0) return;
    const pr = this.progress.get(p);
    if (pr?.recentActive && pr.match === this.log.lastIndex()) this.transferLeadership(p);
  }

  // ---------------------------------------------------------------- step helpers

  /** Returns false when the message is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === "vote" || m.type === "preVote") {
      const inLease = this.checkQuorum && this.leader !== NONE && this.electionElapsed < this.electionTicks;
      if (inLease && !m.transfer) return false; // we hear from a live leader: do not disrupt it
    }
    if (m.type === "preVote") return true;
    if (m.type === "preVoteResp" && !m.reject) return true; // our own future term echoed back
    const leader = m.type === "app" || m.type === "heartbeat" || m.type === "snap" ? m.from : NONE;
    this.becomeFollower(m.term, leader);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === "app" || m.type === "heartbeat")) {
      // A deposed leader learns our term from this and steps down.
      this.send({ type: "appResp", to: m.from });
    } else if (m.type === "preVote") {
      this.send({ type: "preVoteResp", to: m.from, reject: true });
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === "preVote";
    // An amnesiac replica grants nothing: its log may lack entries it acknowledged, so its
    // up-to-date check could elect a leader without them (RaftConfig.amnesia).
    const canVote =
      !this.amnesia &&
      (this.vote === m.from || (this.vote === NONE && this.leader === NONE) || (pre && m.term > this.term));
    const respType = pre ? "preVoteResp" : "voteResp";
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send({ type: respType, to: m.from, term: m.term });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.leader = m.from;
        if (m.commit > this.log.lastIndex()) {
          // The leader's match for us predates our loss (an amnesiac replica, or one whose data
          // was wiped or lost: the heartbeat's commit is at most our match, so we had those
          // entries): say so (as a rejection of an append at its commit index), so it probes
          // our log again instead of waiting for a proposal — and never commit past our log.
          const last = this.log.lastIndex();
          this.send({
            type: "appResp",
            to: m.from,
            index: m.commit,
            reject: true,
            rejectHint: last,
            logTerm: this.log.term(last) ?? 0,
            forgot: true,
          });
        } else this.log.commitTo(m.commit);
        this.send({ type: "heartbeatResp", to: m.from });
        break;
      case "snap":
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        break;
      case "timeoutNow":
        if (this.promotable()) this.hup(true);
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        this.becomeFollower(this.term, m.from);
        this.stepFollower(m);
        break;
      case "voteResp":
      case "preVoteResp": {
        if ((m.type === "voteResp") !== (this.role === "candidate")) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        const r = this.pollResult();
        if (r === "won") this.onElectionWon();
        else if (r === "lost") this.becomeFollower(this.term, NONE);
        break;
      }
      default:
        break;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: "appResp", to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: "appResp", to: m.from, index: lastNew });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: "appResp",
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint,
      logTerm: this.log.term(hint) ?? 0,
      ...(this.amnesia ? { forgot: true } : {}),
    });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    invariant(s !== undefined, "snap message without a snapshot");
    const idx = s.metadata.index;
    if (idx <= this.log.committed) {
      this.send({ type: "appResp", to: m.from, index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(idx, s.metadata.term)) {
      // We already have the entries: just fast-forward the commit index.
      this.log.commitTo(idx);
      this.send({ type: "appResp", to: m.from, index: this.log.committed });
      return;
    }
    this.log.restore(s);
    this.membership.restore(s.metadata.voters, idx);
    this.send({ type: "appResp", to: m.from, index: this.log.lastIndex() });
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.heardFrom();
    if (m.type === "appResp") {
      if (m.reject) this.handleAppendRejected(m, pr);
      else this.handleAppendAccepted(m, pr);
    } else if (m.type === "heartbeatResp") {
      pr.probeSent = false;
      // A full window whose answers were lost would stall: free one slot per heartbeat.
      if (pr.state === "replicate" && pr.inflights.length >= pr.maxInflight) pr.inflights.shift();
      if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    }
  }

  private handleAppendRejected(m: Message, pr: Progress): void {
    let hint = m.rejectHint;
    if (m.logTerm > 0) hint = this.log.findConflictByTerm(hint, m.logTerm);
    if (m.forgot && m.index <= pr.match) {
      // Not stale: an amnesiac follower lost entries it had acknowledged. Without this it
      // would never be repaired (every later rejection is below match, so ignored).
      pr.forgot(Math.min(m.index, hint + 1));
      this.sendAppend(m.from, true);
      return;
    }
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === "replicate") pr.becomeProbe();
      this.sendAppend(m.from, true);
    }
  }

  private handleAppendAccepted(m: Message, pr: Progress): void {
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, false);
      return;
    }
    const removedAt = this.removing.get(m.from);
    if (removedAt !== undefined && pr.match >= removedAt) {
      this.dropRemoved(m.from); // it has the entry that removes it: nothing more to send
      return;
    }
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") pr.freeInflightsTo(pr.match);
    if (this.maybeCommit()) this.bcastCommit();
    else this.sendAppendsWhileOpen(m.from);
    if (this.role === "leader" && m.from === this.transferee && pr.match === this.log.lastIndex()) {
      this.send({ type: "timeoutNow", to: m.from });
    }
  }

  // ---------------------------------------------------------------- replication

  private checkCanPropose(): void {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    if (this.transferee !== NONE) {
      throw new ProposalDroppedError(`leadership is being transferred to ${this.transferee}`, true);
    }
  }

  private appendAsLeader(ents: readonly { type: Entry["type"]; data: Uint8Array }[]): ProposeResult {
    invariant(ents.length > 0, "empty proposal");
    const first = this.log.lastIndex() + 1;
    const term = this.term;
    const entries = ents.map((e, i) => ({ index: first + i, term, type: e.type, data: e.data }));
    this.log.append(entries);
    this.bcastAppend();
    return { firstIndex: first, lastIndex: first + entries.length - 1, term };
  }

  private bcastAppend(): void {
    for (const [id, pr] of this.progress) {
      if (this.sendAppend(id, true) && pr.state === "replicate") this.sendAppendsWhileOpen(id);
    }
  }

  /** The commit index moved: tell the followers now (empty appends), or, lazily, with the
   *  entries that are waiting for them (the others learn it from their next append/heartbeat). */
  private bcastCommit(): void {
    if (!this.lazyCommitBroadcast) {
      this.bcastAppend();
      return;
    }
    for (const [id, pr] of this.progress) {
      if (this.sendAppend(id, false) && pr.state === "replicate") this.sendAppendsWhileOpen(id);
    }
  }

  private bcastHeartbeat(): void {
    for (const [id, pr] of this.progress) {
      this.send({ type: "heartbeat", to: id, commit: Math.min(pr.match, this.log.committed) });
    }
  }

  /** Pipelining: keep sending batches until the window is full or the log is exhausted. */
  private sendAppendsWhileOpen(to: NodeId): void {
    for (let k = 0; k <= this.maxInflight && this.sendAppend(to, false); k++);
  }

  /** Send the next batch to `to` if its progress allows; returns whether something was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prev = pr.next - 1;
    const prevTerm = this.log.term(prev);
    let entries: Entry[];
    try {
      if (prevTerm === undefined) throw new CompactedError(prev, this.log.firstIndex());
      entries = this.log.entriesFrom(pr.next, this.maxBytesPerMessage, this.maxEntriesPerMessage);
    } catch (e) {
      if (!(e instanceof CompactedError)) throw e;
      return this.sendSnapshot(to, pr);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: "app", to, index: prev, logTerm: prevTerm, entries, commit: this.log.committed });
    if (entries.length > 0) pr.sentEntries(entries[entries.length - 1]!.index);
    else if (pr.state === "probe") pr.probeSent = true;
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false; // do not ship a snapshot to a node that may be down
    const snapshot = this.log.storage.snapshot();
    invariant(snapshot.metadata.index >= this.log.firstIndex() - 1, "storage snapshot older than the log");
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send({ type: "snap", to, snapshot });
    return true;
  }

  /** Commit what a majority has durably (the leader's own copy counts once advance()d). */
  private maybeCommit(): boolean {
    const stable = this.log.stableLastIndex();
    const matches = this.voters().map((v) => (v === this.id ? stable : (this.progress.get(v)?.match ?? 0)));
    if (!this.log.maybeCommit(quorumIndex(matches), this.term)) return false;
    this.membership.committedTo(this.log.committed);
    if (!this.voters().includes(this.id) && !this.membership.hasPending()) {
      // Our own removal is committed: stop leading so the remaining voters elect a leader.
      this.becomeFollower(this.term, NONE);
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- membership

  private syncProgress(): void {
    const voters = this.voters();
    for (const id of [...this.progress.keys()]) {
      if (voters.includes(id)) this.removing.delete(id);
      else if (!this.removing.has(id))
        this.removing.set(id, this.membership.lastPendingIndex() || this.log.lastIndex());
    }
    for (const v of voters) {
      if (v === this.id || this.progress.has(v)) continue;
      const pr = new Progress(this.log.lastIndex() + 1, this.maxInflight);
      this.progress.set(v, pr);
    }
  }

  private dropRemoved(id: NodeId): void {
    this.removing.delete(id);
    this.progress.delete(id);
  }

  private send(m: Partial<Message> & { type: MessageType; to: NodeId }): void {
    const full: Message = {
      from: this.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      ...m,
    };
    if (AFTER_PERSIST.has(full.type)) this.msgsAfterPersist.push(full);
    else this.msgs.push(full);
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.term === b.term;
}
