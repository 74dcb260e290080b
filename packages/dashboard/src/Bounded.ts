/**
 * Every list the console returns is bounded, and a bounded list says when it was cut
 * (rocketmq-dashboard capped topic queries at 2000 and key queries at 64 without a word).
 * Pure: the API handlers and the tests use these directly.
 */

/** A slice of a larger list: `total` is how many there were, `items` what is shown. */
export interface Bounded<T> {
  items: T[];
  /** How many matched before the cut (exact unless `totalIsEstimate`). */
  total: number;
  /** Index of the first item shown within the `total`. */
  offset: number;
  /** True when `items` is not the whole of `total`. */
  cut: boolean;
  /** True when `total` was estimated (e.g. from queue offsets) rather than counted. */
  totalIsEstimate?: boolean;
  /** Why the list was cut, in words a page can show as it is. */
  note?: string;
}

/** The page `page` (0-based) of `size` items of `all`; size and page are clamped to sane ranges. */
export function pageOf<T>(all: readonly T[], page: number, size: number, maxSize = 500): Bounded<T> {
  const s = Math.max(1, Math.min(maxSize, Math.floor(size) || 1));
  const lastPage = Math.max(0, Math.ceil(all.length / s) - 1);
  const p = Math.max(0, Math.min(lastPage, Math.floor(page) || 0));
  const items = all.slice(p * s, p * s + s);
  return { items, total: all.length, offset: p * s, cut: items.length < all.length };
}

/** The first `limit` items of `all`, with a note when some were left out. */
export function firstOf<T>(all: readonly T[], limit: number, what: string): Bounded<T> {
  const items = all.slice(0, limit);
  const cut = items.length < all.length;
  return {
    items,
    total: all.length,
    offset: 0,
    cut,
    ...(cut ? { note: `showing ${fmt(items.length)} of ${fmt(all.length)} ${what}` } : {}),
  };
}

/** "14,512": thousands separators, whatever the locale of the machine. */
export function fmt(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Runs `f` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  f: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
