/**
 * A cache of what the brokers would otherwise recompute on every page view (rocketmq-dashboard
 * timed out at ~900 topics / 2,300 groups until it cached: dashboard#281). Each entry is
 * fresh for `ttlMs`; a stale entry younger than `staleMs` is still served at once while one
 * refresh runs behind it, and every answer carries the time it was computed (`asOf`) so a
 * page can say how old it is. Concurrent misses share one computation.
 */
export interface Cached<T> {
  value: T;
  /** When the value was computed (ms since the epoch). */
  asOf: number;
}

interface Entry<T> {
  value?: Cached<T>;
  pending?: Promise<Cached<T>>;
}

export class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly staleMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string, compute: () => Promise<T>): Promise<Cached<T>> {
    const e = this.entries.get(key) ?? {};
    const age = e.value ? this.now() - e.value.asOf : Number.POSITIVE_INFINITY;
    if (e.value && age < this.ttlMs) return e.value;
    const refresh = e.pending ?? this.start(key, e, compute);
    // Stale but recent: answer now, the refresh replaces it for the next caller.
    if (e.value && age < this.staleMs) {
      refresh.catch(() => undefined);
      return e.value;
    }
    return refresh;
  }

  private start(key: string, e: Entry<T>, compute: () => Promise<T>): Promise<Cached<T>> {
    const p = compute().then(
      (value) => {
        const c = { value, asOf: this.now() };
        if (this.entries.get(key) === e) {
          e.value = c;
          e.pending = undefined;
        }
        return c;
      },
      (err: unknown) => {
        if (this.entries.get(key) === e) e.pending = undefined;
        throw err;
      },
    );
    e.pending = p;
    if (!this.entries.has(key)) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value;
        if (oldest !== undefined) this.entries.delete(oldest);
      }
      this.entries.set(key, e);
    }
    return p;
  }

  /** Forgets entries whose key starts with `prefix` (all with ""): after a write changed them. */
  invalidate(prefix = ""): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
