import type { ConfigChange } from "./configChange.js";
import { handleVoteRequest, hup, inLease, promotable, receiveVote, tickElection } from "./election.js";
import { invariant, NotLeaderError, ProposalDroppedError } from "./errors.js";
import { transferLeadership } from "./leadershipTransfer.js";
import { tickLeader } from "./leaderTick.js";
import { Membership } from "./membership.js";
import { proposeConfigChange, syncProgress } from "./membershipChange.js";
import type { Progress } from "./progress.js";
import { RaftLog } from "./raftLog.js";
import { AFTER_PERSIST, advanceReady, collectReady, hasReady, type PendingReady } from "./readyCycle.js";
import { learnRemoved, tellIfRemoved } from "./removedPeer.js";
import {
  appendAsLeader,
  bcastAppend,
  handleAppend,
  handleAppendAccepted,
  handleAppendRejected,
  handleHeartbeat,
  handleHeartbeatResp,
} from "./replication.js";
import { handleSnapshot } from "./snapshot.js";
import type { RaftStorage } from "./storage.js";
import type { HardState, Message, MessageType, NodeId, Ready, Role, SoftState } from "./types.js";
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

const EMPTY = new Uint8Array(0);

/**
 * One replica's Raft state machine. Drive it with tick(), step(), propose(); collect work with
 * ready(); report it done with advance(). See README.md for the full contract.
 *
 * The class holds the state, the role transitions and the dispatch of inputs; the Raft
 * concerns live in plain functions over this state, named after them: election.ts (pre-vote,
 * vote, check-quorum, campaigns), replication.ts (appends, acknowledgements, commit,
 * heartbeats), snapshot.ts, leadershipTransfer.ts, leaderTick.ts, membershipChange.ts and
 * readyCycle.ts. The members marked @internal are theirs, not part of the API.
 */
export class RaftNode {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  leader: NodeId = NONE;
  role: Role = "follower";
  readonly log: RaftLog;

  /** @internal */ readonly electionTicks: number;
  /** @internal */ readonly heartbeatTicks: number;
  /** @internal */ readonly random: () => number;
  /** @internal */ readonly preVote: boolean;
  /** @internal */ readonly checkQuorum: boolean;
  /** @internal */ readonly maxEntriesPerMessage: number;
  /** @internal */ readonly maxBytesPerMessage: number;
  /** @internal */ readonly maxInflight: number;
  /** @internal */ readonly maxApplyBytes: number;
  /** @internal */ readonly preferredLeaderId: NodeId;

  /** @internal */ electionElapsed = 0;
  /** @internal */ heartbeatElapsed = 0;
  /** @internal */ randomizedElectionTimeout = 0;
  /** @internal */ votes = new Map<NodeId, boolean>();
  /** @internal */ readonly progress = new Map<NodeId, Progress>();
  /** @internal */ transferee: NodeId = NONE;
  /** @internal */ readonly membership: Membership;
  /** @internal */ pendingConfIndex = 0;
  /**
   * Leader: voters just removed (id → index of the config entry that removed them). They keep
   * getting entries, without counting for commit or quorum, until they hold that entry — so a
   * live removed replica learns it is out and stops campaigning — or stay silent for an
   * election timeout (a dead one).
   * @internal
   */
  readonly removing = new Map<NodeId, number>();

  /** @internal */ msgs: Message[] = [];
  /** @internal */ msgsAfterPersist: Message[] = [];
  /** @internal */ prevHard: HardState;
  /** @internal */ prevSoft: SoftState;
  /** Readies handed out and not advanced yet, oldest first (at most one unless async). @internal */
  pending: PendingReady[] = [];
  /** @internal */ readonly asyncWrites: boolean;
  /** @internal */ readonly lazyCommitBroadcast: boolean;
  /** @internal */ amnesia: boolean;
  /** A member told us the group removed us (removedPeer.ts), and whether a Ready reported it. @internal */
  removedBy: { index: number; term: number; by: NodeId } | undefined;
  /** @internal */ removedReported = false;
  /** Leader: ticks before another automatic transfer to the preferred leader (after a failed one). @internal */
  preferredBackoff = 0;

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
      if (this.membership.appended(ents) && this.role === "leader") syncProgress(this);
    };
    this.prevHard = hardState;
    this.becomeFollower(this.term, NONE);
    this.prevSoft = this.softState();
  }

  // ---------------------------------------------------------------- inputs

  /** One unit of logical time (e.g. 100 ms). */
  tick(): void {
    if (this.role === "leader") tickLeader(this);
    else tickElection(this);
  }

  /** Start an election now (as if the election timeout elapsed). */
  campaign(): void {
    if (this.role !== "leader" && promotable(this)) hup(this, false);
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
    return appendAsLeader(this, entries);
  }

  /** Add or remove one voter. Refused while another change is uncommitted, and until the
   *  leader has committed an entry of its own term (the single-server-change fix, thesis §4.1). */
  proposeConfigChange(cc: ConfigChange): ProposeResult {
    this.checkCanPropose();
    return proposeConfigChange(this, cc);
  }

  /** Hand leadership to `to`: stop taking proposals, catch it up, tell it to campaign now.
   *  Gives up after one election timeout. */
  transferLeadership(to: NodeId): void {
    transferLeadership(this, to);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    // Before any term handling: a removed peer must not move our term, nor we adopt its.
    if (m.removed) {
      learnRemoved(this, m);
      return;
    }
    if (tellIfRemoved(this, m)) return;
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === "vote" || m.type === "preVote") {
      handleVoteRequest(this, m);
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
    return hasReady(this);
  }

  /** Collect the work to do. Call advance() after doing it (with asyncStorageWrites, more
   *  Readies may be collected first: see RaftConfig.asyncStorageWrites). */
  ready(): Ready {
    return collectReady(this);
  }

  /** The last Ready is persisted (and fsynced when it said so), sent and applied. The leader
   *  counts its own copy of new entries toward commit only from here on. */
  advance(): void {
    advanceReady(this);
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

  /** @internal */
  becomeFollower(term: number, leader: NodeId): void {
    this.resetTerm(term);
    this.role = "follower";
    this.leader = leader;
  }

  /** @internal */
  becomePreCandidate(): void {
    invariant(this.role !== "leader", "leader cannot become pre-candidate");
    // Term and vote stay: a pre-vote changes nothing durable.
    this.votes = new Map();
    this.role = "preCandidate";
    this.leader = NONE;
  }

  /** @internal */
  becomeCandidate(): void {
    invariant(this.role !== "leader", "leader cannot become candidate");
    this.resetTerm(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  /** @internal */
  becomeLeader(): void {
    invariant(this.role === "candidate", "only a candidate becomes leader");
    const term = this.term;
    this.resetTerm(term);
    this.role = "leader";
    this.leader = this.id;
    syncProgress(this);
    // Uncommitted config entries of earlier terms still count as pending.
    this.pendingConfIndex = this.membership.lastPendingIndex();
    // Commit a no-op of our own term so earlier terms' entries can be committed (Figure 8).
    this.log.append([{ index: this.log.lastIndex() + 1, term, type: "noop", data: EMPTY }]);
    bcastAppend(this);
  }

  // ---------------------------------------------------------------- step dispatch

  /** Returns false when the message is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if ((m.type === "vote" || m.type === "preVote") && inLease(this, m)) {
      return false; // we hear from a live leader: do not disrupt it
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

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.leader = m.from;
        handleAppend(this, m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.leader = m.from;
        handleHeartbeat(this, m);
        break;
      case "snap":
        this.electionElapsed = 0;
        this.leader = m.from;
        handleSnapshot(this, m);
        break;
      case "timeoutNow":
        if (promotable(this)) hup(this, true);
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
      case "preVoteResp":
        receiveVote(this, m);
        break;
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.heardFrom();
    if (m.type === "appResp") {
      if (m.reject) handleAppendRejected(this, m, pr);
      else handleAppendAccepted(this, m, pr);
    } else if (m.type === "heartbeatResp") {
      handleHeartbeatResp(this, m, pr);
    }
  }

  private checkCanPropose(): void {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    if (this.transferee !== NONE) {
      throw new ProposalDroppedError(`leadership is being transferred to ${this.transferee}`, true);
    }
  }

  /** @internal */
  send(m: Partial<Message> & { type: MessageType; to: NodeId }): void {
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
