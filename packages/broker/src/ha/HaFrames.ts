/**
 * The master/slave replication stream (TideMQ to TideMQ, on haListenPort), after RocketMQ's
 * HAService shape (spec §1.4) with one change: frames carry whole records and the size of
 * the master's segment, so the slave appends and dispatches each frame on its own and its
 * segments match the master's byte for byte.
 *
 * slave → master, "report" (8 bytes): the slave's confirmed commit-log end (signed 64-bit
 *   big-endian). Sent on connect, after each appended frame, and every heartbeat interval.
 *   The first report is where the master starts sending; every report is an acknowledgement.
 * master → slave, "transfer" (16-byte header + body): physical offset of the body (8),
 *   body size (4, 0 = heartbeat), segment size of the master's segment holding it (4).
 */
export const REPORT_BYTES = 8;
export const TRANSFER_HEADER_BYTES = 16;
/** Largest body a slave accepts in one frame (a record larger than a segment comes whole). */
export const MAX_TRANSFER_BODY = 512 * 1024 * 1024;

export function encodeReport(offset: number): Buffer {
  const b = Buffer.allocUnsafe(REPORT_BYTES);
  b.writeBigInt64BE(BigInt(offset));
  return b;
}

export function encodeTransferHeader(offset: number, size: number, segmentSize: number): Buffer {
  const b = Buffer.allocUnsafe(TRANSFER_HEADER_BYTES);
  b.writeBigInt64BE(BigInt(offset), 0);
  b.writeInt32BE(size, 8);
  b.writeInt32BE(segmentSize, 12);
  return b;
}

export interface TransferFrame {
  offset: number;
  segmentSize: number;
  /** Empty for a heartbeat. */
  body: Buffer;
}

/** Thrown on bytes that cannot be a frame of this protocol: the connection is closed. */
export class HaProtocolError extends Error {
  override name = "HaProtocolError";
}

/** Accumulates stream bytes; yields complete frames (or reports) in order. */
class ByteAccumulator {
  private chunks: Buffer[] = [];
  private bytes = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  get length(): number {
    return this.bytes;
  }

  /** The first `n` bytes, without consuming them (n ≤ length). */
  peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  take(n: number): Buffer {
    const out = this.peek(n);
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.bytes -= n;
    return out;
  }
}

export class TransferFrameReader {
  private readonly acc = new ByteAccumulator();

  /** Adds bytes; returns the frames they complete. */
  push(chunk: Buffer): TransferFrame[] {
    this.acc.push(chunk);
    const out: TransferFrame[] = [];
    while (this.acc.length >= TRANSFER_HEADER_BYTES) {
      const h = this.acc.peek(TRANSFER_HEADER_BYTES);
      const offset = Number(h.readBigInt64BE(0));
      const size = h.readInt32BE(8);
      const segmentSize = h.readInt32BE(12);
      if (
        offset < 0 ||
        !Number.isSafeInteger(offset) ||
        size < 0 ||
        size > MAX_TRANSFER_BODY ||
        segmentSize <= 0
      ) {
        throw new HaProtocolError(
          `bad transfer header: offset ${offset}, size ${size}, segment ${segmentSize}`,
        );
      }
      if (this.acc.length < TRANSFER_HEADER_BYTES + size) break;
      this.acc.take(TRANSFER_HEADER_BYTES);
      const body = size === 0 ? Buffer.alloc(0) : Buffer.from(this.acc.take(size));
      out.push({ offset, segmentSize, body });
    }
    return out;
  }
}

export class ReportReader {
  private pending = Buffer.alloc(0);

  /** Adds bytes; returns the newest complete report, if any (older ones are superseded). */
  push(chunk: Buffer): number | undefined {
    const all = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const whole = all.length - (all.length % REPORT_BYTES);
    this.pending = Buffer.from(all.subarray(whole));
    if (whole === 0) return undefined;
    const offset = Number(all.readBigInt64BE(whole - REPORT_BYTES));
    if (offset < 0 || !Number.isSafeInteger(offset)) throw new HaProtocolError(`bad report offset ${offset}`);
    return offset;
  }
}
