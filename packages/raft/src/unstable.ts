import { invariant } from "./errors.js";
import type { Entry, Snapshot } from "./types.js";

/**
 * Entries (and at most one incoming snapshot) the core has accepted but the application has not
 * yet reported durable. They shadow storage from `offset` on: a follower that truncates a
 * conflicting suffix does so here first, and storage catches up when the Ready is persisted.
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0] (or where the next one would go). */
  offset: number;
  /** Asynchronous storage writes: entries below this index were handed to the application in
   *  a Ready that is not advanced yet (being written/fsynced); a Ready hands out only the rest. */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** Entries not yet handed to the application in any Ready. */
  entriesNotInProgress(): Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset);
  }

  hasEntriesNotInProgress(): boolean {
    return this.offset + this.entries.length > this.offsetInProgress;
  }

  /** Everything unstable now is in a Ready the application is persisting. */
  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.entries.length;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      const s = this.snapshot;
      return s && s.metadata.index === index ? s.metadata.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  /** The application made everything up to (index, term) durable. A stale report (the entry
   *  was replaced meanwhile) is ignored: the newer entries are still unstable. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries.push(...ents);
    } else if (after <= this.offset) {
      // Replaces everything unstable, and shadows storage from `after` on.
      this.offset = after;
      this.offsetInProgress = after;
      this.entries = [...ents];
    } else {
      invariant(after > this.offset && after < this.offset + this.entries.length, "unstable gap");
      this.entries = [...this.entries.slice(0, after - this.offset), ...ents];
      // Replaced entries that were in progress must be handed out again (the application
      // truncates at `after` and writes them).
      this.offsetInProgress = Math.min(this.offsetInProgress, after);
    }
  }
}
