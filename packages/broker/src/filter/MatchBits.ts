/**
 * Which messages of one consume queue match one SQL92 expression, for the queue offsets
 * evaluated so far: `[base, end)`, one bit each. Pure; the SqlMatchIndex appends results in
 * queue order as messages arrive, and a pull skips the offsets known not to match without
 * reading them from the commit log (RocketMQ keeps a bloom filter of matching groups in its
 * consume-queue extension for the same purpose).
 *
 * Bounded: past `maxBits` offsets the oldest whole words are dropped (`base` moves up), so an
 * old offset becomes "not known" again and its pull evaluates as without the bits.
 */
export class MatchBits {
  /** Queue offset of bit 0 of words[0]. */
  private origin: number;
  private words: Uint32Array;
  /** First offset known (below: not evaluated, or dropped). */
  base: number;
  /** First offset not evaluated yet. */
  end: number;

  constructor(
    from: number,
    private readonly maxBits = 1 << 23,
  ) {
    if (!(maxBits >= 64)) throw new RangeError(`MatchBits of ${maxBits} bits: at least 64`);
    this.origin = from;
    this.base = from;
    this.end = from;
    this.words = new Uint32Array(Math.min(64, Math.ceil(maxBits / 32)));
  }

  /** True when `offset` was evaluated and its bit is kept. */
  covers(offset: number): boolean {
    return offset >= this.base && offset < this.end;
  }

  /** Whether a covered offset matched (false outside the covered range: ask covers() first). */
  has(offset: number): boolean {
    if (offset < this.base || offset >= this.end) return false;
    const i = offset - this.origin;
    return ((this.words[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /**
   * The first offset in [from, end) whose bit is set, else `end` (everything between is
   * known not to match). Word at a time, so skipping a million non-matching offsets costs
   * ~31,000 word tests and no read at all. `from` below `base` answers `from` (not known).
   */
  nextMatch(from: number): number {
    if (from < this.base) return from;
    if (from >= this.end) return this.end;
    let i = from - this.origin;
    const last = this.end - this.origin;
    // The rest of the first word.
    let w = this.words[i >>> 5]! >>> (i & 31);
    if (w !== 0) {
      const at = i + (31 - Math.clz32(w & -w));
      return at < last ? this.origin + at : this.end;
    }
    i = (i | 31) + 1;
    while (i < last) {
      w = this.words[i >>> 5]!;
      if (w !== 0) {
        const at = i + (31 - Math.clz32(w & -w));
        return at < last ? this.origin + at : this.end;
      }
      i += 32;
    }
    return this.end;
  }

  /** Appends the result of offset `end` (results come in queue order). */
  push(match: boolean): void {
    let i = this.end - this.origin;
    if (i >>> 5 >= this.words.length) {
      this.makeRoom();
      i = this.end - this.origin;
    }
    if (match) this.words[i >>> 5]! |= 1 << (i & 31);
    this.end++;
  }

  /**
   * Marks offsets up to `offset` (exclusive) as not matching: entries the store no longer
   * holds (below the log's first record), which no pull can return.
   */
  skipTo(offset: number): void {
    while (this.end < offset) this.push(false);
  }

  /** Starts over at `offset`: nothing is known (the queue's start moved past what was kept). */
  restart(offset: number): void {
    this.origin = offset;
    this.base = offset;
    this.end = offset;
    this.words.fill(0);
  }

  /** Offsets matched in [from, to) (for tests and diagnostics). */
  count(from: number, to: number): number {
    let n = 0;
    for (let o = Math.max(from, this.base); o < Math.min(to, this.end); o++) if (this.has(o)) n++;
    return n;
  }

  private makeRoom(): void {
    const used = this.words.length;
    if (used * 32 < this.maxBits) {
      const grown = new Uint32Array(Math.min(used * 2, Math.ceil(this.maxBits / 32)));
      grown.set(this.words);
      this.words = grown;
      return;
    }
    // Full: the oldest half goes.
    const drop = used >>> 1;
    this.words.copyWithin(0, drop);
    this.words.fill(0, used - drop);
    this.origin += drop * 32;
    if (this.base < this.origin) this.base = this.origin;
  }
}
