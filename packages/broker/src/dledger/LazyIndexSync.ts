import type { Logger } from "@tidemq/remoting";
import type { RaftLogIndex } from "./RaftLogIndex.js";

/** What the replica does when the durable index or the amnesia mark moves. */
export interface LazyIndexSyncHooks {
  stopped(): boolean;
  failed(): boolean;
  /** The durable index reaches further: the commit gate may move (see durableIndexEnd). */
  durableMoved(): void;
  /** The amnesia mark is cleared (durably): the core votes and campaigns again. */
  recovered(): void;
  fail(err: Error): void;
}

/**
 * dLegerLazyIndexSync: acknowledge an entry once its commit-log bytes are durable, its index
 * record's fsync running beside (ReadyPipeline.complete). What that takes to stay safe lives
 * here: the amnesia mark (mark / clear) and the commit gate's cap at the durable index
 * (durableIndexEnd).
 *
 * The amnesia mark, at start-up before any log bytes are cut:
 *
 * Lazy, an entry is acknowledged (to the leader, or counted as the leader's own copy) once
 * its commit-log bytes are fsynced, its index record's fsync running beside. A power cut can
 * then keep the bytes of acknowledged entries and lose their index records; start() cuts
 * those bytes (no entry covers them) and the replica would answer votes from a log missing
 * entries it acknowledged — entries a majority may have committed with its help — and could
 * elect a leader without them. So, when the previous run was lazy and the log reaches past
 * the index (`logEnd > indexEnd`), the replica durably records recoverTo = logEnd BEFORE
 * cutting: every entry it acknowledged had its bytes durable, so each ends at or below
 * recoverTo. Until its durable log (index included) reaches strictly past recoverTo with
 * entries from a leader, it neither grants votes nor campaigns (RaftConfig.amnesia), so it
 * cannot help elect a leader lacking them; past it, its log holds, at their indexes, every
 * entry it acknowledged that was committed (a leader's log holds every committed entry, and
 * ours matches that leader's up to an entry ending past recoverTo ≥ their ends).
 *
 * An entry without bytes (no-op, config) or an index cut back (truncation) leaves no such
 * trace, so write() keeps those Readies' index fsync on the acknowledgement path; no-ops and
 * conflicts are once per election, config entries rare. The mark is also left after a
 * kill -9 of a leader with records appended but not yet proposed (bytes past the index, never
 * acknowledged): the cost is only that the replica waits for new entries before voting.
 * The commit gate stays at the durable index (durableIndexEnd), so the store never
 * dispatches past what start() might cut back to.
 * What it costs: if a majority of the group is marked at once (a power cut of all replicas
 * under load), no leader can be elected — the entries they lost exist only as bytes — and an
 * operator must step in (README, DLedger durability). Hence opt-in.
 */
export class LazyIndexSync {
  /** The amnesia mark's offset (0: none), and whether its clearing is under way. */
  recoverTo = 0;
  private clearing = false;
  /**
   * dLegerLazyIndexSync: the commit-log offset the durable index covers (Infinity otherwise).
   * The commit gate never passes it, so nothing is dispatched (consume queues, checkpoint)
   * or answered to a producer whose index record could still be lost: a power cut must never
   * leave the store's checkpoint past the index start() cuts back to (the store refuses to
   * take back records it dispatched). On the leader this waits for its own index fsync, which
   * ran beside its log fsync and is normally done before the followers' acks arrive.
   */
  durableIndexEnd = Number.POSITIVE_INFINITY;
  /** Bumped by every index truncation: a sync begun before it says nothing of what follows. */
  private indexGeneration = 0;

  constructor(
    /** dLegerLazyIndexSync is on for this run. */
    readonly enabled: boolean,
    private readonly index: RaftLogIndex,
    private readonly selfId: string,
    private readonly logger: Logger,
    private readonly hooks: LazyIndexSyncHooks,
  ) {}

  /** The amnesia mark (see the class comment), at start-up before any log bytes are cut. */
  async mark(logEnd: number, indexEnd: number): Promise<void> {
    const was = this.index.amnesia;
    const recoverTo = was.lazy && logEnd > indexEnd ? Math.max(was.recoverTo, logEnd) : was.recoverTo;
    if (recoverTo !== was.recoverTo || was.lazy !== this.enabled) {
      await this.index.setAmnesia({ lazy: this.enabled, recoverTo });
    }
    this.recoverTo = recoverTo;
    if (recoverTo > 0) {
      this.logger.warn(
        `dledger: replica ${this.selfId} may have lost index records of entries it acknowledged (commit log ends at ${logEnd}, its Raft index at ${indexEnd}; a power cut with dLegerLazyIndexSync, or its store was reset after it fell behind the leader's retention): it neither votes nor campaigns until its log reaches past offset ${recoverTo} with entries from a leader`,
      );
    }
  }

  /** At start-up, after log and index agree: the index as read is what is durable. */
  async syncAtStart(): Promise<void> {
    if (!this.enabled) return;
    // Records read back after a kill -9 may be in the page cache only.
    await this.index.sync();
    this.durableIndexEnd = this.index.endOf(this.index.lastIndex());
  }

  /** The index is cut back to commit-log offset `cut` (a conflicting suffix goes). */
  indexCut(cut: number): void {
    this.indexGeneration++;
    // Lazy mode only: nothing but a lazy index fsync (indexDurableTo) raises it again. In
    // strict mode the cap stayed at the cut for good — the gate froze there, and as leader
    // the replica was never writable (fault injection: no leader for 30 s after a round).
    if (this.enabled) this.durableIndexEnd = Math.min(this.durableIndexEnd, cut);
  }

  /** `indexSynced`, an index fsync begun now, covers the index as it is: the gate may move. */
  watch(indexSynced: Promise<void>): void {
    const covered = this.index.endOf(this.index.lastIndex());
    const generation = this.indexGeneration;
    indexSynced.then(
      () => this.indexDurableTo(covered, generation),
      () => {},
    );
  }

  /** An index fsync covering records up to commit-log offset `end` completed: the gate may move. */
  private indexDurableTo(end: number, generation: number): void {
    if (
      generation !== this.indexGeneration ||
      end <= this.durableIndexEnd ||
      this.hooks.stopped() ||
      this.hooks.failed()
    )
      return;
    this.durableIndexEnd = end;
    this.hooks.durableMoved();
  }

  /** The log reaches past the mark and `indexDurable` makes it durable: clear it (durably). */
  clear(indexDurable: Promise<void>): void {
    if (this.clearing) return;
    this.clearing = true;
    const at = this.recoverTo;
    indexDurable
      .then(() => this.index.setAmnesia({ lazy: this.enabled, recoverTo: 0 }))
      .then(() => {
        this.recoverTo = 0;
        this.hooks.recovered();
        this.logger.info(
          `dledger: replica ${this.selfId} holds its log past offset ${at} again: it votes again`,
        );
      })
      .catch((err: Error) => {
        if (!this.hooks.stopped()) this.hooks.fail(err);
      });
  }
}
