import {
  fmix32,
  hashHi,
  hashKey,
  hashSeqKey,
  hexValue,
  prefixA,
  prefixB,
  prefixLanes,
  seqValueOfLast,
  step4,
} from "./KeyHash.js";

/**
 * What lets most sends skip the de-duplication table: a UNIQ_KEY as RocketMQ clients make it
 * (our createUniqId, Java's MessageClientIDSetter) is 32 hex digits, a 20-digit producer
 * prefix (IP, pid, a per-process random int) then 8 digits of ms since the month began and a
 * 4-digit counter — so one producer's keys reach the broker in increasing (time, counter)
 * order nearly always. Per producer prefix (a ProducerRun) this keeps:
 * - the largest (time, counter) of the producer's live window entries, by any path (a
 *   sliding maximum: a deque of decreasing values with their seqs);
 * - its run: the seqs of the entries that took the fast path, in seq order, values strictly
 *   increasing (binary-searched for a resend).
 * A key greater than that maximum is in the window under no entry of its producer: new, by
 * one comparison — entered in the ring and the run, no table bucket touched. Every other key
 * (a resend, out-of-order arrival, a month rollover, a clock step back, a key of another
 * shape) takes the hashed table path, and is looked up in the table AND its producer's run.
 *
 * The rule holds only while every live entry of a producer is counted in its maximum. An
 * entry entered by hash alone (a snapshot's, DuplicateWindow.add/reserve) or of a producer
 * that got no run (more than MAX_RUNS producers live) may be any producer's: until the last
 * such entry leaves the window (`unknownUntil`), no key takes the fast path. A run is dropped
 * only once its producer's newest entry has left the window.
 *
 * Pure: the window passes its live range (tail, count) in; a seq is live when
 * (seq - tail) >>> 0 < count.
 */

/** Units of the producer prefix. */
const PREFIX = 20;
/** Units of a key in the format. */
const KEY_UNITS = 32;
/** Producers with a run at once; past it, a new producer's keys take the table path only. */
export const MAX_RUNS = 4096;
/** Places a prefix's run may take from its hash's (ProducerRuns.runFor), and the places' mask. */
const PROBES = 4;
const SLOT_MASK = 4 * MAX_RUNS - 1;

/** A hash of a key's first PREFIX units (which ProducerRun.owns then compares). */
function prefixHash(key: string): number {
  let h = 0x2f1b3c6d;
  for (let i = 0; i < PREFIX; i += 2) {
    h = Math.imul(h ^ (key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)), 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

/** A growable ring of (value, seq) pairs in seq order. */
class Pairs {
  values = new Float64Array(16);
  seqs = new Uint32Array(16);
  head = 0;
  len = 0;

  valueAt(k: number): number {
    return this.values[(this.head + k) & (this.values.length - 1)]!;
  }

  seqAt(k: number): number {
    return this.seqs[(this.head + k) & (this.seqs.length - 1)]!;
  }

  push(value: number, seq: number): void {
    if (this.len === this.values.length) this.resize(2 * this.len);
    const at = (this.head + this.len) & (this.values.length - 1);
    this.values[at] = value;
    this.seqs[at] = seq;
    this.len++;
  }

  /** Drops the oldest pairs whose seq left the window. */
  trim(tail: number, count: number): void {
    while (this.len > 0 && (this.seqs[this.head]! - tail) >>> 0 >= count) {
      this.head = (this.head + 1) & (this.values.length - 1);
      this.len--;
    }
    // A producer that slowed down gives memory back: at most 4 places per live entry.
    if (this.values.length > 64 && 4 * this.len < this.values.length) {
      let n = this.values.length / 2;
      while (n > 64 && 4 * this.len < n) n /= 2;
      this.resize(n);
    }
  }

  /** `n` places (a power of two, at least len). */
  private resize(n: number): void {
    const values = new Float64Array(n);
    const seqs = new Uint32Array(n);
    for (let k = 0; k < this.len; k++) {
      values[k] = this.valueAt(k);
      seqs[k] = this.seqAt(k);
    }
    this.values = values;
    this.seqs = seqs;
    this.head = 0;
  }
}

/** One producer prefix's keys in the window. */
export class ProducerRun {
  /** The topic the lanes were computed for, and the hash lanes of (topic, prefix). */
  topic: string | undefined;
  a = 0;
  b = 0;
  /** Fast-path entries: values strictly increasing. */
  readonly run = new Pairs();
  /** Every live entry's value, as a deque of decreasing values: its front is the maximum. */
  readonly max = new Pairs();
  /** The producer's newest entry (any path). */
  lastSeq = 0;

  /** The prefix's units, two per number (what a key's first 20 units are compared with). */
  private readonly codes = new Int32Array(PREFIX / 2);

  /** Made from a key of the producer (its first PREFIX units). */
  constructor(key: string) {
    for (let i = 0; i < PREFIX / 2; i++)
      this.codes[i] = key.charCodeAt(2 * i) | (key.charCodeAt(2 * i + 1) << 16);
  }

  /** Whether `key` (of KEY_UNITS units) starts with this prefix. */
  owns(key: string): boolean {
    const c = this.codes;
    for (let i = 0; i < PREFIX / 2; i++) {
      if ((key.charCodeAt(2 * i) | (key.charCodeAt(2 * i + 1) << 16)) !== c[i]) return false;
    }
    return true;
  }

  /**
   * After a fast-path entry the maximum deque is that entry alone: held here (topValue,
   * topSeq) instead of in `max`'s arrays, so the send path's common case touches no more
   * memory than the run object for it. `max` is the deque only while `single` is false.
   */
  private single = false;
  private topValue = -1;
  private topSeq = 0;

  /** The largest value among the producer's live entries, or -1. */
  largest(tail: number, count: number): number {
    if (this.single) return (this.topSeq - tail) >>> 0 < count ? this.topValue : -1;
    const d = this.max;
    d.trim(tail, count);
    return d.len === 0 ? -1 : d.valueAt(0);
  }

  /** An entry of this producer's key entered by the table path. */
  noteHashed(value: number, seq: number): void {
    const d = this.max;
    if (this.single) {
      // Back to the deque: the fast-path entry first (if it has left the window meanwhile,
      // largest()'s trim drops it, as any other).
      this.single = false;
      d.len = 0;
      d.head = 0;
      d.push(this.topValue, this.topSeq);
    }
    // Pairs older and not larger can never be the maximum again.
    while (d.len > 0 && d.valueAt(d.len - 1) <= value) d.len--;
    d.push(value, seq);
    this.lastSeq = seq;
  }

  /**
   * An entry that took the fast path (value above every live entry's: largest() was called
   * just before). `push` false: the caller pushed it (and the entries before it) into the run.
   */
  noteFast(value: number, seq: number, tail: number, count: number, push = true): void {
    // Trimmed every 64th entry (or when full), not each: its oldest pair is a cold line
    // (a window back). Pairs left of the window in between are never found (find() trims).
    const r = this.run;
    if ((seq & 63) === 0 || r.len === r.values.length) r.trim(tail, count);
    if (push) r.push(value, seq);
    this.single = true;
    this.topValue = value;
    this.topSeq = seq;
    this.lastSeq = seq;
  }

  /** The seq of the run's live entry with `value` older than seq `young`, or -1. */
  find(value: number, tail: number, count: number, young: number): number {
    const r = this.run;
    r.trim(tail, count);
    // Galloping from the newest end: a key out of order (a multi-threaded producer's) or a
    // quick retry is a few entries back, where the lines are still in cache; the binary
    // search then runs over that last stretch only, not from the middle of a million.
    let lo = 0; // every entry below lo holds a smaller value
    let hi = r.len; // every entry from hi on holds a value >= `value`
    for (let step = 1; hi > 0; step *= 2) {
      const at = hi > step ? hi - step : 0;
      if (r.valueAt(at) < value) {
        lo = at + 1;
        break;
      }
      hi = at;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r.valueAt(mid) < value) lo = mid + 1;
      else hi = mid;
    }
    if (lo === r.len || r.valueAt(lo) !== value) return -1;
    const seq = r.seqAt(lo);
    return (seq - tail) >>> 0 < (young - tail) >>> 0 ? seq : -1;
  }
}

export class ProducerRuns {
  /**
   * Runs by a hash of their prefix (PROBES places from it, holes allowed): found without
   * allocating when sends of several producers interleave (a slice of the key as a Map key
   * cost more than the table the runs save).
   */
  private readonly slots = new Array<ProducerRun | undefined>(SLOT_MASK + 1).fill(undefined);
  private runs = 0;
  private last: ProducerRun | undefined;
  /** A live entry up to this seq may be any producer's (entered by hash alone): no fast path. */
  private unknownUntil = 0;
  private unknown = false;
  private lastSweep = 0;
  /** classify()'s answers: the key's hash words, its value (-1: not in the format) and run. */
  lo = 0;
  hi = 0;
  value = -1;
  runOf: ProducerRun | undefined;

  get size(): number {
    return this.runs;
  }

  /** Bytes of the runs' arrays. */
  get bytes(): number {
    let n = 0;
    for (const r of this.slots) if (r !== undefined) n += 12 * (r.run.values.length + r.max.values.length);
    return n;
  }

  /**
   * Hashes (topic, key) into lo / hi and finds its producer's run (runOf, value). True when
   * the key is greater than every live key of its producer, so in no window entry: enter it
   * with noteFast(). Otherwise look it up in the table and runOf, and note its entry with
   * noted().
   */
  classify(topic: string, key: string, tail: number, count: number): boolean {
    this.runOf = undefined;
    this.value = -1;
    this.fastSeq = -1;
    if (key.length !== KEY_UNITS) {
      this.lo = hashKey(topic, key);
      this.hi = hashHi();
      return false;
    }
    let r = this.last;
    if (r === undefined || !r.owns(key)) {
      r = this.runFor(key, tail, count);
      if (r === undefined) {
        this.lo = hashKey(topic, key);
        this.hi = hashHi();
        hashSeqKey(0, 0, key); // for its value only
        this.value = seqValueOfLast();
        return false;
      }
      this.last = r;
    }
    if (topic !== r.topic) {
      prefixLanes(topic, key, PREFIX);
      r.a = prefixA;
      r.b = prefixB;
      r.topic = topic;
    }
    // hashSeqKey(r.a, r.b, key), hashHi() and seqValueOfLast(), written out here: that
    // function's bytecode is too long for V8 to inline, and calling it cost the broker
    // ~1.5-2 % of a single send's CPU (`bench/dedup-ab-inproc.mjs --three --swap`, 8 pairs:
    // on/off 1.070 against 1.089 with the call; a separate function writing these fields
    // measured as the call), several times what the same arithmetic costs in a tight loop
    // (README, "Why the window costs more inside the broker than alone").
    let a = r.a;
    let b = r.b;
    const c20 = key.charCodeAt(20);
    const c21 = key.charCodeAt(21);
    const c22 = key.charCodeAt(22);
    const c23 = key.charCodeAt(23);
    const c24 = key.charCodeAt(24);
    const c25 = key.charCodeAt(25);
    const c26 = key.charCodeAt(26);
    const c27 = key.charCodeAt(27);
    const c28 = key.charCodeAt(28);
    const c29 = key.charCodeAt(29);
    const c30 = key.charCodeAt(30);
    const c31 = key.charCodeAt(31);
    a = step4(a, c20, c21, 0xcc9e2d51, 15, 13, 0xe6546b64);
    b = step4(b, c22, c23, 0x1b873593, 17, 15, 0x561ccd1b);
    a = step4(a, c24, c25, 0xcc9e2d51, 15, 13, 0xe6546b64);
    b = step4(b, c26, c27, 0x1b873593, 17, 15, 0x561ccd1b);
    a = Math.imul(a ^ c28, 0xcc9e2d51);
    b = Math.imul(b + c28, 0x1b873593);
    a = Math.imul(a ^ c29, 0xcc9e2d51);
    b = Math.imul(b + c29, 0x1b873593);
    a ^= 32;
    b ^= 32;
    const place = fmix32((a + Math.imul(b, 0x165667b1)) | 0) & 0xffffff00;
    const stepByte = ((hexValue(c30) << 4) | hexValue(c31)) & 0xff;
    b = Math.imul(b ^ (c30 | (c31 << 16)), 0x2c1b3c6d);
    this.hi = fmix32((b + Math.imul(a, 0x27d4eb2f)) | 0);
    this.lo = (place | stepByte) >>> 0;
    const hiDigits =
      ((hexValue(c20) << 28) +
        (hexValue(c21) << 24) +
        (hexValue(c22) << 20) +
        (hexValue(c23) << 16) +
        (hexValue(c24) << 12) +
        (hexValue(c25) << 8) +
        (hexValue(c26) << 4) +
        hexValue(c27)) >>>
      0;
    const v = hiDigits * 65536 + (((hexValue(c28) << 12) | (hexValue(c29) << 8) | stepByte) & 0xffff);
    this.value = v;
    this.runOf = r;
    if (this.unknown) {
      if ((this.unknownUntil - tail) >>> 0 < count) return false;
      this.unknown = false;
    }
    return v > r.largest(tail, count);
  }

  /** Keys entered by the fast path (no table bucket touched). */
  fastEntries = 0;

  /** The key classify() just looked at took the fast path as entry `seq`. */
  noteFast(seq: number, tail: number, count: number): void {
    this.fastEntries++;
    this.runOf!.noteFast(this.value, seq, tail, count);
    this.fastSeq = seq;
  }

  /** The entry noteFast() was last told of, until the next classify() (-1: none). */
  fastSeq = -1;

  /**
   * Whether `key` is the next key of `run`'s producer after value `after` (the key before
   * it, which took the fast path): same topic and prefix, in the format, value greater.
   * Then hashed into lo / hi and value, as classify() would: with `after` the producer's
   * largest live value, the key is in no window entry. (A batch's later keys:
   * DuplicateWindow.admitFollowers.)
   */
  next(run: ProducerRun, topic: string, key: string, after: number): boolean {
    if (key.length !== KEY_UNITS || topic !== run.topic || !run.owns(key)) return false;
    // classify's copy of hashSeqKey, for the same reason (a batch's later keys: measured
    // 86 against 93 ns per batched message in bench/dedup-admission.mjs, and on/off 1.044-1.087
    // against 1.084-1.090 in three dedup-ab-inproc batch pairs).
    let a = run.a;
    let b = run.b;
    const c20 = key.charCodeAt(20);
    const c21 = key.charCodeAt(21);
    const c22 = key.charCodeAt(22);
    const c23 = key.charCodeAt(23);
    const c24 = key.charCodeAt(24);
    const c25 = key.charCodeAt(25);
    const c26 = key.charCodeAt(26);
    const c27 = key.charCodeAt(27);
    const c28 = key.charCodeAt(28);
    const c29 = key.charCodeAt(29);
    const c30 = key.charCodeAt(30);
    const c31 = key.charCodeAt(31);
    a = step4(a, c20, c21, 0xcc9e2d51, 15, 13, 0xe6546b64);
    b = step4(b, c22, c23, 0x1b873593, 17, 15, 0x561ccd1b);
    a = step4(a, c24, c25, 0xcc9e2d51, 15, 13, 0xe6546b64);
    b = step4(b, c26, c27, 0x1b873593, 17, 15, 0x561ccd1b);
    a = Math.imul(a ^ c28, 0xcc9e2d51);
    b = Math.imul(b + c28, 0x1b873593);
    a = Math.imul(a ^ c29, 0xcc9e2d51);
    b = Math.imul(b + c29, 0x1b873593);
    a ^= 32;
    b ^= 32;
    const place = fmix32((a + Math.imul(b, 0x165667b1)) | 0) & 0xffffff00;
    const stepByte = ((hexValue(c30) << 4) | hexValue(c31)) & 0xff;
    b = Math.imul(b ^ (c30 | (c31 << 16)), 0x2c1b3c6d);
    const hi = fmix32((b + Math.imul(a, 0x27d4eb2f)) | 0);
    const lo = (place | stepByte) >>> 0;
    const hiDigits =
      ((hexValue(c20) << 28) +
        (hexValue(c21) << 24) +
        (hexValue(c22) << 20) +
        (hexValue(c23) << 16) +
        (hexValue(c24) << 12) +
        (hexValue(c25) << 8) +
        (hexValue(c26) << 4) +
        hexValue(c27)) >>>
      0;
    const v = hiDigits * 65536 + (((hexValue(c28) << 12) | (hexValue(c29) << 8) | stepByte) & 0xffff);
    if (!(v > after)) return false;
    this.lo = lo;
    this.hi = hi;
    this.value = v;
    return true;
  }

  /**
   * `k` keys after the fast-path entry fastSeq were entered into `run` by next() (its
   * run pairs pushed), the last `value` as entry `seq`: the producer's maximum is now that
   * entry alone, as k noteFast() calls would leave it.
   */
  notedFollowers(run: ProducerRun, k: number, value: number, seq: number, tail: number, count: number): void {
    this.fastEntries += k;
    run.noteFast(value, seq, tail, count, false);
    this.fastSeq = seq;
  }

  /** The key classify() just looked at was entered by the table path as entry `seq`. */
  noted(seq: number): void {
    if (this.runOf !== undefined) this.runOf.noteHashed(this.value, seq);
    else if (this.value >= 0) this.unknownEntry(seq); // a producer without a run
  }

  /** Entry `seq` was entered by its hash alone: it may be any producer's. */
  unknownEntry(seq: number): void {
    this.unknownUntil = seq;
    this.unknown = true;
  }

  /**
   * Drops the runs whose producer has no live entry left (their arrays with them), and trims
   * the others: the window calls it as it expires entries (every second), so a producer that
   * went away (a restarted client has a new prefix) holds no memory past the window.
   */
  sweep(tail: number, count: number): void {
    this.lastSweep = (tail + count) >>> 0;
    if (this.runs === 0) return;
    for (let slot = 0; slot <= SLOT_MASK; slot++) {
      const r = this.slots[slot];
      if (r === undefined) continue;
      if ((r.lastSeq - tail) >>> 0 >= count) {
        this.slots[slot] = undefined;
        this.runs--;
        if (this.last === r) this.last = undefined;
      } else {
        r.run.trim(tail, count);
        r.max.trim(tail, count);
      }
    }
  }

  /** The run of `key`'s prefix: made if new and there is room. */
  private runFor(key: string, tail: number, count: number): ProducerRun | undefined {
    const h = prefixHash(key);
    let free = -1;
    for (let k = 0; k < PROBES; k++) {
      const slot = (h + k) & SLOT_MASK;
      const r = this.slots[slot];
      if (r === undefined) {
        if (free < 0) free = slot;
      } else if (r.owns(key)) return r;
    }
    if (free < 0 || this.runs >= MAX_RUNS) {
      // Runs whose producer has no live entry left go; at most one sweep per MAX_RUNS sends.
      if ((tail + count - this.lastSweep) >>> 0 < MAX_RUNS) return undefined;
      this.sweep(tail, count);
      free = -1;
      for (let k = 0; k < PROBES && free < 0; k++) {
        if (this.slots[(h + k) & SLOT_MASK] === undefined) free = (h + k) & SLOT_MASK;
      }
      if (free < 0 || this.runs >= MAX_RUNS) return undefined;
    }
    const r = new ProducerRun(key);
    // Its newest entry is none yet: a seq just left of the window, so a sweep may drop it.
    r.lastSeq = (tail - 1) >>> 0;
    this.slots[free] = r;
    this.runs++;
    return r;
  }
}
