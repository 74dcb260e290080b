import { afterSyncRun } from "@tidemq/protocol";
import type { RaftNode, Ready, Snapshot } from "@tidemq/raft";
import type { MessageStore } from "@tidemq/store";
import { type ReadyTrace, TIMELINE, TRACE, timeline, timelineSends } from "./DLedgerTrace.js";
import type { EntryWriter } from "./EntryWriter.js";
import type { HardStateWriter } from "./HardStateWriter.js";
import type { LazyIndexSync } from "./LazyIndexSync.js";
import type { LeaderWritability } from "./LeaderWritability.js";
import type { MembershipFollower } from "./MembershipFollower.js";
import type { RaftLogIndex } from "./RaftLogIndex.js";
import type { RaftTransport } from "./RaftTransport.js";
import type { LeaderWatch } from "./ReplicaStatus.js";

/** A/B switch for the bench: followers keep received entries cached after applying them (the
 *  old way: up to the cache's 64 MiB bound). */
const FOLLOWER_WIRE_CACHE = process.env.TIDEMQ_DLEDGER_FOLLOWER_WIRE_CACHE === "1";
/** Readies written and waiting for their fsync at once (the core's asyncStorageWrites). */
const MAX_READIES_IN_FLIGHT = 64;

/** The replica's parts the pipeline drives (DLedgerNode); node/store/transport/writer from start. */
export interface ReadyPipelineHost {
  selfId: string;
  index: RaftLogIndex;
  /** dLegerSyncFlush: an entry counts as durable once fsynced (else once written). */
  syncFlush: boolean;
  lazy: LazyIndexSync;
  hardState: HardStateWriter;
  writability: LeaderWritability;
  membership: MembershipFollower;
  leaderWatch: LeaderWatch;
  trace: ReadyTrace;
  node(): RaftNode | undefined;
  store(): MessageStore;
  transport(): RaftTransport;
  writer(): EntryWriter;
  stopped(): boolean;
  failed(): boolean;
  /** SnapshotInstall.ts, onto the replica's index, membership, store and gate. */
  installSnapshot(s: Snapshot): Promise<void>;
  /** The commit index is `commit`: move the store's commit gate (DLedgerNode.applyCommitted). */
  applyCommitted(commit: number): void;
  fail(err: Error): void;
}

/**
 * The Ready loop: hands what the Raft core produces (Readies) to storage, the transport and
 * the commit gate, in order, several Readies in flight at once (asyncStorageWrites).
 */
export class ReadyPipeline {
  private running = false;
  /** Readies written, not yet durable/answered/advanced; `completions` finishes them in order. */
  private inFlight = 0;
  private completions: Promise<void> = Promise.resolve();
  private kickScheduled = false;

  constructor(private readonly host: ReadyPipelineHost) {}

  /** No loop turn running and no Ready in flight (stop waits for it). */
  get idle(): boolean {
    return !this.running && this.inFlight === 0;
  }

  /**
   * Runs the Ready loop once the current synchronous run is over (a microtask: every frame of
   * a socket chunk, every put of a coalesced group is stepped first, then one Ready takes them
   * all). Not setImmediate: on a busy machine that hop cost 6-10 ms per proposal before its
   * entries left for the followers, on the path of every acknowledgement.
   */
  kick(): void {
    if (this.kickScheduled || this.running || this.host.stopped()) return;
    this.kickScheduled = true;
    // afterSyncRun (a resolved promise's then), not queueMicrotask: the same microtask turn
    // without queueMicrotask's per-call AsyncResource (seen in profiles of every tick and ack).
    afterSyncRun(this.runLoop);
  }

  private readonly runLoop = (): void => {
    this.kickScheduled = false;
    void this.loop();
  };

  /**
   * Hands every Ready the core offers to storage without waiting for the previous one's fsync
   * (asyncStorageWrites): messages that may go early go at once, the entries are written now in
   * Ready order, and `complete` finishes each Ready in the same order once its bytes are
   * durable (answers, commit, advance). A Ready that truncates or changes term/vote first
   * waits for everything in flight (rare: elections, a deposed leader's tail).
   */
  private async loop(): Promise<void> {
    const h = this.host;
    if (this.running || h.failed() || !h.node()) return;
    this.running = true;
    const node = h.node()!;
    const writer = h.writer();
    try {
      await writer.takeBackRefused();
      for (
        let n = 0;
        n < 10_000 && this.inFlight < MAX_READIES_IN_FLIGHT && node.hasReady() && !h.stopped();
        n++
      ) {
        const rd = node.ready();
        if (rd.softState) h.leaderWatch.noteSoftState(rd.softState, h.writability.role);
        if (rd.softState) h.writability.onRole(rd.softState.role);
        h.membership.follow(rd);
        h.transport().send(rd.messages);
        if (TIMELINE) timelineSends(h.selfId, rd.messages);
        if (this.mustDrain(rd)) await this.completions;
        if (h.failed() || h.stopped()) return;
        const t0 = TRACE ? performance.now() : 0;
        // waitIndex: the Ready just written must have its index durable before answering.
        const { end, waitIndex } = await this.write(rd);
        if (TIMELINE && rd.entries.length > 0) timeline(h.selfId, "written", rd.entries.at(-1)!.index);
        this.inFlight++;
        this.completions = this.complete(node, rd, end, this.completions, t0, waitIndex);
      }
    } catch (err) {
      h.fail(err as Error);
    } finally {
      this.running = false;
    }
    if (
      !h.stopped() &&
      !h.failed() &&
      ((node.hasReady() && this.inFlight < MAX_READIES_IN_FLIGHT) || writer.takeBackPending)
    )
      this.kick();
  }

  /** A truncation or a term/vote change is handled with no other Ready in flight. */
  private mustDrain(rd: Ready): boolean {
    if (this.inFlight === 0) return false;
    if (rd.snapshot) return true;
    const first = rd.entries[0]?.index;
    if (first !== undefined && first <= this.host.index.lastIndex()) return true;
    const hs = rd.hardState;
    return hs !== undefined && this.host.hardState.changesTermOrVote(hs);
  }

  /** After `prev` (the Ready before) and this Ready's own fsync: answer, commit, advance. */
  private async complete(
    node: RaftNode,
    rd: Ready,
    end: number,
    prev: Promise<void>,
    t0: number,
    waitIndex: boolean,
  ): Promise<void> {
    const h = this.host;
    try {
      const indexSynced = rd.entries.length > 0 && h.syncFlush ? h.index.sync() : undefined;
      // dLegerLazyIndexSync: the entries count as durable (our ack, a leader's own match) once
      // their commit-log bytes are; the index fsync (still one per group) runs beside, and a
      // failure of it stops the replica as before. See LazyIndexSync for why that is safe.
      if (indexSynced && !waitIndex)
        indexSynced.catch((err: Error) => {
          if (!h.stopped()) h.fail(err);
        });
      if (indexSynced && h.lazy.enabled) h.lazy.watch(indexSynced);
      const durable =
        rd.entries.length > 0
          ? Promise.all([h.store().whenConfirmed(end), waitIndex ? indexSynced : undefined])
          : undefined;
      await Promise.all([prev, durable]);
      const appendError = h.writer().appendError;
      if (appendError) throw appendError;
      if (h.failed() || h.stopped() || h.node() !== node) return;
      // Our log is durable up to `end`; once its index is too, past the mark, we vote again.
      if (h.lazy.recoverTo > 0 && indexSynced && end > h.lazy.recoverTo) h.lazy.clear(indexSynced);
      if (TRACE) h.trace.ready(rd, performance.now() - t0, h.writability.role);
      if (TIMELINE && rd.entries.length > 0) timeline(h.selfId, "durable", rd.entries.at(-1)!.index);
      h.transport().send(rd.messagesAfterPersist);
      if (TIMELINE) timelineSends(h.selfId, rd.messagesAfterPersist);
      const last = rd.committedEntries.at(-1);
      if (last) {
        h.applyCommitted(last.index);
        // A follower needs no applied entry's wire form again: kept, every received frame
        // stayed (up to the 64 MiB bound) and was evicted late — old, fragmented memory each
        // new frame paid for in page faults and GC. Should this replica lead, followers that
        // are behind get those entries read back from the commit log.
        if (h.writability.role !== "leader" && !FOLLOWER_WIRE_CACHE) h.index.forgetWireThrough(last.index);
      }
      node.advance();
      if (h.writability.role === "leader") {
        // Our own copy now counts: the commit index may have moved.
        h.applyCommitted(node.hardState().commit);
        if (!h.writability.writable) h.writability.check();
      }
    } catch (err) {
      h.fail(err as Error);
    } finally {
      this.inFlight--;
      this.kick();
    }
  }

  /** Writes a Ready's entries (not yet durable) and its hard state (term and vote durably);
   *  returns the commit-log offset its entries end at, and whether their index records must be
   *  durable before they are acknowledged. */
  private async write(rd: Ready): Promise<{ end: number; waitIndex: boolean }> {
    const h = this.host;
    const writer = h.writer();
    await writer.takeBackRefused();
    // Snapshot install (SnapshotInstall.ts): a replica with entries is refused and stays up.
    if (rd.snapshot) await h.installSnapshot(rd.snapshot);
    // EntryWriter.ts: entries into the commit log and the index, not yet durable.
    const { end, indexOnAckPath } = await writer.write(rd.entries);
    // See LazyIndexSync: a lost index record leaves a trace (log bytes past the index) only if
    // its entry had bytes and the index was not cut back; anything else waits for the index.
    const waitIndex = !h.lazy.enabled || rd.snapshot !== undefined || indexOnAckPath;
    if (rd.hardState) await h.hardState.write(rd.hardState);
    return { end, waitIndex };
  }
}
