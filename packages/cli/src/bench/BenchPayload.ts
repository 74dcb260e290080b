/**
 * Body layout of the messages `tidemq bench producer` sends, so that the consumer can measure
 * end-to-end latency in microseconds (bornTimestamp has only millisecond resolution):
 *
 *   0..3    magic "TMQB"
 *   4..11   send time, float64 ms since the epoch with a microsecond fraction (wall clock:
 *           producer and consumer may be on different hosts, as long as their clocks agree)
 *   12..15  producer run id (uint32, random per producer process)
 *   16..23  sequence number within that run (float64, exact up to 2^53)
 *   24..    filler
 *
 * Bodies shorter than HEADER_BYTES carry no header; the consumer then falls back to the
 * message's bornTimestamp.
 */
export const MAGIC = 0x544d5142; // "TMQB"
export const HEADER_BYTES = 24;

/** Wall-clock time in ms with a sub-millisecond fraction. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A template body of `size` bytes: header fields zero, filler a repeating printable pattern. */
export function makeTemplate(size: number, runId: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = 0x61 + (i % 26);
  if (size >= HEADER_BYTES) {
    buf.writeUInt32BE(MAGIC, 0);
    buf.writeUInt32BE(runId >>> 0, 12);
  }
  return buf;
}

/**
 * A fresh copy of the template stamped with `seq` and the current time. A copy per message
 * because the client may still hold the previous body while it is being written.
 */
export function stampBody(template: Buffer, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(template.length);
  template.copy(buf);
  if (buf.length >= HEADER_BYTES) {
    buf.writeDoubleBE(seq, 16);
    buf.writeDoubleBE(nowMs(), 4); // last, as close to the send as possible
  }
  return buf;
}

export interface PayloadHeader {
  sentMs: number;
  runId: number;
  seq: number;
}

/** The header of a bench body, or undefined for any other body. */
export function readHeader(body: Buffer): PayloadHeader | undefined {
  if (body.length < HEADER_BYTES || body.readUInt32BE(0) !== MAGIC) return undefined;
  const sentMs = body.readDoubleBE(4);
  const seq = body.readDoubleBE(16);
  if (!Number.isFinite(sentMs) || !Number.isFinite(seq)) return undefined;
  return { sentMs, runId: body.readUInt32BE(12), seq };
}
