import { CompactedError, invariant, UnavailableError } from "./errors.js";
import type { RaftStorage } from "./storage.js";
import type { Entry, Snapshot } from "./types.js";
import { entrySize } from "./types.js";
import { Unstable } from "./unstable.js";

/** The log as the core sees it: durable storage overlaid by the unstable tail. */
export class RaftLog {
  readonly storage: RaftStorage;
  readonly unstable: Unstable;
  /** Highest index known committed (durable on a majority and of a term that may be counted). */
  committed: number;
  /** Highest index the application reported applied (its Ready advanced). */
  applied: number;
  /** Highest index handed to the application to apply in a Ready not advanced yet
   *  (asynchronous storage writes allow several); at least `applied`. */
  applying = 0;
  /** Called with every batch appended (after any truncation at ents[0].index), so the core can
   *  track membership from config entries. */
  onAppend: ((ents: readonly Entry[]) => void) | undefined;

  constructor(storage: RaftStorage, committed: number, applied: number) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const first = storage.firstIndex();
    this.applied = Math.max(applied, first - 1);
    // The commit index is persisted without fsync (it is re-learned from the leader), so after a
    // crash it may be ahead of the entries that survived, or behind a snapshot: clamp it.
    this.committed = Math.max(Math.min(committed, storage.lastIndex()), this.applied);
    invariant(this.applied <= this.committed, `applied ${this.applied} beyond commit ${committed}`);
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index that storage holds durably and that the unstable tail does not replace. */
  stableLastIndex(): number {
    if (this.unstable.snapshot) return 0;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  /** Term at `index`, or undefined when the index is compacted or beyond the end. */
  term(index: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    try {
      return this.storage.term(index);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return undefined;
      throw e;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries. Returns the last index the leader's message vouches for, or
   * undefined when the log does not contain (index, logTerm). Conflicting entries are replaced —
   * never a committed one (the lagging-leader truncation of dledger#325 / rocketmq#2178 is an
   * invariant violation here, not a code path).
   */
  maybeAppend(index: number, logTerm: number, commit: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      invariant(conflict > this.committed, `entry ${conflict} conflicts with committed ${this.committed}`);
      this.append(ents.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** First index where `ents` disagrees with the log (or extends it); 0 when all present. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** Largest index ≤ `index` whose term is ≤ `term` (to skip a whole term on a rejection). */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) break;
    }
    return i;
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    invariant(after >= this.committed, `append after ${after} would rewrite committed ${this.committed}`);
    invariant(after <= this.lastIndex(), `append after ${after} leaves a gap after ${this.lastIndex()}`);
    this.unstable.truncateAndAppend(ents);
    this.onAppend?.(ents);
    return this.lastIndex();
  }

  /** Entries in [lo, lastIndex], at most maxCount of them and about maxBytes. Throws
   *  CompactedError when lo is below firstIndex (the caller then sends a snapshot). */
  entriesFrom(lo: number, maxBytes: number, maxCount: number): Entry[] {
    const last = this.lastIndex();
    if (lo > last) return [];
    return this.slice(lo, Math.min(last + 1, lo + maxCount), maxBytes);
  }

  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    invariant(hi <= this.lastIndex() + 1, `slice [${lo},${hi}) beyond last ${this.lastIndex()}`);
    const out: Entry[] = [];
    const uOff = this.unstable.offset;
    if (lo < uOff) {
      const stored = this.storage.entries(lo, Math.min(hi, uOff), maxBytes);
      out.push(...stored);
      if (stored.length < Math.min(hi, uOff) - lo) return out; // byte limit reached
    }
    if (hi > uOff) {
      let bytes = out.reduce((n, e) => n + entrySize(e), 0);
      for (let i = Math.max(lo, uOff); i < hi; i++) {
        const e = this.unstable.entries[i - uOff]!;
        bytes += entrySize(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader: commit `index` if it is of the current term (Raft Figure 8: never by counting
   *  replicas of an older term's entry). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Committed entries not yet handed out, up to maxBytes (at least one). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.applying + 1, this.firstIndex());
    if (lo > this.committed) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    invariant(index <= this.committed && index >= this.applied, `applied ${index} out of range`);
    this.applied = index;
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }
}
