/**
 * 64-bit big-endian integers as JS numbers. Offsets and timestamps stay far below 2^53,
 * so number arithmetic is exact; this avoids a BigInt per field on hot paths.
 */
const TWO_32 = 0x100000000;

export function writeLong(buf: Buffer, value: number, pos: number): number {
  const hi = Math.floor(value / TWO_32);
  buf.writeInt32BE(hi | 0, pos);
  buf.writeUInt32BE(value - hi * TWO_32, pos + 4);
  return pos + 8;
}

export function readLong(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}
