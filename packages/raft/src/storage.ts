import { CompactedError, invariant, UnavailableError } from "./errors.js";
import type { ConfigState, Entry, HardState, Snapshot } from "./types.js";
import { entrySize } from "./types.js";

/**
 * The durable log as the core reads it. The application owns it and writes it (from Ready);
 * the core only reads. This is the seam that lets a broker's commit log BE the Raft log:
 * implement these five reads over the commit-log files and persist Ready.entries by appending
 * them to the commit log — there is no second copy.
 *
 * Indexes are 1-based and contiguous. Below firstIndex() the log is compacted; the entry at
 * firstIndex()-1 is known only by its term (the snapshot's last entry).
 */
export interface RaftStorage {
  /** State at start-up. `config` is membership as of config.index; the core re-reads the
   *  config entries in (config.index, lastIndex] to rebuild the current membership. */
  initialState(): { hardState: HardState; config: ConfigState };
  firstIndex(): number;
  lastIndex(): number;
  /** Term of the entry at `index`, for firstIndex()-1 ≤ index ≤ lastIndex(). Throws
   *  CompactedError below that range and UnavailableError above it. */
  term(index: number): number;
  /** Entries in [lo, hi), stopping once their total entrySize() exceeds maxBytes — but always
   *  at least one entry when lo < hi. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The newest snapshot; its metadata.index ≥ firstIndex()-1. Sent to followers that are
   *  behind the compaction point. */
  snapshot(): Snapshot;
}

const EMPTY = new Uint8Array(0);

/**
 * An in-memory RaftStorage, used by tests and the simulator, and a reference for what a
 * file-backed one must do on each Ready.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: "", commit: 0 };
  private snap: Snapshot;
  /** ents[0] is the dummy entry at snap.metadata.index (its term is the snapshot's term). */
  private ents: Entry[];

  constructor(voters: readonly string[] = []) {
    this.snap = { metadata: { index: 0, term: 0, voters: [...voters] }, data: EMPTY };
    this.ents = [{ index: 0, term: 0, type: "noop", data: EMPTY }];
  }

  initialState(): { hardState: HardState; config: ConfigState } {
    const m = this.snap.metadata;
    return { hardState: this.hardState, config: { voters: m.voters, index: m.index } };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  term(index: number): number {
    const offset = this.ents[0]!.index;
    if (index < offset) throw new CompactedError(index, offset + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.ents[index - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset]!;
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Persist Ready.entries: drop any suffix from entries[0].index, then append. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const offset = this.ents[0]!.index;
    const first = entries[0]!.index;
    // Entries already covered by the snapshot are committed and identical; skip them.
    const skip = Math.max(0, offset + 1 - first);
    if (skip >= entries.length) return;
    const start = first + skip;
    invariant(start <= this.lastIndex() + 1, `append at ${start} leaves a gap after ${this.lastIndex()}`);
    this.ents.length = start - offset;
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  /** Persist Ready.snapshot: the log is replaced by it (entries it covers are discarded). */
  applySnapshot(snap: Snapshot): void {
    const m = snap.metadata;
    if (m.index <= this.snap.metadata.index) return;
    const keep = m.index <= this.lastIndex() && this.term(m.index) === m.term;
    const tail = keep ? this.ents.slice(m.index - this.ents[0]!.index + 1) : [];
    this.snap = snap;
    this.ents = [{ index: m.index, term: m.term, type: "noop", data: EMPTY }, ...tail];
  }

  /** Record an application snapshot at `index` (≤ applied) without discarding entries. */
  createSnapshot(index: number, voters: readonly string[], data: Uint8Array): Snapshot {
    invariant(index <= this.lastIndex(), `snapshot index ${index} beyond last index ${this.lastIndex()}`);
    if (index <= this.snap.metadata.index) return this.snap;
    this.snap = { metadata: { index, term: this.term(index), voters: [...voters] }, data };
    return this.snap;
  }

  /** Discard entries before `index`; the snapshot must already cover index-1… (log compaction). */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset + 1) return;
    invariant(index - 1 <= this.snap.metadata.index, `compact to ${index} beyond snapshot`);
    const keepFrom = index - 1 - offset;
    const dummy = this.ents[keepFrom]!;
    this.ents = [
      { index: dummy.index, term: dummy.term, type: "noop", data: EMPTY },
      ...this.ents.slice(keepFrom + 1),
    ];
  }

  /** A deep-enough copy (entries are immutable) — the simulator's "durable image". */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.hardState = this.hardState;
    c.snap = this.snap;
    c.ents = this.ents.slice();
    return c;
  }

  /** Drop the last `n` entries (simulating writes lost in a crash). Never below the snapshot. */
  dropLast(n: number): void {
    const keep = Math.max(1, this.ents.length - n);
    this.ents.length = keep;
  }
}
