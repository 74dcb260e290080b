/**
 * Recently stored (or being stored) messages by a 64-bit hash of (topic, UNIQ_KEY), bounded
 * by age and by entry count: what producer de-duplication looks up. Pure (the caller passes
 * the clock).
 *
 * Everything lives in typed arrays: no string, object or Map entry is kept per send, so the
 * window costs the garbage collector nothing however full it is. Two parts:
 * - a ring in store order, entry `seq` at slot `seq & ringMask` (hash 8 B, commit-log offset
 *   8 B, store time 8 B). Entries are numbered by a 32-bit sequence: the live ones are
 *   `tail .. tail + count - 1` (mod 2^32). A batch's later messages hold a mark pointing at
 *   the batch's first entry instead of an offset (followerMark): a batch is settled once.
 *   Expiry and eviction only advance `tail`: they read
 *   the ring in order and never touch the table;
 * - a table of 64-byte buckets (one cache line), each a spill marker and 14 entries of 4 bytes
 *   (tag = top bits of the high hash word, low bits of the seq). An entry whose seq fell out of the live range is stale and simply
 *   reused by the next insert into its bucket: no deletion, no tombstones, no random access
 *   on eviction. A key is looked up in its bucket only — one cache line for a new key, the
 *   common case — unless the bucket overflowed into another (marker: the newest seq that
 *   spilled; the spill is over once that seq left the window). A producer's consecutive
 *   UNIQ_KEYs have neighbouring buckets (hashKey), so that line is the next of a stream the
 *   CPU prefetches, not a random cache and TLB miss per send;
 * - per producer prefix of a client's UNIQ_KEY, its run (ProducerRuns): a key greater than
 *   every live key of its producer — nearly every send — is new by one comparison and goes
 *   into the ring and the run only, hashed from the producer's cached prefix lanes; a key not
 *   greater (a resend, out of order, a rollover) is looked up in the table and the run.
 * The first version hashed twice per send, probed a linear table and deleted from it by
 * backward shift on every eviction (a random cache miss per send once full): 0.7–1.2 µs per
 * send at 1 M entries; this layout: see bench/dedup-window.mjs.
 *
 * About 24 bytes of ring (rounded up to a power of two of entries) and 7.5 of table per entry
 * (1,000,000 entries ≈ 31.5 MiB, of which the 7.2 MiB table is what sends read at random),
 * reserved and written whole at start; the runs add up to 12 bytes per fast-path entry (their
 * arrays grow by doubling, so at most twice that), allocated as producers send.
 *
 * A hash match is only a candidate: the caller confirms it against the stored message
 * (DuplicateDetector reads its topic and UNIQ_KEY back from the log), so a collision can
 * never make a new message look like a resend.
 */

import { followerMark, HashedWindow, type HashedWindowOptions, PENDING } from "./HashedWindow.js";

export {
  ENTRY_BYTES,
  followerIndex,
  followerMark,
  type HashedWindowOptions as DuplicateWindowOptions,
  PENDING,
} from "./HashedWindow.js";
export { hashHi, hashKey } from "./KeyHash.js";

export class DuplicateWindow extends HashedWindow {
  constructor(o: HashedWindowOptions) {
    super(o);
  }

  /**
   * The send path's admission of (topic, uniqKey): if an entry of that key older than seq
   * `young` answers (lookup's rules), returns -1 - its seq and enters nothing; else enters
   * the key with offset field `mark` (PENDING, or a followerMark) and returns its seq (>= 0).
   * Entries from `young` on are the caller's own. A key greater than every live key of its
   * producer (ProducerRuns: the common case) is new by one comparison and goes into the ring
   * and its producer's run only; any other is looked up in its run and the table.
   */
  admitUniq(topic: string, uniqKey: string, now: number, young: number, mark: number): number {
    const runs = this.runs;
    if (runs.classify(topic, uniqKey, this.tail, this.count)) {
      const seq = this.enter(runs.lo, runs.hi, now, mark);
      runs.noteFast(seq, this.tail, this.count);
      return seq;
    }
    const lo = runs.lo;
    const hi = runs.hi;
    const inRun = this.runMatch(lo, hi, now, young);
    if (inRun >= 0) return -1 - this.older(inRun, this.lookup(lo, hi, now));
    const r = this.admitKey(lo, hi, now, young, mark);
    if (r >= 0) runs.noted(r);
    return r;
  }

  /**
   * A batch's messages from index `from` on, right after admitUniq() entered message
   * from - 1 by its producer's fast path: each message whose key is that producer's next
   * (same topic, prefix and a greater value than the message before: ProducerRuns.next) is
   * entered as follower `i` of the batch (followerMark), by one comparison as admitUniq's
   * fast path would, without its run look-up and maximum upkeep per key. Returns the index
   * of the first message not entered (inputs.length: all were); the caller admits that one
   * with admitUniq().
   */
  admitFollowers(inputs: readonly { topic: string; uniqKey?: string }[], from: number, now: number): number {
    const runs = this.runs;
    const run = runs.runOf;
    const n = inputs.length;
    if (from >= n || run === undefined || runs.fastSeq !== (this.headSeq - 1) >>> 0) return from;
    let value = runs.value;
    let seq = -1;
    let i = from;
    for (; i < n; i++) {
      const m = inputs[i]!;
      const key = m.uniqKey;
      if (key === undefined || !runs.next(run, m.topic, key, value)) break;
      value = runs.value;
      seq = this.enter(runs.lo, runs.hi, now, followerMark(i));
      run.run.push(value, seq);
    }
    if (seq >= 0) runs.notedFollowers(run, i - from, value, seq, this.tail, this.count);
    return i;
  }

  /** lookup() of (topic, uniqKey): its producer's run and the table. */
  lookupUniq(topic: string, uniqKey: string, now: number): number {
    const runs = this.runs;
    if (runs.classify(topic, uniqKey, this.tail, this.count)) return -1;
    const lo = runs.lo;
    const hi = runs.hi;
    return this.older(this.runMatch(lo, hi, now, this.headSeq), this.lookup(lo, hi, now));
  }

  /**
   * The oldest live entry of (topic, uniqKey) younger than seq `after` that answers by
   * lookup's rules, else -1: where a resend is confirmed next when entry `after` (the one
   * admitUniq or lookupUniq gave, or the previous nextUniq) did not read back as that
   * message. Every entry older than the oldest live one counts as older than all of them
   * (`after` may have left the window meanwhile). Only after a read-back miss: never on
   * the send path of a new key.
   */
  nextUniq(topic: string, uniqKey: string, after: number, now: number): number {
    const runs = this.runs;
    if (runs.classify(topic, uniqKey, this.tail, this.count)) return -1;
    const lo = runs.lo;
    const hi = runs.hi;
    const from = this.live(after) ? this.positionOf(after) + 1 : 0;
    // The run holds at most one entry of the key (its values increase strictly).
    let inRun = this.runMatch(lo, hi, now, this.headSeq);
    if (inRun >= 0 && this.positionOf(inRun) < from) inRun = -1;
    return this.older(inRun, this.lookup(lo, hi, now, from));
  }

  /** reserve() of (topic, uniqKey), kept in its producer's run: returns its seq. */
  reserveUniq(topic: string, uniqKey: string, at: number): number {
    const runs = this.runs;
    if (runs.classify(topic, uniqKey, this.tail, this.count)) {
      const seq = this.enter(runs.lo, runs.hi, at, PENDING);
      runs.noteFast(seq, this.tail, this.count);
      return seq;
    }
    const seq = this.enter(runs.lo, runs.hi, at, PENDING);
    this.insert(runs.lo, runs.hi, seq);
    runs.noted(seq);
    return seq;
  }

  /** add() of a stored (topic, uniqKey) (start-up rebuild from the log, a leader's catch-up). */
  addUniq(topic: string, uniqKey: string, offset: number, at: number): number {
    const seq = this.reserveUniq(topic, uniqKey, at);
    this.nums[3 * (seq & this.ringMask) + 1] = offset;
    return seq;
  }

  /**
   * The seq of the live entry in the run of the key classify() just looked at (runs.value)
   * older than `young`, if it is that key's (hash lo, hi) and answers by lookup's rules; else -1.
   */
  private runMatch(lo: number, hi: number, now: number, young: number): number {
    const run = this.runs.runOf;
    if (run === undefined) return -1;
    const seq = run.find(this.runs.value, this.tail, this.count, young);
    return seq >= 0 && this.answers(seq, lo, hi, now) ? seq : -1;
  }

  /** The older of two live seqs (-1: none). */
  private older(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    return (a - this.tail) >>> 0 <= (b - this.tail) >>> 0 ? a : b;
  }
}
