import type { Entry } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import { decodeEntryData, type LogChunk } from "./EntryData.js";
import type { LazyIndexSync } from "./LazyIndexSync.js";
import type { MembershipLog } from "./MembershipLog.js";
import { PausedAppends } from "./PausedAppends.js";
import type { IndexRecord, RaftLogIndex } from "./RaftLogIndex.js";

/**
 * Writes a Ready's entries into the commit log and the Raft index beside it (not yet durable):
 * the only code that moves the commit log's end while the replica runs — a leader's own
 * entries are already there (proposed from local appends), anyone else's bytes are appended
 * at the leader's offsets, a conflicting suffix is cut, and the records of refused proposals
 * are taken back. The Ready loop (ReadyPipeline.ts) calls it, one Ready at a time.
 */
export class EntryWriter {
  /** Records of refused proposals, from this offset on, wait to be taken back by the loop. */
  private takeBackFrom: number | undefined;
  /** Entries this replica proposed itself (term, last index): their bytes are already in the
   *  commit log when a Ready persists them; anyone else's entries are appended from the wire. */
  private ownTerm = 0;
  private ownLast = 0;
  /** A replicated append failed on bytes that did not decode: the replica stops (complete). */
  appendError: Error | undefined;
  private pausedAppends: PausedAppends | undefined;

  constructor(
    private readonly store: MessageStore,
    private readonly index: RaftLogIndex,
    private readonly members: MembershipLog,
    private readonly lazy: LazyIndexSync,
    private readonly logger: Logger,
  ) {}

  /** This replica proposed entries up to `last` in `term` (their bytes are in the log). */
  proposed(term: number, last: number): void {
    this.ownTerm = term;
    this.ownLast = last;
  }

  /** A proposal of the records from `prevEnd` on was refused: the loop takes them back. */
  refused(prevEnd: number): void {
    this.takeBackFrom = Math.min(this.takeBackFrom ?? prevEnd, prevEnd);
  }

  /** Records of refused proposals wait to be taken back (the loop must run). */
  get takeBackPending(): boolean {
    return this.takeBackFrom !== undefined;
  }

  /**
   * Cuts the records of refused proposals (see DLedgerNode.onLocalAppend). Only the loop
   * touches the commit log's end, so this runs in the loop: done anywhere else it raced with
   * the follower's appends — replicated entries were skipped as "already there" over the refused records (and
   * acknowledged on their fsync) or cut by the late take-back, and the replica stopped
   * replicating (a 3-replica group then lost its majority at the next fault).
   */
  async takeBackRefused(): Promise<void> {
    const from = this.takeBackFrom;
    if (from === undefined) return;
    this.takeBackFrom = undefined;
    // Never past an entry of the Raft log (those bytes belong to an entry, not to a refusal).
    await this.store.truncateUncommitted(Math.max(from, this.index.endOf(this.index.lastIndex())));
  }

  /**
   * Writes `ents` (a Ready's entries, maybe none); returns the commit-log offset they end at
   * (0 for none) and whether their index records must be durable before they are acknowledged
   * even with dLegerLazyIndexSync (see LazyIndexSync: a lost index record leaves a trace only
   * if its entry had bytes and the index was not cut back).
   */
  async write(ents: readonly Entry[]): Promise<{ end: number; indexOnAckPath: boolean }> {
    const store = this.store;
    let end = 0;
    let indexOnAckPath = false;
    if (ents.length > 0) {
      const first = ents[0]!.index;
      if (first <= this.index.lastIndex()) {
        indexOnAckPath = true;
        // A conflicting uncommitted suffix: cut index and log back to entry first-1.
        const cut = this.index.endOf(first - 1);
        this.lazy.indexCut(cut);
        this.index.truncateFrom(first);
        if (store.maxPhysicalOffset > cut) {
          this.logger.info(`dledger: truncating uncommitted entries from index ${first} (log offset ${cut})`);
          await store.truncateUncommitted(cut);
        }
      }
      end = this.index.endOf(first - 1);
      const recs: IndexRecord[] = [];
      for (const e of ents) {
        // Config entries have no commit-log bytes (like no-ops): their data goes to membership.json.
        if (e.type === "config") this.members.persist(e);
        const own = e.term === this.ownTerm && e.index <= this.ownLast;
        if (e.type !== "normal") indexOnAckPath = true;
        if (e.type === "normal") {
          const d = decodeEntryData(e.data);
          if (d.end <= end) indexOnAckPath = true;
          if (!own && store.maxPhysicalOffset > end) {
            // Bytes past the last entry that are not this entry's: records this replica wrote
            // as a leader and never got into its Raft log. They are not the leader's bytes —
            // cut them before appending the leader's (skipping would ack the wrong bytes).
            this.logger.info(
              `dledger: cutting ${store.maxPhysicalOffset - end} log bytes of this replica's own uncommitted records (from ${end}) for entry ${e.index} of term ${e.term}`,
            );
            await store.truncateUncommitted(end);
          }
          if (store.maxPhysicalOffset < d.end) this.appendChunks(e.index, d.chunks);
          end = d.end;
        }
        recs.push({
          index: e.index,
          term: e.term,
          type: e.type,
          end,
          // Cached: the core reads entries back to hand them out committed, and a leader to
          // send them. A follower's received entries leave the cache once applied
          // (ReadyPipeline.complete).
          wire: e.type === "normal" ? e.data : undefined,
        });
      }
      this.index.append(recs);
    }
    return { end, indexOnAckPath };
  }

  /** Appends a follower's entry bytes verbatim at the leader's offsets. */
  private appendChunks(index: number, chunks: readonly LogChunk[]): void {
    const store = this.store;
    for (const c of chunks) {
      // An empty store after a snapshot begins where the snapshot's last entry ends.
      const base = this.index.logBase;
      const held = this.paused.end; // bytes waiting for disk space come first
      const empty = held === undefined && store.maxPhysicalOffset === 0;
      const at = held ?? (empty ? base.end : store.maxPhysicalOffset);
      if (c.offset + c.bytes.length <= at) continue;
      if (c.offset !== at) {
        throw new Error(`entry ${index}: bytes at ${c.offset} do not continue the commit log (end ${at})`);
      }
      // The size of the segment these bytes begin, if none holds them yet (the store ignores
      // it otherwise): one begun inside the leader's segment that holds the snapshot's end
      // ends where the leader's does — whatever the store looks like, empty (end 0) or
      // recovered to that offset with its first segment file gone (an empty file, its size
      // lost in a power cut: Segment.listSegments) — so every later segment starts where the
      // leader's does.
      const segmentSize =
        base.segmentEnd !== undefined && c.offset >= base.end && c.offset < base.segmentEnd
          ? base.segmentEnd - c.offset
          : store.segmentSize;
      this.paused.offer(index, c.offset, c.bytes, segmentSize);
    }
  }

  private readonly appendNow = (index: number, offset: number, bytes: Buffer, segmentSize: number): void => {
    this.store.appendReplicated(offset, bytes, segmentSize).catch((err: Error) => {
      // A truncation answers the pending append; anything else means the bytes did not decode.
      if (err instanceof RangeError || err instanceof TypeError) this.appendError ??= err;
      else if (!/taken back/.test(err.message)) {
        // Not expected: if these bytes were never written, the Ready waiting for them never
        // ends and the replica stops answering (votes too) without an error. Say so.
        this.logger.warn(`dledger: replicated append of entry ${index} at ${offset} failed: ${err.message}`);
      }
    });
  };

  /** Replicated appends held while the disk is full (PausedAppends.ts). */
  private get paused(): PausedAppends {
    this.pausedAppends ??= new PausedAppends(this.store, this.logger, this.appendNow);
    return this.pausedAppends;
  }

  /** The replica stops: no more retries of held appends (PausedAppends.stop). */
  stop(): void {
    this.pausedAppends?.stop();
  }
}
