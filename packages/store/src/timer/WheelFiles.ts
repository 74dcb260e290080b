import fs from "node:fs";
import zlib from "node:zlib";
import { StoreCorruptionError } from "../StoreError.js";

/*
 * The timer wheel's files: wheel.snapshot (every position, atomic, CRC) and wheel.journal
 * (records of the positions changed since the previous one, CRC each), encoded and read here.
 */

/** The wheel: per position, its chain's newest and oldest entry, entries, entries due this lap. */
export interface Wheel {
  head: Float64Array;
  first: Float64Array;
  count: Int32Array;
  near: Int32Array;
}

export interface Progress {
  /** Every slot before this second is loaded. */
  loadedUpToSec: number;
  /** Timer-topic consume-queue entries added so far. */
  enqueuedCq: number;
  logEnd: number;
  /** Timer messages added and neither delivered nor recalled. */
  pending: number;
  /** pending by due day (days since the epoch). */
  days: Map<number, number>;
}

const SNAPSHOT_MAGIC = 0x544d5357; // "TMSW"
const HEADER_BYTES = 64;

export function newWheel(slots: number): Wheel {
  return {
    head: new Float64Array(slots).fill(-1),
    first: new Float64Array(slots).fill(-1),
    count: new Int32Array(slots),
    near: new Int32Array(slots),
  };
}

/** The wheel arrays inside an encoded snapshot (views, for patching in place). */
export function snapshotWheel(buf: Buffer, slots: number): Wheel {
  const base = buf.byteOffset + HEADER_BYTES;
  return {
    head: new Float64Array(buf.buffer, base, slots),
    first: new Float64Array(buf.buffer, base + slots * 8, slots),
    count: new Int32Array(buf.buffer, base + slots * 16, slots),
    near: new Int32Array(buf.buffer, base + slots * 20, slots),
  };
}

/** Writes the checksum of everything before it into the snapshot's last 4 bytes. */
export function sealSnapshot(buf: Buffer): void {
  buf.writeUInt32LE(zlib.crc32(buf.subarray(0, buf.length - 4)), buf.length - 4);
}

export function snapshotBytes(slots: number, days: number): number {
  return HEADER_BYTES + slots * 24 + days * 16 + 4;
}

/** Encodes into `reuse` when it is big enough; the result starts at byte 0 of its own ArrayBuffer. */
export function encodeSnapshot(slots: number, w: Wheel, p: Progress, seq: number, reuse?: Buffer): Buffer {
  const total = snapshotBytes(slots, p.days.size);
  const buf =
    reuse && reuse.length >= total ? reuse : Buffer.allocUnsafeSlow(snapshotBytes(slots, p.days.size + 512));
  buf.fill(0, 0, HEADER_BYTES);
  buf.writeInt32LE(SNAPSHOT_MAGIC, 0);
  buf.writeInt32LE(1, 4);
  buf.writeInt32LE(slots, 8);
  buf.writeInt32LE(p.days.size, 12);
  buf.writeDoubleLE(p.loadedUpToSec, 16);
  buf.writeDoubleLE(p.enqueuedCq, 24);
  buf.writeDoubleLE(p.logEnd, 32);
  buf.writeDoubleLE(p.pending, 40);
  buf.writeDoubleLE(seq, 48);
  const view = snapshotWheel(buf, slots);
  view.head.set(w.head);
  view.first.set(w.first);
  view.count.set(w.count);
  view.near.set(w.near);
  let at = HEADER_BYTES + slots * 24;
  for (const [day, n] of p.days) {
    buf.writeDoubleLE(day, at);
    buf.writeDoubleLE(n, at + 8);
    at += 16;
  }
  // The caller patches the wheel (undo logs), then seals it (sealSnapshot).
  return buf;
}

export async function readSnapshot(
  path: string,
): Promise<{ slots: number; wheel: Wheel; progress: Progress; seq: number } | undefined> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const bad = (why: string) =>
    new StoreCorruptionError(
      path,
      `timer wheel snapshot ${why}; it is written atomically, so this is not a torn write`,
    );
  if (buf.length < HEADER_BYTES + 4 || buf.readInt32LE(0) !== SNAPSHOT_MAGIC || buf.readInt32LE(4) !== 1) {
    throw bad("has an unknown format");
  }
  const slots = buf.readInt32LE(8);
  const nDays = buf.readInt32LE(12);
  const end = HEADER_BYTES + slots * 24 + nDays * 16;
  if (slots <= 0 || nDays < 0 || buf.length !== end + 4) throw bad("has the wrong length");
  if (zlib.crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) throw bad("fails its checksum");
  let at = HEADER_BYTES;
  const take = <T>(make: (b: ArrayBuffer) => T, bytes: number): T => {
    const copy = new Uint8Array(bytes);
    copy.set(buf.subarray(at, at + bytes));
    at += bytes;
    return make(copy.buffer);
  };
  const wheel: Wheel = {
    head: take((b) => new Float64Array(b), slots * 8),
    first: take((b) => new Float64Array(b), slots * 8),
    count: take((b) => new Int32Array(b), slots * 4),
    near: take((b) => new Int32Array(b), slots * 4),
  };
  const days = new Map<number, number>();
  for (let k = 0; k < nDays; k++, at += 16) days.set(buf.readDoubleLE(at), buf.readDoubleLE(at + 8));
  return {
    slots,
    wheel,
    seq: buf.readDoubleLE(48),
    progress: {
      loadedUpToSec: buf.readDoubleLE(16),
      enqueuedCq: buf.readDoubleLE(24),
      logEnd: buf.readDoubleLE(32),
      pending: buf.readDoubleLE(40),
      days,
    },
  };
}

const JOURNAL_MAGIC = 0x544d4a31; // "TMJ1"
const POSITION_BYTES = 28;

/**
 * One journal record: the progress counters of an epoch and the wheel positions that
 * changed since the previous record's epoch (each: index, head, first, count, near).
 * Framed as magic · body length · body · CRC of the body; a torn tail fails the CRC.
 */
export function encodeJournalRecord(
  seq: number,
  p: Progress,
  positions: Set<number>,
  w: Wheel,
  before: Map<number, [number, number, number, number]>,
): Buffer {
  const bodyLen = 48 + p.days.size * 16 + positions.size * POSITION_BYTES;
  const buf = Buffer.allocUnsafe(8 + bodyLen + 4);
  buf.writeInt32LE(JOURNAL_MAGIC, 0);
  buf.writeInt32LE(bodyLen, 4);
  let at = 8;
  for (const v of [seq, p.loadedUpToSec, p.enqueuedCq, p.logEnd, p.pending]) {
    buf.writeDoubleLE(v, at);
    at += 8;
  }
  buf.writeInt32LE(p.days.size, at);
  buf.writeInt32LE(positions.size, at + 4);
  at += 8;
  for (const [day, n] of p.days) {
    buf.writeDoubleLE(day, at);
    buf.writeDoubleLE(n, at + 8);
    at += 16;
  }
  for (const i of positions) {
    const b = before.get(i);
    buf.writeInt32LE(i, at);
    buf.writeDoubleLE(b ? b[0] : w.head[i]!, at + 4);
    buf.writeDoubleLE(b ? b[1] : w.first[i]!, at + 12);
    buf.writeInt32LE(b ? b[2] : w.count[i]!, at + 20);
    buf.writeInt32LE(b ? b[3] : w.near[i]!, at + 24);
    at += POSITION_BYTES;
  }
  buf.writeUInt32LE(zlib.crc32(buf.subarray(8, 8 + bodyLen)), 8 + bodyLen);
  return buf;
}

interface JournalRecord {
  seq: number;
  progress: Progress;
  positions: Array<[number, number, number, number, number]>;
}

/** The journal's valid records after snapshot `afterSeq`, in order, and where the valid part ends. */
export async function readJournal(
  path: string,
  slots: number,
  afterSeq: number,
): Promise<{ records: JournalRecord[]; validBytes: number }> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { records: [], validBytes: 0 };
    throw err;
  }
  const records: JournalRecord[] = [];
  let pos = 0;
  let expect = afterSeq + 1;
  while (pos + 12 <= buf.length) {
    if (buf.readInt32LE(pos) !== JOURNAL_MAGIC) break;
    const len = buf.readInt32LE(pos + 4);
    if (len < 56 || pos + 8 + len + 4 > buf.length) break;
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (zlib.crc32(body) !== buf.readUInt32LE(pos + 8 + len)) break;
    const seq = body.readDoubleLE(0);
    const nDays = body.readInt32LE(40);
    const nPos = body.readInt32LE(44);
    if (nDays < 0 || nPos < 0 || 48 + nDays * 16 + nPos * POSITION_BYTES !== len) break;
    // Records of an older snapshot (written before it, not yet cut away) are skipped.
    if (seq <= afterSeq) {
      pos += 8 + len + 4;
      continue;
    }
    if (seq !== expect) break;
    pos += 8 + len + 4;
    expect++;
    const days = new Map<number, number>();
    let at = 48;
    for (let k = 0; k < nDays; k++, at += 16) days.set(body.readDoubleLE(at), body.readDoubleLE(at + 8));
    const positions: JournalRecord["positions"] = [];
    for (let k = 0; k < nPos; k++, at += POSITION_BYTES) {
      const i = body.readInt32LE(at);
      if (i < 0 || i >= slots) throw new Error(`timer journal ${path}: position ${i} outside the wheel`);
      positions.push([
        i,
        body.readDoubleLE(at + 4),
        body.readDoubleLE(at + 12),
        body.readInt32LE(at + 20),
        body.readInt32LE(at + 24),
      ]);
    }
    records.push({
      seq,
      positions,
      progress: {
        loadedUpToSec: body.readDoubleLE(8),
        enqueuedCq: body.readDoubleLE(16),
        logEnd: body.readDoubleLE(24),
        pending: body.readDoubleLE(32),
        days,
      },
    });
  }
  return { records, validBytes: pos };
}

/** Writes `bytes` at `pos` of the journal and makes them durable. */
export async function appendDurable(path: string, bytes: Buffer, pos: number): Promise<void> {
  const fh = await fs.promises.open(path, "r+");
  try {
    await fh.write(bytes, 0, bytes.length, pos);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}
