import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";
import { type DuplicateWindow, ENTRY_BYTES } from "./DuplicateWindow.js";

/**
 * The de-duplication window on disk, so a restart loads it instead of reading the window's
 * worth of commit log back (up to 256 MiB, seconds of start-up): the ring's entries (hash,
 * commit-log offset, store time; 24 bytes each, in store order) and the commit-log offset
 * the snapshot covers — every tracked record below it that was admitted through the window
 * is in it; records from there on are read from the log at start.
 *
 * Layout: a 32-byte header (magic, a byte-order mark, entry count, covered offset, CRC-32 of
 * the entries, entry size), then the entries in the machine's own byte order (the file never
 * leaves this broker's store directory; another byte order is refused by the mark).
 * Written to a temporary file, fdatasync'd, renamed over the old one, directory fsync'd: a
 * crash leaves the old snapshot or the new one, never a torn one.
 *
 * An entry is a hint, never an answer by itself: DuplicateDetector confirms every match
 * against the stored message, and the loader drops entries the recovered log does not hold.
 */

const MAGIC = Buffer.from("TMQDDUP1", "latin1");
const HEADER_BYTES = 32;
const BOM = 0x01020304;
/** Entries copied per write (~1 MiB): the copy is short, and no snapshot-sized buffer is ever allocated. */
const CHUNK_ENTRIES = 43_690;

export interface SnapshotHeader {
  /** Commit-log offset every tracked record below which is in the entries (those admitted through the window). */
  covered: number;
  count: number;
}

/**
 * Entries of a snapshot as typed views over a chunk: entry k's hash low and high words are
 * words[6k], words[6k + 1]; its commit-log offset (< 0: not stored, or a batch's later
 * message pointing at the batch's first entry: DuplicateWindow's followerMark) and store time
 * nums[3k + 1], nums[3k + 2] (the ring's own layout). Valid only during the call.
 */
export type EntryChunk = (words: Uint32Array, nums: Float64Array, n: number) => void;

/**
 * Writes entries [from, to) of `window` (seqs) with `covered` atomically to `path`. The
 * window may change while the chunks are written (sends go on): an entry overwritten
 * meanwhile belongs to a send admitted after the capture, so its offset is at or past
 * `covered` (or PENDING) and the loader skips it — the log scan finds that record anyway.
 * Returns the number of entries written.
 */
export async function writeWindowSnapshot(
  path: string,
  window: DuplicateWindow,
  from: number,
  to: number,
  covered: number,
): Promise<number> {
  const count = (to - from) >>> 0;
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w", 0o644);
  try {
    const chunk = Buffer.allocUnsafe(Math.min(count, CHUNK_ENTRIES) * ENTRY_BYTES);
    let crc = 0;
    let seq = from;
    let pos = HEADER_BYTES;
    let left = count;
    while (left > 0) {
      // Fill the chunk from the ring (two copies where the ring wraps).
      let n = 0;
      const want = Math.min(left, CHUNK_ENTRIES);
      while (n < want) {
        const k = window.copyOut(seq, want - n, chunk, n * ENTRY_BYTES);
        n += k;
        seq = (seq + k) >>> 0;
      }
      const bytes = chunk.subarray(0, n * ENTRY_BYTES);
      crc = crc32(bytes, crc);
      await fh.write(bytes, 0, bytes.length, pos);
      pos += bytes.length;
      left -= n;
    }
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    // The mark is checked in native order: write it as the machine reads a Uint32.
    new Uint32Array(header.buffer, header.byteOffset + 8, 1)[0] = BOM;
    header.writeUInt32LE(count, 12);
    header.writeDoubleLE(covered, 16);
    header.writeUInt32LE(crc >>> 0, 24);
    header.writeUInt32LE(ENTRY_BYTES, 28);
    await fh.write(header, 0, HEADER_BYTES, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
  return count;
}

/**
 * Reads the snapshot at `path` in chunks of ~1 MiB (no snapshot-sized buffer): a first pass
 * checks it whole (header, length, CRC), only then a second one hands its entries to
 * `onChunk` in order (the file is in the page cache by then), after `onHeader`. Returns the header; undefined
 * when there is no snapshot; a string saying why when it is unusable (nothing was handed over).
 */
export async function readWindowSnapshot(
  path: string,
  onChunk: EntryChunk,
  onHeader?: (h: SnapshotHeader) => void,
): Promise<SnapshotHeader | string | undefined> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return `unreadable (${(err as Error).message})`;
  }
  try {
    const { size } = await fh.stat();
    const header = Buffer.alloc(HEADER_BYTES);
    if (size < HEADER_BYTES || (await fh.read(header, 0, HEADER_BYTES, 0)).bytesRead < HEADER_BYTES)
      return "not a window snapshot";
    if (!header.subarray(0, 8).equals(MAGIC)) return "not a window snapshot";
    if (new Uint32Array(header.buffer, header.byteOffset + 8, 1)[0] !== BOM)
      return "written on a machine of another byte order";
    const count = header.readUInt32LE(12);
    const covered = header.readDoubleLE(16);
    if (header.readUInt32LE(28) !== ENTRY_BYTES) return "entries of another size";
    if (size !== HEADER_BYTES + count * ENTRY_BYTES) return `${size} bytes, the header says ${count} entries`;
    if (!Number.isSafeInteger(covered) || covered < 0) return `covered offset ${covered} invalid`;
    // 8-aligned for the Float64Array view.
    const chunk = Buffer.from(new ArrayBuffer(Math.min(count, CHUNK_ENTRIES) * ENTRY_BYTES));
    const words = new Uint32Array(chunk.buffer);
    const nums = new Float64Array(chunk.buffer);
    const pass = async (each: (bytes: Buffer, n: number) => void): Promise<boolean> => {
      for (let i = 0; i < count; ) {
        const n = Math.min(CHUNK_ENTRIES, count - i);
        const len = n * ENTRY_BYTES;
        const { bytesRead } = await fh.read(chunk, 0, len, HEADER_BYTES + i * ENTRY_BYTES);
        if (bytesRead < len) return false;
        each(chunk.subarray(0, len), n);
        i += n;
      }
      return true;
    };
    let crc = 0;
    if (!(await pass((bytes) => (crc = crc32(bytes, crc))))) return "shorter than its header says";
    if (crc >>> 0 !== header.readUInt32LE(24)) return "CRC mismatch";
    onHeader?.({ covered, count });
    if (!(await pass((_, n) => onChunk(words, nums, n)))) return "shorter than its header says";
    return { covered, count };
  } finally {
    await fh.close();
  }
}

/** Removes the snapshot durably (its entries must not be trusted again). */
export async function removeWindowSnapshot(path: string): Promise<void> {
  await rm(path, { force: true });
  await fsyncDir(dirname(path));
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}
