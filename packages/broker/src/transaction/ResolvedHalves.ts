import type { HalfStatus } from "./HalfLifecycle.js";

/** The checkpoint file's status codes (0-based); stored here plus one (0 = not known). */
export const STATUS_NAMES: readonly HalfStatus[] = ["committed", "rolledBack", "discarded"];
const STATUS_CODES = STATUS_NAMES;

/** Resolved halves remembered by offset (for duplicate or late END_TRANSACTION); oldest forgotten first. */
export const RESOLVED_REMEMBERED = 200_000;

/** Resolved halves as runs of consecutive offsets with one status: [from, count, status code (0-based)]. */
export type ResolvedRun = [number, number, number];

/**
 * The resolved halves remembered by half-queue offset (to answer a duplicate or late
 * END_TRANSACTION and to tell the half scan which halves need no read), about `cap` of them,
 * oldest (lowest offset) forgotten first.
 *
 * Half-queue offsets are dense and resolved roughly in order, so the bulk is a window of one
 * byte per offset, [base, base + window length), not a Map of 200,000 entries: a lookup is
 * an index, nothing is allocated per half, and a checkpoint copies bytes instead of entries.
 * Halves resolved after the window moved past them (a check-back of an old half) go to a small
 * Map below it.
 *
 * Forgetting is only allowed below `forgettable()` (the half scan's position: a later scan
 * would take a forgotten half above it for pending). When the window cannot move, it grows.
 */
export class ResolvedHalves {
  private codes: Uint8Array;
  private base = 0;
  private inWindow = 0;
  private readonly below = new Map<number, number>();

  constructor(
    private readonly cap: number,
    private readonly forgettable: () => number = () => Number.POSITIVE_INFINITY,
  ) {
    this.codes = new Uint8Array(Math.max(16, cap));
  }

  get size(): number {
    return this.inWindow + this.below.size;
  }

  get(offset: number): HalfStatus | undefined {
    const i = offset - this.base;
    const code = i >= 0 ? this.codes[i] : this.below.get(offset);
    return code ? STATUS_CODES[code - 1] : undefined;
  }

  has(offset: number): boolean {
    return this.get(offset) !== undefined;
  }

  set(offset: number, status: HalfStatus): void {
    const code = STATUS_CODES.indexOf(status) + 1;
    if (code === 0) return;
    if (this.inWindow === 0 && (offset < this.base || offset >= this.base + this.codes.length)) {
      this.base = offset; // an empty window moves anywhere: nothing is forgotten
    }
    let i = offset - this.base;
    if (i < 0) {
      this.below.set(offset, code);
      this.trimBelow(offset);
      return;
    }
    if (i >= this.codes.length) {
      this.moveFor(offset);
      i = offset - this.base;
    }
    if (this.codes[i] === 0) this.inWindow++;
    this.codes[i] = code;
  }

  /** Every remembered half, in offset order, as runs (what the checkpoint file stores). */
  runs(): ResolvedRun[] {
    const out: ResolvedRun[] = [];
    let last: ResolvedRun | undefined;
    // A run of one status is extended in place: one array per run, not per half.
    const add = (o: number, count: number, code: number) => {
      if (last && last[0] + last[1] === o && last[2] === code - 1) last[1] += count;
      else {
        last = [o, count, code - 1];
        out.push(last);
      }
    };
    for (const o of [...this.below.keys()].sort((a, b) => a - b)) add(o, 1, this.below.get(o)!);
    // The window, a run at a time (a checkpoint reads all of it: ~cap bytes, mostly one status).
    const { codes } = this;
    const n = codes.length;
    for (let i = 0; i < n; ) {
      const code = codes[i]!;
      let j = i + 1;
      while (j < n && codes[j] === code) j++;
      if (code !== 0) add(this.base + i, j - i, code);
      i = j;
    }
    return out;
  }

  /** Adds the halves of checkpoint runs; throws on a run that names no status or offset. */
  addRuns(runs: readonly ResolvedRun[]): void {
    for (const [from, count, code] of runs) {
      const status = STATUS_CODES[code];
      if (!status || !Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(count) || count < 0) {
        throw new Error("malformed resolved run");
      }
      for (let i = 0; i < count; i++) this.set(from + i, status);
    }
  }

  *entries(): IterableIterator<[number, HalfStatus]> {
    for (const [from, count, code] of this.runs()) {
      for (let i = 0; i < count; i++) yield [from + i, STATUS_CODES[code]!];
    }
  }

  /**
   * Moves the window up so `offset` fits, forgetting the lowest halves, with 1/16 of room to
   * spare (a move per 1/16 of the cap, not per half); grows it where the scan's position
   * forbids forgetting; shrinks it back to the cap once it may.
   */
  private moveFor(offset: number): void {
    const len = this.codes.length;
    const spare = Math.max(1, this.cap >> 4);
    const wanted = offset + spare - this.cap;
    const newBase = Math.max(this.base, Math.min(wanted, this.forgettable()));
    const newLen = Math.max(this.cap, offset + spare - newBase);
    const drop = Math.min(newBase - this.base, len);
    for (let i = 0; i < drop; i++) if (this.codes[i] !== 0) this.inWindow--;
    const keep = this.codes.subarray(Math.min(drop, len));
    if (newLen === len) {
      this.codes.copyWithin(0, drop);
      this.codes.fill(0, len - drop);
    } else {
      const next = new Uint8Array(newLen);
      next.set(keep.subarray(0, Math.min(keep.length, newLen)));
      this.codes = next;
    }
    this.base = newBase;
  }

  /**
   * The Map below the window is kept to 1/16 of the cap (oldest resolved forgotten first),
   * never the half just resolved (`keep`): its END_TRANSACTION may be repeated at once.
   */
  private trimBelow(keep: number): void {
    const max = Math.max(1, this.cap >> 4);
    if (this.below.size <= max) return;
    const limit = this.forgettable();
    for (const o of this.below.keys()) {
      if (this.below.size <= max) break;
      if (o < limit && o !== keep) this.below.delete(o);
    }
  }
}
