import type { Entry, NodeId } from "../types.js";

/** A safety property was violated; the message says which and where. */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation";
}

/** The identity of an entry for comparisons: term, type and payload. */
export function entryKey(e: Entry): string {
  return `${e.term}:${e.type}:${e.type === "normal" ? Buffer.from(e.data).toString("latin1") : e.data.length}`;
}

interface Committed {
  readonly key: string;
  readonly term: number;
  /** The leader term in which the entry was first seen committed. */
  commitTerm: number;
}

/**
 * The Raft paper's safety properties (Figure 3), checked as the simulation runs:
 *  - election safety: at most one leader per term;
 *  - log matching: two logs holding an entry with the same index and term hold the same
 *    entry there and the same term just before it (so, by induction, identical prefixes);
 *  - leader completeness: a leader of term T holds every entry committed in a term < T;
 *  - state machine safety: no two replicas apply different entries at the same index;
 *  - acknowledged writes: an acknowledged entry is applied, at its index, everywhere it is
 *    applied, and is never replaced.
 */
export class SafetyChecker {
  private readonly leaders = new Map<number, NodeId>();
  /** "term/index" → entry key and the term of the entry before it. */
  private readonly seen = new Map<string, { key: string; prevTerm: number | undefined }>();
  readonly committed = new Map<number, Committed>();
  /** index → value of every acknowledged client write. */
  readonly acked = new Map<number, string>();
  maxCommitted = 0;
  checks = 0;

  leaderElected(
    id: NodeId,
    term: number,
    termAt: (i: number) => number | undefined,
    firstIndex: number,
  ): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) {
      throw new InvariantViolation(`election safety: ${prev} and ${id} both leaders of term ${term}`);
    }
    this.leaders.set(term, id);
    for (let i = Math.max(1, firstIndex); i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (c === undefined || c.commitTerm >= term) continue;
      const t = termAt(i);
      if (t !== c.term) {
        throw new InvariantViolation(
          `leader completeness: ${id}, leader of term ${term}, has term ${t} at ${i}; committed was term ${c.term} (in term ${c.commitTerm})`,
        );
      }
    }
    this.checks++;
  }

  /** Entries a replica has just persisted (after `prevTerm` at index entries[0]-1, if known). */
  appended(id: NodeId, entries: readonly Entry[], prevTerm: number | undefined): void {
    let before = prevTerm;
    for (const e of entries) {
      const k = `${e.term}/${e.index}`;
      const key = entryKey(e);
      const s = this.seen.get(k);
      if (s === undefined) {
        this.seen.set(k, { key, prevTerm: before });
      } else if (
        s.key !== key ||
        (before !== undefined && s.prevTerm !== undefined && s.prevTerm !== before)
      ) {
        throw new InvariantViolation(
          `log matching: ${id} holds ${k} = ${key} after term ${before}; another log has ${s.key} after term ${s.prevTerm}`,
        );
      }
      before = e.term;
    }
    this.checks++;
  }

  /** A leader's commit index advanced over these entries. */
  committedBy(leaderTerm: number, entries: readonly Entry[]): void {
    for (const e of entries) this.recordCommitted(e, leaderTerm);
  }

  /** A replica applied `e` to its state machine. */
  applied(id: NodeId, e: Entry): void {
    this.recordCommitted(e, Number.MAX_SAFE_INTEGER, id);
    const a = this.acked.get(e.index);
    if (a !== undefined && a !== entryKey(e)) {
      throw new InvariantViolation(
        `acknowledged write lost: ${id} applied ${entryKey(e)} at ${e.index}, acked ${a}`,
      );
    }
  }

  acknowledge(e: Entry): void {
    const c = this.committed.get(e.index);
    if (c === undefined || c.key !== entryKey(e)) {
      throw new InvariantViolation(
        `acknowledged ${entryKey(e)} at ${e.index} that is not the committed entry`,
      );
    }
    this.acked.set(e.index, entryKey(e));
  }

  private recordCommitted(e: Entry, commitTerm: number, by?: NodeId): void {
    const key = entryKey(e);
    const c = this.committed.get(e.index);
    if (c === undefined) {
      this.committed.set(e.index, { key, term: e.term, commitTerm });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (c.key !== key) {
      throw new InvariantViolation(
        `state machine safety: ${by ?? "a leader"} committed/applied ${key} at ${e.index}; ${c.key} was committed there`,
      );
    } else if (commitTerm < c.commitTerm) {
      c.commitTerm = commitTerm;
    }
    this.checks++;
  }
}
