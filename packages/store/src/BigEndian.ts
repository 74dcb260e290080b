/*
 * Big-endian integer stores by plain byte writes: cheaper than Buffer's checked writers
 * (writeInt32BE and the protocol's writeLong) on the dispatch path, where every message
 * adds a consume-queue entry and index entries.
 */

/** Stores the low 32 bits of `v`, big-endian, at `p`. */
export function putInt(b: Buffer, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

/** Stores a safe integer as a big-endian int64 at `p` (negative values sign-extended). */
export function putLong(b: Buffer, p: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  putInt(b, p, hi | 0);
  putInt(b, p + 4, (v - hi * 4294967296) >>> 0);
}
