import { MAGIC_BLANK } from "@tidemq/protocol";

/**
 * What a Raft entry carries on the wire: commit-log bytes at their physical offsets. Entry i
 * covers exactly [end(i-1), end(i)) of the commit log (entries tile the log; a no-op covers
 * nothing). The bytes come as chunks that never cross a segment: a chunk ending a segment
 * ends with the 8-byte header of its blank filler, and the next chunk starts the next
 * segment. Layout: u8 version (1), f64 end, u16 chunk count, then per chunk f64 offset,
 * u32 length, bytes.
 */
export interface LogChunk {
  offset: number;
  bytes: Buffer;
}

const VERSION = 1;
const BLANK_HEADER = 8;

export function encodeEntryData(end: number, chunks: readonly LogChunk[]): Buffer {
  let size = 1 + 8 + 2;
  for (const c of chunks) size += 12 + c.bytes.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt8(VERSION, 0);
  out.writeDoubleBE(end, 1);
  out.writeUInt16BE(chunks.length, 9);
  let p = 11;
  for (const c of chunks) {
    out.writeDoubleBE(c.offset, p);
    out.writeUInt32BE(c.bytes.length, p + 8);
    c.bytes.copy(out, p + 12);
    p += 12 + c.bytes.length;
  }
  return out;
}

export function decodeEntryData(data: Uint8Array): { end: number; chunks: LogChunk[] } {
  // Entries off the wire are Buffers already (one view less per entry on a follower).
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 11 || b.readUInt8(0) !== VERSION)
    throw new RangeError("not a DLedger entry (bad version or size)");
  const end = b.readDoubleBE(1);
  const n = b.readUInt16BE(9);
  const chunks: LogChunk[] = [];
  let p = 11;
  for (let i = 0; i < n; i++) {
    if (p + 12 > b.length) throw new RangeError("DLedger entry truncated");
    const offset = b.readDoubleBE(p);
    const len = b.readUInt32BE(p + 8);
    if (p + 12 + len > b.length) throw new RangeError("DLedger entry chunk overruns the entry");
    chunks.push({ offset, bytes: b.subarray(p + 12, p + 12 + len) });
    p += 12 + len;
  }
  return { end, chunks };
}

/** The 8 bytes of a blank filler that ends a segment after `gap` bytes (RocketMQ's layout). */
export function blankHeader(gap: number): Buffer {
  const b = Buffer.alloc(BLANK_HEADER);
  b.writeInt32BE(gap, 0);
  b.writeInt32BE(MAGIC_BLANK, 4);
  return b;
}

/**
 * Splits bytes read from the log at `offset` (possibly spanning a segment end, where a blank
 * filler runs to the end of the segment) into chunks as encodeEntryData wants them: the
 * filler is cut to its 8-byte header and the next chunk starts where the filler ends.
 */
export function chunksOfLogBytes(offset: number, bytes: Buffer): LogChunk[] {
  const chunks: LogChunk[] = [];
  let start = 0;
  let p = 0;
  while (p + 8 <= bytes.length) {
    const size = bytes.readInt32BE(p);
    if (bytes.readInt32BE(p + 4) === MAGIC_BLANK) {
      chunks.push({ offset: offset + start, bytes: bytes.subarray(start, p + BLANK_HEADER) });
      p += size;
      start = p;
      continue;
    }
    if (size <= 0) throw new RangeError(`bad record size ${size} at ${offset + p}`);
    p += size;
  }
  if (start < bytes.length) chunks.push({ offset: offset + start, bytes: bytes.subarray(start) });
  return chunks;
}
