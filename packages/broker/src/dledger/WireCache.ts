/** Recent entries' wire form, kept so a follower a little behind is served without disk reads. */
const CACHE_BYTES = 64 * 1024 * 1024;

/**
 * The wire forms of the Raft log's recent entries (RaftLogIndex), by index, at most
 * CACHE_BYTES of them: the oldest are evicted first. Entries are cached in index order.
 */
export class WireCache {
  private readonly cache = new Map<number, Uint8Array>();
  private cacheBytes = 0;
  /** No cached entry below this index. */
  private cacheLow = 0;

  get(index: number): Uint8Array | undefined {
    return this.cache.get(index);
  }

  remember(index: number, wire: Uint8Array): void {
    this.cache.set(index, wire);
    this.cacheBytes += wire.byteLength;
    if (this.cache.size === 1 || index < this.cacheLow) this.cacheLow = index;
    // Oldest first by index (entries are cached in index order). Not by iterating the Map:
    // every new iterator walks the slots of the entries deleted before (until V8 rehashes),
    // which made each eviction cost more the longer the cache had been full.
    while (this.cacheBytes > CACHE_BYTES && this.cacheLow < index) {
      const k = this.cacheLow++;
      const v = this.cache.get(k);
      if (v) {
        this.cache.delete(k);
        this.cacheBytes -= v.byteLength;
      }
    }
  }

  /** Drops the cached wire forms of entries up to `index` (a follower's, once applied). */
  forgetThrough(index: number): void {
    if (this.cache.size === 0) return;
    while (this.cacheLow <= index && this.cache.size > 0) this.uncache(this.cacheLow++);
  }

  uncache(index: number): void {
    const v = this.cache.get(index);
    if (v) {
      this.cache.delete(index);
      this.cacheBytes -= v.byteLength;
    }
  }

  clear(): void {
    this.cache.clear();
    this.cacheBytes = 0;
  }
}
