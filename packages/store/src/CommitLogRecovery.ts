import { join } from "node:path";
import { decodeMessage, MAGIC_BLANK, MAGIC_V1, MAGIC_V2, MIN_RECORD_BYTES } from "@tidemq/protocol";
import { close, fdatasync, offsetFileName, open } from "./fsx.js";
import type { Logger } from "./Logger.js";
import { cutTail, type Segment, segmentHasData, segmentIndexFor } from "./Segment.js";
import { scanSegment } from "./SegmentScan.js";
import { StoreCorruptionError } from "./StoreError.js";

/**
 * Where the commit log ends at start-up. After a clean stop the checkpoint says so (checked
 * against the segments, no scan); after a crash every record from the last durable boundary
 * is validated and a torn tail is cut. Data past an invalid record in a *later* segment is
 * damage, not a torn tail, and stops the start.
 */

/** After a clean stop: checks the checkpoint's end offset against the segments (no scan). */
export function checkEndAfterCleanStop(
  segments: readonly Segment[],
  dir: string,
  end: number,
  emptyFrom?: number,
): void {
  const last = segments.at(-1);
  if (!last) {
    if (end > 0 && end !== emptyFrom) {
      throw new StoreCorruptionError(
        join(dir, offsetFileName(end)),
        `checkpoint says the commit log ends at ${end} but there is no segment file`,
      );
    }
  } else if (end < last.start || end > last.start + last.size) {
    throw new StoreCorruptionError(
      last.path,
      `checkpoint says the commit log ends at ${end} but the last segment covers [${last.start}, ${last.start + last.size})`,
    );
  }
}

/**
 * After a crash: validate every record from `from` (a record boundary known durable),
 * cut a torn tail (zeroing it, removing empty later segments from `segments`), return the
 * new end. Data after an invalid record in a *later* segment is not a torn tail but damage,
 * and stops the start. `emptyFrom`: where the empty segment files removed at load began
 * (none of them held data): with no segment left the log is empty and ends there.
 */
export async function recoverEndAfterCrash(
  segments: Segment[],
  dir: string,
  from: number,
  log: Logger,
  emptyFrom?: number,
): Promise<number> {
  if (segments.length === 0) {
    if (emptyFrom !== undefined && from <= emptyFrom) return emptyFrom;
    if (from > 0) {
      throw new StoreCorruptionError(
        join(dir, offsetFileName(0)),
        `checkpoint says the commit log was flushed up to ${from} but there is no segment file`,
      );
    }
    return 0;
  }
  const first = segments[0]!;
  const last = segments.at(-1)!;
  let pos = Math.max(from, first.start);
  if (pos > last.start + last.size) {
    throw new StoreCorruptionError(
      join(dir, offsetFileName(last.start + last.size)),
      `checkpoint says the commit log was flushed up to ${from} but the segments end at ${last.start + last.size}`,
    );
  }
  let idx = segmentIndexFor(segments, pos);
  if (idx < 0) idx = segments.length; // exactly at the end of the last segment
  let reason: string | undefined;
  let scanned = 0;
  for (; idx < segments.length; idx++) {
    const seg = segments[idx]!;
    const r = await validateSegment(seg, Math.max(pos, seg.start));
    scanned += r.end - Math.max(pos, seg.start);
    pos = r.end;
    reason = r.reason;
    if (reason !== undefined || pos < seg.start + seg.size) break; // damage, or zeros = end of data
  }
  const k = segmentIndexFor(segments, pos);
  if (k >= 0) {
    await refuseDataAfter(segments, k, pos, reason);
    if (reason !== undefined) {
      log.warn(
        `commit log: truncated a torn tail at offset ${pos} in ${segments[k]!.path} (${reason}); ` +
          `${scanned} valid bytes scanned from ${Math.max(from, first.start)}`,
      );
    }
    await cutTail(segments, k, pos, log);
  }
  log.info(
    `commit log: crash recovery scanned ${scanned} bytes from ${Math.max(from, first.start)}, end ${pos}`,
  );
  return pos;
}

/** Segments after the end segment `k` must be empty: data there means damage, not a torn tail. */
async function refuseDataAfter(
  segments: readonly Segment[],
  k: number,
  pos: number,
  reason: string | undefined,
): Promise<void> {
  for (let j = k + 1; j < segments.length; j++) {
    const s = segments[j]!;
    if (await segmentHasData(s)) {
      throw new StoreCorruptionError(
        s.path,
        `commit log record at offset ${pos} in ${segments[k]!.path} is invalid (${reason ?? "zeros"}) ` +
          "but a later segment holds data; refusing to truncate (restore the file or move the later segments away)",
      );
    }
  }
}

/** Walks the records of one segment from `from`; stops at zeros, the segment end or an invalid record. */
async function validateSegment(seg: Segment, from: number): Promise<{ end: number; reason?: string }> {
  const end = seg.start + seg.size;
  let pos = from;
  // What recovery accepts becomes the flushed offset: make it durable (after a kill -9 it
  // may still be only in the page cache).
  const fd = await open(seg.path, "r");
  try {
    await fdatasync(fd);
  } finally {
    await close(fd);
  }
  const r = await scanSegment(seg, from, end, (offset, buf, p, size, magic) => {
    if (size === 0 && magic === 0) return "stop";
    if (magic === MAGIC_BLANK) {
      if (offset + size !== end) return `blank record of ${size} bytes does not end the segment`;
      pos = end;
      return "stop";
    }
    if (magic !== MAGIC_V1 && magic !== MAGIC_V2) return `bad magic 0x${(magic >>> 0).toString(16)}`;
    if (size < MIN_RECORD_BYTES - 1 || offset + size > end) return `bad size ${size}`;
    if (buf === undefined) return "need";
    try {
      const m = decodeMessage(buf, p, { verifyCrc: true, headersOnly: true });
      if (m.commitLogOffset !== offset) return `physical offset field ${m.commitLogOffset} != position`;
    } catch (err) {
      return (err as Error).message;
    }
    pos = offset + size;
    return "next";
  });
  return r.reason === undefined ? { end: pos } : { end: pos, reason: r.reason };
}
