/**
 * Recently stored messages by (topic, UNIQ_KEY), bounded by age and by entry count: what
 * producer de-duplication looks up. Pure (the caller passes the clock); insertion order is
 * store order, so the oldest entry is always first and eviction is O(1) per entry.
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
  private readonly entries = new Map<string, StoredSend>();
  /** Entries dropped because the window was full before they aged out. */
  evictedEarly = 0;

  constructor(private readonly o: DuplicateWindowOptions) {}

  get size(): number {
    return this.entries.size;
  }

  private static key(topic: string, uniqKey: string): string {
    return `${topic}\u0001${uniqKey}`;
  }

  /** The stored send of (topic, uniqKey) if it is in the window at `now`. */
  get(topic: string, uniqKey: string, now: number): StoredSend | undefined {
    const e = this.entries.get(DuplicateWindow.key(topic, uniqKey));
    return e !== undefined && now - e.at <= this.o.windowMs ? e : undefined;
  }

  /** Remembers a stored send (a key already present keeps its first, original, answer). */
  add(topic: string, uniqKey: string, send: StoredSend): void {
    const key = DuplicateWindow.key(topic, uniqKey);
    if (this.entries.has(key)) return;
    this.entries.set(key, send);
    if (this.entries.size > this.o.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictedEarly++;
    }
  }

  /** Forgets entries older than the window (call periodically). Returns how many went. */
  expire(now: number): number {
    let n = 0;
    for (const [key, e] of this.entries) {
      if (now - e.at <= this.o.windowMs) break;
      this.entries.delete(key);
      n++;
    }
    return n;
  }
}
