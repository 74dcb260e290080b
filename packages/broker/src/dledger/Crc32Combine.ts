import { crc32 } from "node:zlib";

/**
 * CRC-32 (zlib's, reflected polynomial 0xEDB88320) of a concatenation from the CRCs of its
 * parts: crc(A ‖ B) = crc32Combine(crc(A), crc(B), |B|). The leader sends each entry to every
 * follower inside a frame whose CRC also covers a per-follower header; with this, an entry's
 * own CRC is computed once and combined into each frame's, so the wire format stays as it is
 * (old and new replicas interoperate) and only the arithmetic moved. node:zlib has crc32 but
 * no combine; this is the polynomial arithmetic zlib's crc32_combine does (x^(8·|B|) mod p,
 * times crc(A), plus crc(B)), a few microseconds whatever the lengths.
 */
const POLY = 0xedb88320;

/** a(x)·b(x) mod p(x), bit-reflected (bit 31 is x^0). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod p(x). */
const X2N: number[] = (() => {
  const t: number[] = [];
  let p = 0x40000000; // x^1
  t.push(p);
  for (let n = 1; n < 32; n++) {
    p = multModP(p, p);
    t.push(p);
  }
  return t;
})();

/** x^(n·2^k) mod p(x). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC-32 of A ‖ B from crcA, crcB and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (!Number.isSafeInteger(lengthB) || lengthB < 0) throw new RangeError(`bad length ${lengthB}`);
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ crcB) >>> 0;
}

/**
 * The CRC-32 of an entry's data, computed once per buffer: a Raft entry's data never changes
 * once proposed or received, and the same object goes to every follower (and again to a
 * follower that is re-sent it), so it is remembered beside the buffer for as long as the
 * buffer lives.
 */
const cached = new WeakMap<Uint8Array, number>();

export function crc32Of(data: Uint8Array): number {
  let c = cached.get(data);
  if (c === undefined) {
    c = crc32(data) >>> 0;
    cached.set(data, c);
  }
  return c;
}
