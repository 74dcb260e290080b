import { MAGIC_BLANK, MAGIC_V1, MAGIC_V2, MIN_RECORD_BYTES } from "@tidemq/protocol";
import type { CommitLog } from "./CommitLog.js";
import { BLANK_HEADER_BYTES } from "./RecordCodec.js";

/** Commit-log bytes for a replica: whole records at `offset`, inside one segment of `segmentSize`. */
export interface ReplicationChunk {
  offset: number;
  data: Buffer;
  segmentSize: number;
  /** Where the next chunk starts (past the segment's end after a blank filler). */
  next: number;
}

/**
 * Reads the confirmed records from `from` for a replica: up to `maxBytes` (or one record if
 * it alone is larger), never across a segment end, cut at a record boundary so the replica
 * can decode and dispatch every chunk on its own. A segment's blank filler header is sent
 * as it is stored; the chunk after it starts at the next segment.
 */
export async function readReplicationChunk(
  log: CommitLog,
  from: number,
  maxBytes: number,
): Promise<ReplicationChunk | undefined> {
  const limit = log.confirmedOffset;
  if (from > log.maxOffset) {
    throw new RangeError(
      `replica asks for offset ${from}, past this log's end ${log.maxOffset}: the logs diverged`,
    );
  }
  if (from >= limit) return undefined;
  if (from < log.minOffset) {
    throw new RangeError(`replica asks for offset ${from}, below this log's oldest data ${log.minOffset}`);
  }
  const seg = log.segments[log.segmentIndexFor(from)];
  if (!seg) return undefined;
  const segEnd = seg.start + seg.size;
  const head = Buffer.allocUnsafe(8);
  await log.read(from, 8, head, 0);
  const firstSize = head.readInt32BE(0);
  const magic = head.readInt32BE(4);
  if (magic === MAGIC_BLANK) {
    return { offset: from, data: head, segmentSize: seg.size, next: segEnd };
  }
  if (
    (magic !== MAGIC_V1 && magic !== MAGIC_V2) ||
    firstSize < MIN_RECORD_BYTES - 1 ||
    from + firstSize > segEnd
  ) {
    throw new RangeError(
      `replica asks for offset ${from}, which is not a record boundary of this log: the logs diverged`,
    );
  }
  if (from + firstSize > limit) return undefined;
  const end = Math.min(limit, segEnd, from + Math.max(maxBytes, firstSize));
  const buf = Buffer.allocUnsafe(end - from);
  await log.read(from, buf.length, buf, 0);
  // Whole records only (a blank filler header counts as one: it ends the segment).
  let p = 0;
  let next = from;
  while (p + 8 <= buf.length) {
    const size = buf.readInt32BE(p);
    if (buf.readInt32BE(p + 4) === MAGIC_BLANK) {
      p += BLANK_HEADER_BYTES;
      next = segEnd;
      break;
    }
    if (size <= 0 || p + size > buf.length) break;
    p += size;
    next = from + p;
  }
  return { offset: from, data: buf.subarray(0, p), segmentSize: seg.size, next };
}
