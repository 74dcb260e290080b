import fs from "node:fs";
import { dirname, join } from "node:path";
import {
  close,
  fdatasync,
  fsyncDir,
  ftruncate,
  isOffsetFileName,
  offsetFileName,
  open,
  readAt,
} from "./fsx.js";
import type { Logger } from "./Logger.js";
import { StoreCorruptionError } from "./StoreError.js";

/**
 * Commit-log segment files: fixed-size files named by their 20-digit start offset, one
 * gap-free sequence. What a segment is on disk, and the file operations on it; which segment
 * is current and what is written into it is CommitLog's business.
 */
export interface Segment {
  start: number;
  size: number;
  path: string;
  /** Write fd, open while the segment is current or holds unflushed bytes. */
  fd: number | undefined;
  /** True once the file exists at its full size. */
  ready: boolean;
  opening?: Promise<number>;
}

/** A segment not created yet: its file is made (and sized) by the first `openForWrite`. */
export function newSegment(dir: string, start: number, size: number): Segment {
  return { start, size, path: join(dir, offsetFileName(start)), fd: undefined, ready: false };
}

/**
 * Lists the segment files and checks that they form one gap-free sequence. Empty files at the
 * end are removed (`emptyFrom`: where the first of them began): a crash between creating a
 * segment and its size reaching the disk. Several can be left when segments rolled before any
 * flush (ASYNC_FLUSH). None of them ever held flushed data — a segment's size is made durable
 * before any record is written into it (openForWrite) — and their size is not known: a
 * replica's segments take their source's sizes, and the first one after a snapshot install is
 * short (it ends where the leader's does). Kept with a guessed size, such a file was later
 * written to as a full segment, and the replica's segments no longer lined up with its
 * leader's (after a second power cut it refused to start: "segments do not follow each
 * other"). Removed, the next append creates the segment again with the right size.
 */
export async function listSegments(
  dir: string,
  segmentSize: number,
  logger: Logger,
): Promise<{ segments: Segment[]; emptyFrom: number | undefined }> {
  const segments: Segment[] = [];
  await fs.promises.mkdir(dir, { recursive: true });
  const names = (await fs.promises.readdir(dir)).sort();
  for (const name of names) {
    const path = join(dir, name);
    if (!isOffsetFileName(name)) {
      logger.warn(`ignoring ${path}: not a commit log segment name`);
      continue;
    }
    const st = await fs.promises.stat(path);
    segments.push({ start: Number(name), size: st.size, path, fd: undefined, ready: true });
  }
  let firstEmpty = segments.length;
  while (firstEmpty > 0 && segments[firstEmpty - 1]!.size === 0) firstEmpty--;
  for (let i = 0; i + 1 < segments.length; i++) {
    const a = segments[i]!;
    const b = segments[i + 1]!;
    // Past the first empty file the sizes are unknown: only where that one begins is checked.
    if (i + 1 > firstEmpty) break;
    if (a.start + a.size !== b.start) {
      const missing = join(dir, offsetFileName(a.start + a.size));
      const truncated = a.size < segmentSize || a.start + a.size > b.start;
      throw new StoreCorruptionError(
        truncated ? a.path : missing,
        `commit log segments do not follow each other: ${a.path} (${a.size} bytes) ends at ${a.start + a.size} ` +
          `but the next file is ${b.path}; a segment is missing or truncated, refusing to start`,
      );
    }
  }
  const empty = segments.splice(firstEmpty);
  for (const s of empty) {
    logger.warn(
      `commit log: removing empty segment file ${s.path}: created, but its size never reached the disk (a crash right after it was created); it held no data`,
    );
    await fs.promises.rm(s.path, { force: true });
  }
  if (empty.length > 0) await fsyncDir(dir);
  return { segments, emptyFrom: empty[0]?.start };
}

/** Index of the segment holding `offset` (binary search), or -1. */
export function segmentIndexFor(segments: readonly Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = segments[mid]!;
    if (offset < s.start) hi = mid - 1;
    else if (offset >= s.start + s.size) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** Per directory, the sizing of the newest segment: the next one's waits for it. */
const sizing = new Map<string, Promise<void>>();

/** The segment's write fd, creating and sizing the file first if it is new (once, shared). */
export function openForWrite(seg: Segment): Promise<number> {
  if (seg.fd !== undefined) return Promise.resolve(seg.fd);
  if (seg.opening) return seg.opening;
  // In log order: writes into two segments can be in flight at once, and a power cut between
  // two sizings left the earlier file empty (0 bytes) with the later one sized — a layout
  // recovery refuses ("segments do not follow each other"). Chained, a sized segment implies
  // every earlier one is, and empty files only ever trail (removed at recovery, see
  // listSegments). The place in the chain is taken here, at the call (callers open segments
  // in log order), not once the file is open: an earlier segment's open can take longer than
  // a later one's, and the later one then sized first.
  const dir = dirname(seg.path);
  const fdOpen = open(seg.path, fs.constants.O_RDWR | fs.constants.O_CREAT);
  let sized: Promise<void> | undefined;
  if (!seg.ready) {
    const before = sizing.get(dir);
    sized = (async () => {
      const fd = await fdOpen;
      await before?.catch(() => undefined);
      // Sized up front (sparse), like RocketMQ's pre-sized mapped files: the file length is
      // the segment length, so a scan knows where the segment ends and a gap shows.
      await ftruncate(fd, seg.size);
      // Make the size and the directory entry durable before any record lands in the
      // segment: recovery relies on segment sizes to find where each one ends.
      await fdatasync(fd);
      await fsyncDir(dir);
    })();
    sizing.set(dir, sized);
  }
  seg.opening = (async () => {
    if (sized) {
      // Awaited first: it awaits the open too, so a failed open is reported once, here.
      try {
        await sized;
      } finally {
        if (sizing.get(dir) === sized) sizing.delete(dir);
      }
      seg.ready = true;
    }
    const fd = await fdOpen;
    seg.fd = fd;
    seg.opening = undefined;
    return fd;
  })();
  return seg.opening;
}

/** Closes the segment's write fd if it is open. */
export async function closeWriteFd(seg: Segment): Promise<void> {
  if (seg.fd !== undefined) {
    const fd = seg.fd;
    seg.fd = undefined;
    await close(fd);
  }
}

/** True when the segment's first 8 bytes are not all zeros (a record starts there). */
export async function segmentHasData(seg: Segment): Promise<boolean> {
  const fd = await open(seg.path, "r");
  try {
    const b = Buffer.alloc(8);
    const n = await readAt(fd, b, 0, 8, 0);
    return n > 0 && (b.readInt32BE(0) !== 0 || b.readInt32BE(4) !== 0);
  } finally {
    await close(fd);
  }
}

/**
 * Makes `pos` (in segment `k`) the end: zeros past it and removes the (empty) later segments
 * from disk and from `segments`.
 */
export async function cutTail(segments: Segment[], k: number, pos: number, logger: Logger): Promise<void> {
  const endSeg = segments[k]!;
  // Zero everything past the end, so no stale bytes can pass for records in a later scan.
  const fd = await open(endSeg.path, "r+");
  try {
    await ftruncate(fd, pos - endSeg.start);
    await ftruncate(fd, endSeg.size);
    await fdatasync(fd);
    endSeg.ready = true;
  } finally {
    await close(fd);
  }
  while (segments.length > k + 1) {
    const s = segments.pop()!;
    logger.warn(`commit log: removing empty segment ${s.path} past the recovered end ${pos}`);
    await fs.promises.rm(s.path, { force: true });
  }
}
