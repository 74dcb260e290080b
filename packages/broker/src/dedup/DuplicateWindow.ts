/**
 * Recently stored (or being stored) messages by a 64-bit hash of (topic, UNIQ_KEY), bounded
 * by age and by entry count: what producer de-duplication looks up. Pure (the caller passes
 * the clock).
 *
 * Everything lives in typed arrays: no string, object or Map entry is kept per send, so the
 * window costs the garbage collector nothing however full it is. Two parts:
 * - a ring in store order, entry `seq` at slot `seq & ringMask` (hash 8 B, commit-log offset
 *   8 B, store time 8 B). Entries are numbered by a 32-bit sequence: the live ones are
 *   `tail .. tail + count - 1` (mod 2^32). Expiry and eviction only advance `tail`: they read
 *   the ring in order and never touch the table;
 * - a table of 64-byte buckets (one cache line), each a spill marker and 7 entries (tag = high
 *   hash word, seq). An entry whose seq fell out of the live range is stale and simply
 *   reused by the next insert into its bucket: no deletion, no tombstones, no random access
 *   on eviction. A key is looked up in its bucket only — one cache line for a new key, the
 *   common case — unless the bucket overflowed into the next (marker: the newest seq that
 *   spilled; the spill is over once that seq left the window).
 * The first version hashed twice per send, probed a linear table and deleted from it by
 * backward shift on every eviction (a random cache miss per send once full): 0.7–1.2 µs per
 * send at 1 M entries; this layout: see bench/dedup-window.mjs.
 *
 * About 24 bytes of ring (rounded up to a power of two of entries) and 16 of table per entry
 * (1,000,000 entries ≈ 40 MiB), reserved and written whole at start.
 *
 * A hash match is only a candidate: the caller confirms it against the stored message
 * (DuplicateDetector reads its topic and UNIQ_KEY back from the log), so a collision can
 * never make a new message look like a resend.
 */

export interface DuplicateWindowOptions {
  /** Entries older than this are forgotten, ms. */
  windowMs: number;
  /** Most entries kept; the oldest go first. */
  maxEntries: number;
}

/** Offset of an entry whose message is being stored (its result not known yet). */
export const PENDING = -1;
/** Offset of an entry whose store failed: never an answer. */
const ABANDONED = -2;

/** The high word of the last hashKey(): the hash is two 32-bit words, returned without allocating. */
let lastHi = 0;

/** murmur3's finaliser: every input bit flips about half the output bits. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// The topic's lanes, for the last topic hashed: a broker's sends mostly repeat a few topics
// (the same TopicConfig string), so the topic is hashed once, not per send.
let topicFor: string | undefined;
let topicA = 0;
let topicB = 0;

function hashTopic(topic: string): void {
  let a = 0x9747b28c ^ topic.length;
  let b = 0x5bd1e995;
  for (let i = 0; i < topic.length; i++) {
    a = Math.imul(a ^ topic.charCodeAt(i), 0x01000193);
    b = Math.imul(b + topic.charCodeAt(i), 0x2c1b3c6d);
  }
  topicA = fmix32(a);
  topicB = fmix32(b ^ 0x1ff);
  topicFor = topic;
}

/**
 * 64-bit hash of (topic, uniqKey): returns the low word; `hashHi()` gives the high word.
 * Two 32-bit lanes over the key's UTF-16 units, two units per step and lane (a UNIQ_KEY is
 * 32 hex digits: 8 steps), seeded by the topic's lanes. Quality only decides how often a
 * lookup reads a record back for nothing, never the answer (a match is confirmed).
 */
export function hashKey(topic: string, uniqKey: string): number {
  if (topic !== topicFor) hashTopic(topic);
  let a = topicA;
  let b = topicB;
  const n = uniqKey.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    let k = Math.imul(uniqKey.charCodeAt(i) | (uniqKey.charCodeAt(i + 1) << 16), 0xcc9e2d51);
    let j = Math.imul(uniqKey.charCodeAt(i + 2) | (uniqKey.charCodeAt(i + 3) << 16), 0x1b873593);
    k = (k << 15) | (k >>> 17);
    j = (j << 17) | (j >>> 15);
    a = (Math.imul(((a ^ k) << 13) | ((a ^ k) >>> 19), 5) + 0xe6546b64) | 0;
    b = (Math.imul(((b ^ j) << 15) | ((b ^ j) >>> 17), 5) + 0x561ccd1b) | 0;
  }
  for (; i < n; i++) {
    a = Math.imul(a ^ uniqKey.charCodeAt(i), 0xcc9e2d51);
    b = Math.imul(b + uniqKey.charCodeAt(i), 0x1b873593);
  }
  a ^= n;
  b ^= n;
  lastHi = fmix32((b + Math.imul(a, 0x27d4eb2f)) | 0);
  return fmix32((a + Math.imul(b, 0x165667b1)) | 0);
}

/** High word of the last hashKey(). */
export function hashHi(): number {
  return lastHi;
}

/** 32-bit words per bucket: spill marker seq, spill flag, then 7 × (tag, seq). */
const BUCKET = 16;

export class DuplicateWindow {
  private readonly maxEntries: number;
  // Ring columns, entry seq at seq & ringMask.
  private readonly ringMask: number;
  private tail = 0;
  private count = 0;
  private readonly his: Uint32Array;
  private readonly los: Uint32Array;
  private readonly offsets: Float64Array;
  private readonly ats: Float64Array;
  private readonly bucketMask: number;
  private readonly table: Uint32Array;
  /** Entries dropped because the window was full before they aged out. */
  evictedEarly = 0;

  constructor(private readonly o: DuplicateWindowOptions) {
    const max = Math.max(1, Math.floor(o.maxEntries));
    this.maxEntries = max;
    let cap = 1;
    while (cap < max) cap *= 2;
    this.ringMask = cap - 1;
    this.his = new Uint32Array(cap);
    this.los = new Uint32Array(cap);
    this.offsets = new Float64Array(cap);
    this.ats = new Float64Array(cap);
    // ~4 entries a bucket at the bound (7 places): few spills, and more places than entries.
    let buckets = 1;
    while (buckets * 4 < max) buckets *= 2;
    this.bucketMask = buckets - 1;
    this.table = new Uint32Array(buckets * BUCKET);
    // Written once now: fresh memory is mapped by the OS on first touch, and the table's
    // pages are touched at random by the first sends — two page faults each (read, then
    // write) on the send path cost more than this pass (~40 MiB, a few ms, for the default
    // million entries). The ring is written ahead too, so the window costs the same from
    // the first send as once it has wrapped.
    this.table.fill(0);
    this.his.fill(0);
    this.los.fill(0);
    this.offsets.fill(0);
    this.ats.fill(0);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes reserved by the arrays (resident once the window is full). */
  get bytes(): number {
    return (this.ringMask + 1) * 24 + this.table.length * 4;
  }

  /**
   * The commit-log offset stored under hash (lo, hi) if within the window at `now` (the
   * oldest such entry), PENDING while its store is under way, else -1. A candidate only:
   * confirm against the stored message.
   */
  get(lo: number, hi: number, now: number): number {
    const seq = this.lookup(lo, hi, now);
    return seq < 0 ? -1 : this.offsets[seq & this.ringMask]!;
  }

  /** The offset of live entry `seq` (PENDING while being stored). */
  offsetOf(seq: number): number {
    return this.offsets[seq & this.ringMask]!;
  }

  /** Remembers a stored message under hash (lo, hi) (start-up rebuild); returns its seq. */
  add(lo: number, hi: number, offset: number, at: number): number {
    const seq = this.reserve(lo, hi, at);
    this.offsets[seq & this.ringMask] = offset;
    return seq;
  }

  /**
   * Enters a message about to be stored (offset PENDING until settle()); returns its seq.
   * Not looked up first (the caller just did): a hash entered twice has two entries, and
   * lookups answer with the older.
   */
  reserve(lo: number, hi: number, at: number): number {
    if (this.count === this.maxEntries) {
      this.tail = (this.tail + 1) >>> 0;
      this.count--;
      this.evictedEarly++;
    }
    const seq = (this.tail + this.count) >>> 0;
    const slot = seq & this.ringMask;
    this.his[slot] = hi;
    this.los[slot] = lo;
    this.offsets[slot] = PENDING;
    this.ats[slot] = at;
    this.count++;
    this.insert(lo, hi === 0 ? 1 : hi, seq);
    return seq;
  }

  /** The store of entry `seq` ended: at `offset`, or (offset < 0) not stored. No-op once evicted. */
  settle(seq: number, offset: number): void {
    if (this.live(seq)) this.offsets[seq & this.ringMask] = offset < 0 ? ABANDONED : offset;
  }

  /** Forgets entries older than the window (call periodically). Returns how many went. */
  expire(now: number): number {
    let n = 0;
    const mask = this.ringMask;
    while (this.count > 0 && now - this.ats[this.tail & mask]! > this.o.windowMs) {
      this.tail = (this.tail + 1) >>> 0;
      this.count--;
      n++;
    }
    return n;
  }

  private live(seq: number): boolean {
    return (seq - this.tail) >>> 0 < this.count;
  }

  /**
   * The seq of the oldest live entry under (lo, hi) within the window at `now` and not
   * abandoned, else -1 (an aged-out entry the 1 s expiry has not removed yet is passed
   * over: the same key may have been stored again).
   */
  lookup(lo: number, hi: number, now: number): number {
    const table = this.table;
    const tag = hi === 0 ? 1 : hi;
    const tail = this.tail;
    const count = this.count;
    let best = -1;
    let bestAge = count;
    let b = lo & this.bucketMask;
    for (let hops = 0; hops <= this.bucketMask; hops++) {
      const base = b * BUCKET;
      for (let e = base + 2; e < base + BUCKET; e += 2) {
        if (table[e] !== tag) continue;
        const seq = table[e + 1]!;
        const age = (seq - tail) >>> 0; // position from the oldest live entry
        if (age >= bestAge) continue; // stale, or younger than a match already found
        const slot = seq & this.ringMask;
        if (this.los[slot] !== lo || this.his[slot] !== hi) continue;
        if (now - this.ats[slot]! > this.o.windowMs || this.offsets[slot] === ABANDONED) continue;
        best = seq;
        bestAge = age;
      }
      // Entries of this bucket spilled further only while the newest spilled seq is live.
      if (table[base + 1] === 0 || (table[base]! - tail) >>> 0 >= count) break;
      b = (b + 1) & this.bucketMask;
    }
    return best;
  }

  /** Into the first stale place of the key's bucket, spilling into the next buckets if none. */
  private insert(lo: number, tag: number, seq: number): void {
    const table = this.table;
    const tail = this.tail;
    const count = this.count;
    let b = lo & this.bucketMask;
    for (;;) {
      const base = b * BUCKET;
      for (let e = base + 2; e < base + BUCKET; e += 2) {
        // Empty (tag 0), or stale: its seq left the live range (the new entry's own seq is
        // already counted live, and no place holds it yet).
        if (table[e] === 0 || (table[e + 1]! - tail) >>> 0 >= count || table[e + 1] === seq) {
          table[e] = tag;
          table[e + 1] = seq;
          return;
        }
      }
      // Full of live entries (there are more places than entries: another bucket has room).
      table[base] = seq;
      table[base + 1] = 1;
      b = (b + 1) & this.bucketMask;
    }
  }
}
