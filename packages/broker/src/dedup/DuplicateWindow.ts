/**
 * Recently stored messages by a 64-bit hash of (topic, UNIQ_KEY), bounded by age and by entry
 * count: what producer de-duplication looks up. Pure (the caller passes the clock).
 *
 * Everything lives in typed arrays: no string, object or Map entry is kept per send, so the
 * window costs the garbage collector nothing however full it is (the first version kept
 * each UNIQ_KEY string — a slice that pinned the whole properties text — and its msgId in
 * Maps: ~165 heap bytes per send, promoted and marked again and again). Per entry:
 * - a ring slot in store order (hash 8 B, commit-log offset 8 B, store time 8 B), oldest at
 *   `head`, so expiry and eviction are O(1) from the head;
 * - a slot of an open-addressing table (linear probing, load ≤ 1/2; low hash word 4 B and
 *   ring slot 4 B side by side, one cache line per probe), deleted by backward shift so no
 *   tombstones pile up.
 * About 40 bytes per entry at the bound (1,000,000 entries ≈ 40 MiB). The arrays are
 * reserved whole at start — fresh zeroed memory the OS maps only when first written, so the
 * ring becomes resident as the window fills and the table within the first few thousand
 * sends (its entries land anywhere) — instead of being grown by doubling: each doubling
 * rehashed every entry, 5 % of the broker's CPU while a window filled (profile of
 * bench/broker-send.mjs --dedup).
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

let accA = 0;
let accB = 0;

/** Feeds a string's UTF-16 units, two per 32-bit block (murmur3's block mixing), to both lanes. */
function absorb(s: string): void {
  let a = accA;
  let b = accB;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = Math.imul(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    a ^= k;
    a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe6546b64) | 0;
    b = Math.imul(b ^ k, 0x2c1b3c6d);
    b ^= b >>> 15;
  }
  if (i < n) {
    const k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
    a ^= k;
    b = Math.imul(b ^ k, 0x2c1b3c6d);
  }
  accA = a;
  accB = b;
}

/**
 * 64-bit hash of (topic, uniqKey) as two 32-bit lanes over the UTF-16 units: returns the
 * low word; `hashHi()` gives the high word. The broker already holds both as strings (the
 * consume-queue index needs UNIQ_KEY), so no decoding is added. Quality only decides how
 * often a lookup reads a record back for nothing, never the answer (a match is confirmed).
 */
export function hashKey(topic: string, uniqKey: string): number {
  accA = 0x9747b28c;
  accB = 0x5bd1e995;
  absorb(topic);
  accA ^= 0x1ff; // separator: ("ab","c") ≠ ("a","bc")
  accB ^= topic.length;
  absorb(uniqKey);
  lastHi = fmix32(accB ^ uniqKey.length);
  return fmix32(accA ^ (topic.length + uniqKey.length));
}

/** High word of the last hashKey(). */
export function hashHi(): number {
  return lastHi;
}

export class DuplicateWindow {
  // Ring columns, oldest at `head`.
  private readonly cap: number;
  private head = 0;
  private count = 0;
  private readonly his: Uint32Array;
  private readonly los: Uint32Array;
  private readonly offsets: Float64Array;
  private readonly ats: Float64Array;
  // Open-addressing table, load ≤ 1/2: at 2p the low hash word, at 2p + 1 the ring slot + 1 (0 = empty).
  private readonly mask: number;
  private readonly table: Uint32Array;
  /** Entries dropped because the window was full before they aged out. */
  evictedEarly = 0;

  constructor(private readonly o: DuplicateWindowOptions) {
    const cap = Math.max(1, Math.floor(o.maxEntries));
    this.cap = cap;
    this.his = new Uint32Array(cap);
    this.los = new Uint32Array(cap);
    this.offsets = new Float64Array(cap);
    this.ats = new Float64Array(cap);
    let size = 2;
    while (size < 2 * cap) size *= 2;
    this.mask = size - 1;
    this.table = new Uint32Array(2 * size);
    // Written once now: sends land anywhere in the table, so it is all resident within the
    // first few thousand anyway, and two page faults per page (read, then write) on the send
    // path cost more than one pass here (~16 MiB, a few ms, for the default million entries).
    this.table.fill(0);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes reserved by the arrays (resident once the window is full). */
  get bytes(): number {
    return this.cap * 24 + (this.mask + 1) * 8;
  }

  /**
   * The commit-log offset stored under hash (lo, hi) if within the window at `now`, else -1.
   * A candidate only: confirm against the stored message.
   */
  get(lo: number, hi: number, now: number): number {
    const slot = this.find(lo, hi, now);
    return slot < 0 ? -1 : this.offsets[slot]!;
  }

  /**
   * Remembers a stored message under hash (lo, hi). Not looked up first (the send path just
   * did): a hash added twice has two entries, and lookups find the older one first (linear
   * probing keeps a probe run in insertion order), so the original answer is kept.
   */
  add(lo: number, hi: number, offset: number, at: number): void {
    if (this.count === this.cap) {
      this.dropOldest();
      this.evictedEarly++;
    }
    let slot = this.head + this.count;
    if (slot >= this.cap) slot -= this.cap;
    this.his[slot] = hi;
    this.los[slot] = lo;
    this.offsets[slot] = offset;
    this.ats[slot] = at;
    this.count++;
    this.insert(lo, slot);
  }

  /** Forgets entries older than the window (call periodically). Returns how many went. */
  expire(now: number): number {
    let n = 0;
    while (this.count > 0 && now - this.ats[this.head]! > this.o.windowMs) {
      this.dropOldest();
      n++;
    }
    return n;
  }

  /**
   * The oldest entry under (lo, hi) still within the window at `now` (an aged-out entry the
   * 1 s expiry has not removed yet is passed over: the same key may have been stored again).
   */
  private find(lo: number, hi: number, now: number): number {
    const mask = this.mask;
    const table = this.table;
    for (let p = lo & mask; ; p = (p + 1) & mask) {
      const s = table[2 * p + 1]!;
      if (s === 0) return -1;
      if (table[2 * p] === lo && this.his[s - 1] === hi && now - this.ats[s - 1]! <= this.o.windowMs)
        return s - 1;
    }
  }

  private insert(lo: number, slot: number): void {
    const mask = this.mask;
    const table = this.table;
    let p = lo & mask;
    while (table[2 * p + 1] !== 0) p = (p + 1) & mask;
    table[2 * p] = lo;
    table[2 * p + 1] = slot + 1;
  }

  /** Removes the head entry from the ring and its table slot (backward-shift deletion). */
  private dropOldest(): void {
    const h = this.head;
    const mask = this.mask;
    const table = this.table;
    let i = this.los[h]! & mask;
    while (table[2 * i + 1] !== h + 1) i = (i + 1) & mask;
    // Knuth's algorithm R: pull later entries of the probe run back over the hole unless
    // their home position lies cyclically in (hole, j].
    for (let j = (i + 1) & mask; table[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = table[2 * j]! & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      table[2 * i] = table[2 * j]!;
      table[2 * i + 1] = table[2 * j + 1]!;
      i = j;
    }
    table[2 * i + 1] = 0;
    this.head = h + 1 === this.cap ? 0 : h + 1;
    this.count--;
  }
}
