/**
 * Recently stored messages by (topic, UNIQ_KEY), bounded by age and by entry count: what
 * producer de-duplication looks up. Pure (the caller passes the clock).
 *
 * One map per topic keyed by the UNIQ_KEY string itself: no key is built per send, and V8
 * caches a string's hash in the string, so the lookup before the put and the insert after it
 * hash the key once. Keys also sit in a FIFO in store order, so the oldest is always at its
 * head and eviction is O(1) per entry. (Not the Map's own iteration order: a Map keeps
 * deleted slots until it rehashes, so iterating from its start after many deletions skips
 * them one by one — quadratic.)
 */

/** Where a message was stored: what its send response said. */
export interface StoredSend {
  /** offsetMsgId (store host + commit-log offset). */
  msgId: string;
  queueId: number;
  queueOffset: number;
  /** Store time, ms. */
  at: number;
}

export interface DuplicateWindowOptions {
  /** Entries older than this are forgotten, ms. */
  windowMs: number;
  /** Most entries kept; the oldest go first. */
  maxEntries: number;
}

export class DuplicateWindow {
  /** topic → UNIQ_KEY → slot of the entry in the ring below (a small integer: no allocation). */
  private readonly topics = new Map<string, Map<string, number>>();
  // The entries, oldest at `head`, as columns of a ring that grows up to maxEntries: an entry
  // is a few array writes, not an object per send for the garbage collector to promote.
  private cap = 0;
  private head = 0;
  private count = 0;
  private keys: string[] = [];
  private maps: Array<Map<string, number> | undefined> = [];
  private msgIds: string[] = [];
  private queueIds = new Int32Array(0);
  private queueOffsets = new Float64Array(0);
  private ats = new Float64Array(0);
  /** Entries dropped because the window was full before they aged out. */
  evictedEarly = 0;

  constructor(private readonly o: DuplicateWindowOptions) {}

  get size(): number {
    return this.count;
  }

  /** The stored send of (topic, uniqKey) if it is in the window at `now`. */
  get(topic: string, uniqKey: string, now: number): StoredSend | undefined {
    const slot = this.topics.get(topic)?.get(uniqKey);
    if (slot === undefined || now - this.ats[slot]! > this.o.windowMs) return undefined;
    return {
      msgId: this.msgIds[slot]!,
      queueId: this.queueIds[slot]!,
      queueOffset: this.queueOffsets[slot]!,
      at: this.ats[slot]!,
    };
  }

  /** Remembers a stored send (a key already present keeps its first, original, answer). */
  add(topic: string, uniqKey: string, send: StoredSend): void {
    let m = this.topics.get(topic);
    if (m === undefined) {
      m = new Map();
      this.topics.set(topic, m);
    }
    if (m.has(uniqKey)) return;
    if (this.count === this.cap) {
      if (this.cap < this.o.maxEntries) this.grow();
      else {
        this.dropOldest();
        this.evictedEarly++;
      }
    }
    let slot = this.head + this.count;
    if (slot >= this.cap) slot -= this.cap;
    this.keys[slot] = uniqKey;
    this.maps[slot] = m;
    this.msgIds[slot] = send.msgId;
    this.queueIds[slot] = send.queueId;
    this.queueOffsets[slot] = send.queueOffset;
    this.ats[slot] = send.at;
    m.set(uniqKey, slot);
    this.count++;
  }

  /** Doubles the ring (up to maxEntries), oldest first at slot 0; maps point to the new slots. */
  private grow(): void {
    const cap = Math.min(this.o.maxEntries, Math.max(1024, this.cap * 2));
    const keys: string[] = new Array(cap);
    const maps: Array<Map<string, number> | undefined> = new Array(cap);
    const msgIds: string[] = new Array(cap);
    const queueIds = new Int32Array(cap);
    const queueOffsets = new Float64Array(cap);
    const ats = new Float64Array(cap);
    for (let i = 0; i < this.count; i++) {
      let from = this.head + i;
      if (from >= this.cap) from -= this.cap;
      keys[i] = this.keys[from]!;
      maps[i] = this.maps[from];
      msgIds[i] = this.msgIds[from]!;
      queueIds[i] = this.queueIds[from]!;
      queueOffsets[i] = this.queueOffsets[from]!;
      ats[i] = this.ats[from]!;
      maps[i]!.set(keys[i]!, i);
    }
    Object.assign(this, { keys, maps, msgIds, queueIds, queueOffsets, ats, cap, head: 0 });
  }

  private dropOldest(): void {
    const h = this.head;
    this.maps[h]!.delete(this.keys[h]!);
    this.maps[h] = undefined;
    this.keys[h] = "";
    this.msgIds[h] = "";
    this.head = h + 1 === this.cap ? 0 : h + 1;
    this.count--;
  }

  /** Forgets entries older than the window (call periodically). Returns how many went. */
  expire(now: number): number {
    let n = 0;
    while (this.count > 0 && now - this.ats[this.head]! > this.o.windowMs) {
      this.dropOldest();
      n++;
    }
    if (n > 0) for (const [t, m] of this.topics) if (m.size === 0) this.topics.delete(t);
    return n;
  }
}
