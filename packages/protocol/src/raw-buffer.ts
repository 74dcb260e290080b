/**
 * Buffer's own string codecs, which Buffer#write and Buffer#toString end in, called
 * directly: the public methods first normalise their arguments, which costs as much as
 * the copy for the short strings of a frame header. Present on every Buffer since Node 0.x.
 */
export type RawBuffer = Buffer & {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length: number): number;
};

// Big-endian integers by hand: Buffer#readInt32BE and friends check their arguments on
// every call. Callers check bounds themselves.

export function readInt16(b: Uint8Array, p: number): number {
  return (((b[p]! << 8) | b[p + 1]!) << 16) >> 16;
}

export function readInt32(b: Uint8Array, p: number): number {
  return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
}

/** Writes the low 16 bits of v. */
export function writeInt16(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 8;
  b[p + 1] = v;
}

/** Writes v as a 32-bit two's-complement int (any int32 or uint32 value). */
export function writeInt32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}
