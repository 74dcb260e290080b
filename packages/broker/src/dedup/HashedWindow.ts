/**
 * The de-duplication window's storage by hash (DuplicateWindow adds the keyed view): a ring
 * of entries in store order and a table of 64-byte buckets; see DuplicateWindow for the
 * layout and what it costs. Pure (the caller passes the clock).
 */
import { ProducerRuns } from "./ProducerRuns.js";

export interface HashedWindowOptions {
  /** Entries older than this are forgotten, ms. */
  windowMs: number;
  /** Most entries kept; the oldest go first. */
  maxEntries: number;
}

/** Bytes of one ring entry (and of one snapshot entry, see copyOut). */
export const ENTRY_BYTES = 24;

/** Offset of an entry whose message is being stored (its result not known yet). */
export const PENDING = -1;
/** Offset of an entry whose store failed: never an answer. */
export const ABANDONED = -2;

/**
 * The offset field of a batch's later message (a follower): `index` entries and records
 * after the batch's first message (its lead), whose entry alone gets the offset once
 * stored — one settle per batch, not one per message. Its state (pending, abandoned,
 * stored) is the lead's; its record is found from the lead's by stepping over `index`
 * records (only on a hit). A follower whose lead left the window never answers.
 */
export function followerMark(index: number): number {
  return ABANDONED - index;
}

/** The index of a follower mark (an offset field below ABANDONED); 0 for any other value. */
export function followerIndex(offsetField: number): number {
  return offsetField < ABANDONED ? ABANDONED - offsetField : 0;
}

/** 32-bit words per bucket (one 64-byte cache line): spill marker seq, spill flag, then 14 entries. */
const BUCKET = 16;
/**
 * Live entries per bucket at the bound, of 14 places. Measured with 12 M random keys through a
 * 1 M window: 18 % of buckets have a live spill into the next line, and stale entries that
 * alias a live seq add 0.4 live-looking places per bucket.
 */
const ENTRIES_PER_BUCKET = 8.5;

export class HashedWindow {
  protected readonly maxEntries: number;
  // Ring columns, entry seq at seq & ringMask.
  protected readonly ringMask: number;
  protected tail = 0;
  protected count = 0;
  // The ring's entries, 24 bytes each, interleaved (one cache line written per send, not
  // one per column): hash low and high words at words[6 slot], [6 slot + 1]; commit-log
  // offset and store time at nums[3 slot + 1], [3 slot + 2] (two views of one buffer).
  protected readonly words: Uint32Array;
  protected readonly nums: Float64Array;
  /** A table entry is (tag << seqBits) | (seq & seqMask); 0 = empty. */
  private readonly seqBits: number;
  private readonly seqMask: number;
  private readonly buckets: number;
  private readonly table: Uint32Array;
  /**
   * A full bucket spills this many buckets further (not into the next one): neighbouring
   * buckets hold the same producers' runs of keys (hashKey), so their loads rise and fall
   * together, and spilling next door cascaded through hundreds of full neighbours (measured:
   * runs of 368–927 spilled buckets, 1.4 µs per send). Coprime with the bucket count, so the
   * chain reaches every bucket.
   */
  private readonly spillStride: number;
  /** Entries dropped because the window was full before they aged out. */
  evictedEarly = 0;
  /** Per producer, what lets a new key skip the table (ProducerRuns). */
  /** Per producer, what lets a new key skip the table (ProducerRuns; DuplicateWindow uses it). */
  readonly runs = new ProducerRuns();

  constructor(protected readonly o: HashedWindowOptions) {
    const max = Math.max(1, Math.floor(o.maxEntries));
    this.maxEntries = max;
    let cap = 1;
    let ringBits = 0;
    while (cap < max) {
      cap *= 2;
      ringBits++;
    }
    if (ringBits > 28) throw new RangeError(`duplicate window of ${max} entries: at most 2^28`);
    this.ringMask = cap - 1;
    const ring = new ArrayBuffer(cap * 24);
    this.words = new Uint32Array(ring);
    this.nums = new Float64Array(ring);
    // The table is the one part read at random on every send: its size decides whether that
    // read is a cache and TLB hit (measured on a 2-core EPYC VM: a dependent random read into
    // 8 MiB ~24 ns, into 16 MiB ~120 ns). So an entry is 4 bytes, not 8: a tag from the
    // hash's high word and the low ringBits + 2 bits of its seq, from which the full seq is
    // recovered as the one in the live range (an entry 4 ring lengths older aliases to a live
    // seq; it only costs a ring read on a tag match, and is reused once it looks stale again).
    // A tag match is confirmed against the ring's full hash. 1 M entries: 7.2 MiB.
    this.seqBits = ringBits + 2;
    this.seqMask = 2 ** this.seqBits - 1;
    this.buckets = Math.max(2, Math.ceil(max / ENTRIES_PER_BUCKET));
    this.table = new Uint32Array(this.buckets * BUCKET);
    let stride = Math.max(1, Math.floor(this.buckets * 0.381966));
    while (gcd(stride, this.buckets) !== 1) stride++;
    this.spillStride = stride;
    // Written once now: fresh memory is mapped by the OS on first touch, and the table's
    // pages are touched at random by the first sends — two page faults each (read, then
    // write) on the send path cost more than this pass (~32 MiB, a few ms, for the default
    // million entries). The ring is written ahead too, so the window costs the same from
    // the first send as once it has wrapped.
    this.table.fill(0);
    this.words.fill(0);
  }

  get size(): number {
    return this.count;
  }

  /** The seq the next entry gets (one past the newest). */
  get headSeq(): number {
    return (this.tail + this.count) >>> 0;
  }

  /** The seq of the oldest live entry. */
  get tailSeq(): number {
    return this.tail;
  }

  /** Whether a live entry older than seq `before` is still being stored (offset PENDING). */
  pendingBefore(before: number): boolean {
    const n = Math.min((before - this.tail) >>> 0, this.count);
    for (let k = 0; k < n; k++) {
      if (this.nums[3 * ((this.tail + k) & this.ringMask) + 1] === PENDING) return true;
    }
    return false;
  }

  /**
   * Copies the raw ring entries from seq `from` (at most `n`, not past the ring's end) into
   * `dst` at byte `at`, ENTRY_BYTES each (hash low and high words, commit-log offset, store
   * time, native byte order); returns how many it copied. A snapshot's bytes: read back
   * with entryFields.
   */
  copyOut(from: number, n: number, dst: Uint8Array, at: number): number {
    const slot = from & this.ringMask;
    const k = Math.min(n, this.ringMask + 1 - slot);
    dst.set(new Uint8Array(this.words.buffer, slot * ENTRY_BYTES, k * ENTRY_BYTES), at);
    return k;
  }

  /** Bytes reserved by the arrays (resident once the window is full). */
  get bytes(): number {
    return (this.ringMask + 1) * 24 + this.table.length * 4 + this.runs.bytes;
  }

  /**
   * The commit-log offset stored under hash (lo, hi) if within the window at `now` (the
   * oldest such entry), PENDING while its store is under way, else -1. A candidate only:
   * confirm against the stored message.
   */
  get(lo: number, hi: number, now: number): number {
    const seq = this.lookup(lo, hi, now);
    return seq < 0 ? -1 : this.nums[3 * (seq & this.ringMask) + 1]!;
  }

  /** The offset field of live entry `seq`: an offset, PENDING, or a follower mark (followerIndex). */
  offsetOf(seq: number): number {
    return this.nums[3 * (seq & this.ringMask) + 1]!;
  }

  /** Most entries kept. */
  get capacity(): number {
    return this.maxEntries;
  }

  /**
   * The store state of live entry `seq`: its offset, PENDING or ABANDONED — for a follower,
   * its lead's (ABANDONED once the lead left the window).
   */
  stateOf(seq: number): number {
    const v = this.nums[3 * (seq & this.ringMask) + 1]!;
    if (v >= ABANDONED) return v;
    const lead = (seq - (ABANDONED - v)) >>> 0;
    return this.live(lead) ? this.nums[3 * (lead & this.ringMask) + 1]! : ABANDONED;
  }

  /** Whether `seq` is a live follower (followerMark). */
  isFollower(seq: number): boolean {
    return this.live(seq) && this.nums[3 * (seq & this.ringMask) + 1]! < ABANDONED;
  }

  /** Remembers a stored message under hash (lo, hi) (start-up rebuild); returns its seq. */
  add(lo: number, hi: number, offset: number, at: number): number {
    const seq = this.reserve(lo, hi, at);
    this.nums[3 * (seq & this.ringMask) + 1] = offset;
    return seq;
  }

  /**
   * Enters a message about to be stored (offset PENDING until settle()) by its hash alone;
   * returns its seq. Not looked up first (the caller just did): a hash entered twice has two
   * entries, and lookups answer with the older. The key is unknown here, so no key takes the
   * fast path while this entry is live (ProducerRuns): the send path uses reserveUniq().
   */
  reserve(lo: number, hi: number, at: number): number {
    const seq = this.enter(lo, hi, at, PENDING);
    this.insert(lo, hi, seq);
    this.runs.unknownEntry(seq);
    return seq;
  }

  /** Puts a new entry in the ring (the oldest goes if full), in no table bucket; returns its seq. */
  protected enter(lo: number, hi: number, at: number, mark: number): number {
    if (this.count === this.maxEntries) {
      this.tail = (this.tail + 1) >>> 0;
      this.count--;
      this.evictedEarly++;
    }
    const seq = (this.tail + this.count) >>> 0;
    const slot = seq & this.ringMask;
    this.words[6 * slot] = lo;
    this.words[6 * slot + 1] = hi;
    this.nums[3 * slot + 1] = mark;
    this.nums[3 * slot + 2] = at;
    this.count++;
    return seq;
  }

  /** The store of entry `seq` ended: at `offset`, or (offset < 0) not stored. No-op once evicted. */
  settle(seq: number, offset: number): void {
    if (this.live(seq)) this.nums[3 * (seq & this.ringMask) + 1] = offset < 0 ? ABANDONED : offset;
  }

  /** Forgets entries older than the window, and producer runs with none left (call periodically). Returns how many entries went. */
  expire(now: number): number {
    let n = 0;
    const mask = this.ringMask;
    while (this.count > 0 && now - this.nums[3 * (this.tail & mask) + 2]! > this.o.windowMs) {
      this.tail = (this.tail + 1) >>> 0;
      this.count--;
      n++;
    }
    this.runs.sweep(this.tail, this.count);
    return n;
  }

  protected live(seq: number): boolean {
    return (seq - this.tail) >>> 0 < this.count;
  }

  /** Places from the oldest live entry to `seq` (0: the oldest); count or more: not live. */
  protected positionOf(seq: number): number {
    return (seq - this.tail) >>> 0;
  }

  /** The table tag of high hash word `hi`: its top bits, never 0 (0 marks an empty place). */
  private tagOf(hi: number): number {
    return hi >>> this.seqBits || 1;
  }

  /**
   * The key's home bucket: the low word's top 24 bits scaled to the bucket count (any count,
   * not only powers of two), then its bottom byte further on (hashKey: consecutive UNIQ_KEYs
   * of one producer go to consecutive buckets). Uniform for uniform words.
   */
  private home(lo: number): number {
    const b = Math.floor(((lo >>> 8) * this.buckets) / 16777216) + (lo & 0xff);
    return b < this.buckets ? b : b % this.buckets;
  }

  /**
   * The seq of the oldest live entry under (lo, hi) within the window at `now` and not
   * abandoned, else -1 (an aged-out entry the 1 s expiry has not removed yet is passed
   * over: the same key may have been stored again). With `from`, only entries at least
   * `from` places from the oldest live one (positionOf) count: the next candidate after
   * one whose read-back missed (DuplicateWindow.nextUniq).
   */
  lookup(lo: number, hi: number, now: number, from = 0): number {
    const table = this.table;
    const tag = this.tagOf(hi);
    const bits = this.seqBits;
    const seqMask = this.seqMask;
    const tail = this.tail;
    const count = this.count;
    const head = (tail + count) >>> 0;
    let best = -1;
    let bestAge = count;
    let b = this.home(lo);
    for (let hops = 0; hops < this.buckets; hops++) {
      const base = b * BUCKET;
      for (let e = base + 2; e < base + BUCKET; e++) {
        const v = table[e]!;
        if (v >>> bits !== tag) continue;
        // How many entries back from the newest (1 = the newest); live when 1..count.
        const back = (head - (v & seqMask)) & seqMask;
        if (back === 0 || back > count) continue; // stale
        const age = count - back; // position from the oldest live entry
        if (age >= bestAge || age < from) continue; // younger than a match already found, or too old
        const seq = (head - back) >>> 0;
        if (!this.answers(seq, lo, hi, now)) continue;
        best = seq;
        bestAge = age;
      }
      // Entries of this bucket spilled further only while the newest spilled seq is live.
      if (table[base + 1] === 0 || (table[base]! - tail) >>> 0 >= count) break;
      b += this.spillStride;
      if (b >= this.buckets) b -= this.buckets;
    }
    return best;
  }

  /**
   * Whether live entry `seq` is the key (hash lo, hi) and may answer for it: within the
   * window's time, and not abandoned (its store failed). lookup's rules, shared by every
   * path that finds an entry (the table's buckets, a producer's run).
   */
  protected answers(seq: number, lo: number, hi: number, now: number): boolean {
    const slot = seq & this.ringMask;
    if (this.words[6 * slot] !== lo || this.words[6 * slot + 1] !== hi) return false;
    return now - this.nums[3 * slot + 2]! <= this.o.windowMs && this.stateOf(seq) !== ABANDONED;
  }

  /**
   * lookup() and reserve() in one pass over the key's bucket (the send path): if an entry
   * under (lo, hi) older than seq `young` answers (lookup's rules), returns -1 - its seq and
   * enters nothing; else enters the key with offset field `mark` (PENDING, or a followerMark)
   * and returns its seq (>= 0). Entries from `young` on are the caller's own, just entered
   * (a batch may hold one key twice): never a match. The bucket line read for the lookup is
   * the one written, and its first free place is noted on the way (insert() only when the
   * home bucket has none).
   */
  protected admitKey(lo: number, hi: number, now: number, young: number, mark: number): number {
    const table = this.table;
    const tag = this.tagOf(hi);
    const bits = this.seqBits;
    const seqMask = this.seqMask;
    const tail = this.tail;
    const count = this.count;
    const head = (tail + count) >>> 0;
    // The caller's own entries are the newest `own`: 1..own entries back.
    const own = (head - young) >>> 0;
    let best = -1;
    let bestAge = count;
    let free = -1;
    let b = this.home(lo);
    for (let hops = 0; hops < this.buckets; hops++) {
      const base = b * BUCKET;
      for (let e = base + 2; e < base + BUCKET; e++) {
        const v = table[e]!;
        // Most places hold another tag: only the first free place is looked for among them.
        if (v >>> bits !== tag) {
          if (free < 0 && hops === 0 && (v === 0 || stale(head, v, seqMask, count))) free = e;
          continue;
        }
        const back = (head - (v & seqMask)) & seqMask;
        if (back === 0 || back > count) {
          // Stale now, so stale once the new entry is counted too (insert()'s test).
          if (free < 0 && hops === 0) free = e;
          continue;
        }
        if (back <= own) continue;
        const age = count - back;
        if (age >= bestAge) continue;
        const seq = (head - back) >>> 0;
        if (!this.answers(seq, lo, hi, now)) continue;
        best = seq;
        bestAge = age;
      }
      if (table[base + 1] === 0 || (table[base]! - tail) >>> 0 >= count) break;
      b += this.spillStride;
      if (b >= this.buckets) b -= this.buckets;
    }
    if (best >= 0) return -1 - best;
    const seq = this.enter(lo, hi, now, mark); // head: an eviction moves tail and count alike
    if (free >= 0) table[free] = ((tag << bits) | (seq & seqMask)) >>> 0;
    else this.insert(lo, hi, seq);
    return seq;
  }

  /** Into the first stale place of the key's bucket, spilling into further buckets (spillStride) if none. */
  protected insert(lo: number, hi: number, seq: number): void {
    const table = this.table;
    const bits = this.seqBits;
    const seqMask = this.seqMask;
    const count = this.count;
    const head = (this.tail + count) >>> 0;
    const v = ((this.tagOf(hi) << bits) | (seq & seqMask)) >>> 0;
    const home = this.home(lo);
    let b = home;
    for (let hops = 0; hops < this.buckets; hops++) {
      const base = b * BUCKET;
      for (let e = base + 2; e < base + BUCKET; e++) {
        // Empty (0), or stale: not 1..count entries back from the newest (the new entry's
        // own seq is already counted live, and no place holds it yet).
        const back = (head - (table[e]! & seqMask)) & seqMask;
        if (table[e] === 0 || back === 0 || back > count) {
          table[e] = v;
          return;
        }
      }
      // Full of live-looking entries: another bucket has room (there are more places than
      // entries, and aliased stale ones look live only a quarter of the time).
      table[base] = seq;
      table[base + 1] = 1;
      b += this.spillStride;
      if (b >= this.buckets) b -= this.buckets;
    }
    // Every place looks live (cannot happen with more places than entries): the key's
    // home bucket gives up its first place, so the table never loops or grows.
    table[home * BUCKET + 2] = v;
  }
}

/** Whether table entry `v` is not 1..count entries back from `head` (its seq left the window). */
function stale(head: number, v: number, seqMask: number, count: number): boolean {
  const back = (head - (v & seqMask)) & seqMask;
  return back === 0 || back > count;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
