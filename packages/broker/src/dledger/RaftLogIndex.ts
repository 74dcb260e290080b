import fs from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { ConfigState, Entry, EntryType, HardState, RaftStorage, Snapshot } from "@tidemq/raft";
import { CompactedError, UnavailableError } from "@tidemq/raft";
import { chunksOfLogBytes, encodeEntryData } from "./EntryData.js";

const RECORD = 24;
/** Byte 17 of a record: 1 = bytes 20..23 hold the CRC-32 of bytes 0..19 (0: an older record, none). */
const FORMAT_AT = 17;
const CHECKSUMMED = 1;
const CRC_AT = 20;
const TYPES: EntryType[] = ["normal", "noop", "config"];
const EMPTY = new Uint8Array(0);
/** Recent entries' wire form, kept so a follower a little behind is served without disk reads. */
const CACHE_BYTES = 64 * 1024 * 1024;
/** Test-only fault hook: every index fdatasync starts this many ms late, so that a crash falls
 *  between an entry's commit-log fsync and its index fsync (dLegerLazyIndexSync tests). */
const SYNC_DELAY_MS = Number(process.env.TIDEMQ_DLEDGER_INDEX_SYNC_DELAY_MS) || 0;

/**
 * `<root>/dledger/amnesia.json`, written durably (tmp + fsync + rename + directory fsync).
 * lazy: the index was (or is being) synced off the acknowledgement path (dLegerLazyIndexSync)
 * by the run that wrote it, so after a crash its tail may lack records of acknowledged entries.
 * recoverTo > 0: the amnesia mark — this replica may have acknowledged entries ending at or
 * below this commit-log offset that its index lost; it neither votes nor campaigns until its
 * durable log again reaches past it (DLedgerNode).
 */
export interface AmnesiaMark {
  lazy: boolean;
  recoverTo: number;
}

/**
 * The Raft side of "the commit log IS the Raft log": entry i is the commit-log byte range
 * [end(i-1), end(i)), so all a replica keeps besides its commit log is this small index —
 * 24 bytes per entry (term f64, end offset f64, type u8, format u8, 2 spare, CRC-32 of the
 * first 20 bytes) in `<root>/dledger/index` — and
 * the hard state (term, vote, commit) in `<root>/dledger/hardstate.json`. Entries are read
 * back (for followers that are behind) from the commit-log segment files themselves.
 *
 * Crash rules: the commit log is written before the index, and a replica acknowledges
 * entries only once both are durable (fsync by default). At start an index record whose end
 * is past the recovered log end is dropped, and log bytes past the last index record are
 * cut (neither was ever acknowledged). With dLegerLazyIndexSync the index is fsynced off the
 * acknowledgement path, so those cut bytes MAY have been acknowledged: DLedgerNode.start then
 * writes an amnesia mark (AmnesiaMark) before cutting them.
 */
export interface IndexRecord {
  index: number;
  term: number;
  type: EntryType;
  end: number;
  wire?: Uint8Array | undefined;
}

export class RaftLogIndex implements RaftStorage {
  private terms: number[] = [];
  private ends: number[] = [];
  private types: EntryType[] = [];
  private hard: HardState = { term: 0, vote: "", commit: 0 };
  private fd = -1;
  private segments: number[] = [];
  private readonly segFds = new Map<number, number>();
  private readonly cache = new Map<number, Uint8Array>();
  private cacheBytes = 0;
  /** No cached entry below this index. */
  private cacheLow = 0;
  private hardWrites: Promise<void> = Promise.resolve();
  private mark: AmnesiaMark = { lazy: false, recoverTo: 0 };

  private constructor(
    readonly dir: string,
    private readonly voters: readonly string[],
    private readonly commitLogDir: string,
  ) {}

  static exists(dir: string): boolean {
    return fs.existsSync(join(dir, "index"));
  }

  static open(dir: string, voters: readonly string[], commitLogDir: string): RaftLogIndex {
    fs.mkdirSync(dir, { recursive: true });
    const ix = new RaftLogIndex(dir, voters, commitLogDir);
    const path = join(dir, "index");
    ix.fd = fs.openSync(path, fs.existsSync(path) ? "r+" : "w+");
    const size = fs.fstatSync(ix.fd).size;
    const n = Math.floor(size / RECORD);
    const buf = Buffer.alloc(n * RECORD);
    if (n > 0) fs.readSync(ix.fd, buf, 0, buf.length, 0);
    let checked = false;
    for (let i = 0; i < n; i++) {
      const at = i * RECORD;
      const term = buf.readDoubleBE(at);
      const end = buf.readDoubleBE(at + 8);
      const type = TYPES[buf.readUInt8(at + 16)];
      // A torn or zeroed record (crash during the write): the index ends before it. A record
      // with a checksum must match it; once one had a checksum, every later one must (a torn
      // record can read back as a plausible term and end, and would then claim bytes this
      // replica never received as that entry — the leader would see matching terms and never
      // send the right ones).
      const format = buf.readUInt8(at + FORMAT_AT);
      if (format === CHECKSUMMED) {
        if (buf.readInt32BE(at + CRC_AT) !== recordCrc(buf, at)) break;
        checked = true;
      } else if (format !== 0 || checked) break;
      if (!type || !Number.isSafeInteger(term) || term <= 0 || !Number.isFinite(end)) break;
      if (end < (ix.ends.at(-1) ?? 0)) break;
      ix.terms.push(term);
      ix.ends.push(end);
      ix.types.push(type);
    }
    if (ix.terms.length * RECORD !== size) fs.ftruncateSync(ix.fd, ix.terms.length * RECORD);
    try {
      const hs = JSON.parse(fs.readFileSync(join(dir, "hardstate.json"), "utf8")) as HardState;
      ix.hard = { term: hs.term, vote: hs.vote, commit: Math.min(hs.commit, ix.terms.length) };
    } catch {
      // No hard state yet: term 0, no vote.
    }
    const markPath = join(dir, "amnesia.json");
    if (fs.existsSync(markPath)) {
      // Written atomically: unreadable means damaged, and guessing "no mark" could let a
      // replica that lost acknowledged entries vote. Refuse to start instead.
      const m = JSON.parse(fs.readFileSync(markPath, "utf8")) as AmnesiaMark;
      if (typeof m.lazy !== "boolean" || !Number.isSafeInteger(m.recoverTo) || m.recoverTo < 0)
        throw new Error(`${markPath} is damaged: ${JSON.stringify(m)}`);
      ix.mark = { lazy: m.lazy, recoverTo: m.recoverTo };
    }
    return ix;
  }

  get amnesia(): AmnesiaMark {
    return this.mark;
  }

  /** Persists the amnesia mark durably (before the caller acts on it). */
  async setAmnesia(m: AmnesiaMark): Promise<void> {
    await writeDurably(this.dir, "amnesia.json", JSON.stringify(m));
    this.mark = m;
  }

  // ---------------------------------------------------------------- RaftStorage

  initialState(): { hardState: HardState; config: ConfigState } {
    // DLedger mode has no config entries (refused when persisted): the voters are dLegerPeers
    // as of every index. Saying so (index = last) keeps the core from re-reading every entry's
    // bytes from the commit log at start-up to look for config entries — synchronously, so a
    // replica with a large log (or on a slow disk) was out of the group for the whole read
    // (67 s for a 16 MB log on lossyfs under load, event loop blocked).
    return { hardState: this.hard, config: { voters: [...this.voters], index: this.terms.length } };
  }

  firstIndex(): number {
    return 1;
  }

  lastIndex(): number {
    return this.terms.length;
  }

  term(index: number): number {
    if (index === 0) return 0;
    if (index < 0) throw new CompactedError(index, 1);
    if (index > this.terms.length) throw new UnavailableError(index, this.terms.length);
    return this.terms[index - 1]!;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && i <= this.terms.length; i++) {
      const data = this.dataOf(i);
      out.push({ index: i, term: this.terms[i - 1]!, type: this.types[i - 1]!, data });
      bytes += data.byteLength + 24;
      if (bytes > maxBytes) break;
    }
    return out;
  }

  snapshot(): Snapshot {
    return { metadata: { index: 0, term: 0, voters: [...this.voters] }, data: EMPTY };
  }

  // ---------------------------------------------------------------- offsets

  /** Commit-log offset where entry `index` ends (0 for index 0: the log starts empty). */
  endOf(index: number): number {
    if (index <= 0) return 0;
    return this.ends[Math.min(index, this.ends.length) - 1]!;
  }

  get hardState(): HardState {
    return this.hard;
  }

  // ---------------------------------------------------------------- writes (from Ready)

  /** Drops entries from `index` on (a conflicting uncommitted suffix). */
  truncateFrom(index: number): void {
    if (index > this.terms.length) return;
    for (let i = index; i <= this.terms.length; i++) this.uncache(i);
    this.terms.length = index - 1;
    this.ends.length = index - 1;
    this.types.length = index - 1;
    fs.ftruncateSync(this.fd, (index - 1) * RECORD);
  }

  /** Appends index records (the commit-log bytes are already written); not yet durable. */
  append(entries: readonly IndexRecord[]): void {
    if (entries.length === 0) return;
    const buf = Buffer.alloc(entries.length * RECORD);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== this.terms.length + 1) {
        throw new RangeError(
          `raft index append at ${e.index} does not continue the index (last ${this.terms.length})`,
        );
      }
      buf.writeDoubleBE(e.term, k * RECORD);
      buf.writeDoubleBE(e.end, k * RECORD + 8);
      buf.writeUInt8(TYPES.indexOf(e.type), k * RECORD + 16);
      buf.writeUInt8(CHECKSUMMED, k * RECORD + FORMAT_AT);
      buf.writeInt32BE(recordCrc(buf, k * RECORD), k * RECORD + CRC_AT);
      this.terms.push(e.term);
      this.ends.push(e.end);
      this.types.push(e.type);
      if (e.wire && e.wire.byteLength > 0) this.remember(e.index, e.wire);
    }
    fs.writeSync(this.fd, buf, 0, buf.length, (this.terms.length - entries.length) * RECORD);
  }

  /** fdatasyncs of the index so far (TIDEMQ_DLEDGER_TRACE reports them). */
  syncCount = 0;
  private syncing: Promise<void> | undefined;
  private syncNext: Promise<void> | undefined;

  /** Makes the index durable (everything appended before the call). Group commit: one
   *  fdatasync at a time; the calls made while one runs share the next one. */
  sync(): Promise<void> {
    if (!this.syncing) {
      this.syncCount++;
      this.syncing = new Promise<void>((resolve, reject) => {
        const run = () => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve()));
        if (SYNC_DELAY_MS > 0) setTimeout(run, SYNC_DELAY_MS);
        else run();
      }).finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    this.syncNext ??= this.syncing
      .catch(() => {})
      .then(() => {
        this.syncNext = undefined;
        return this.sync();
      });
    return this.syncNext;
  }

  /** Persists the hard state; durably (tmp + fsync + rename) when `durable`. */
  setHardState(hs: HardState, durable: boolean): Promise<void> {
    this.hard = hs;
    // Writes are serialised and always replace the file atomically (tmp + rename): a torn
    // hard state would forget the vote.
    const run = async () => {
      const path = join(this.dir, "hardstate.json");
      const text = JSON.stringify({ term: hs.term, vote: hs.vote, commit: hs.commit });
      const tmp = `${path}.tmp`;
      const fh = await fs.promises.open(tmp, "w");
      try {
        await fh.writeFile(text);
        // Always: the rename replaces a file holding the durable term and vote. Renamed before
        // its bytes are on disk, a power cut leaves an empty file (seen on lossyfs: a replica
        // restarted with term 0 and no vote, free to vote twice in a term). `durable` only
        // decides whether the caller waits for the directory entry as well.
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, path);
      if (durable) await fsyncDir(this.dir);
    };
    const next = this.hardWrites.then(run, run);
    this.hardWrites = next.catch(() => {});
    return next;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    for (const fd of this.segFds.values()) fs.closeSync(fd);
    this.segFds.clear();
  }

  // ---------------------------------------------------------------- entry bytes

  private remember(index: number, wire: Uint8Array): void {
    this.cache.set(index, wire);
    this.cacheBytes += wire.byteLength;
    if (this.cache.size === 1 || index < this.cacheLow) this.cacheLow = index;
    // Oldest first by index (entries are cached in index order). Not by iterating the Map:
    // every new iterator walks the slots of the entries deleted before (until V8 rehashes),
    // which made each eviction cost more the longer the cache had been full.
    while (this.cacheBytes > CACHE_BYTES && this.cacheLow < index) {
      const k = this.cacheLow++;
      const v = this.cache.get(k);
      if (v) {
        this.cache.delete(k);
        this.cacheBytes -= v.byteLength;
      }
    }
  }

  /** Drops the cached wire forms of entries up to `index` (a follower's, once applied). */
  forgetWireThrough(index: number): void {
    if (this.cache.size === 0) return;
    while (this.cacheLow <= index && this.cache.size > 0) this.uncache(this.cacheLow++);
  }

  private uncache(index: number): void {
    const v = this.cache.get(index);
    if (v) {
      this.cache.delete(index);
      this.cacheBytes -= v.byteLength;
    }
  }

  /** The wire form of entry `index`: from the cache, else read back from the commit log. */
  private dataOf(index: number): Uint8Array {
    if (this.types[index - 1] !== "normal") return EMPTY;
    const cached = this.cache.get(index);
    if (cached) return cached;
    const start = this.endOf(index - 1);
    const end = this.ends[index - 1]!;
    const bytes = this.readLog(start, end - start);
    return encodeEntryData(end, chunksOfLogBytes(start, bytes));
  }

  /**
   * Reads [offset, offset+len) of the commit log synchronously (RaftStorage reads are
   * synchronous; only followers that fell behind the cache get here).
   */
  private readLog(offset: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const at = offset + done;
      const seg = this.segmentOf(at);
      const fd = this.segFd(seg);
      const n = fs.readSync(fd, out, done, len - done, at - seg);
      if (n <= 0) {
        // Past this segment's file: the rest is in the next segment.
        const next = this.segments.find((s) => s > at);
        if (next === undefined) throw new Error(`commit log has no bytes at ${at}`);
        // The gap is the zero tail of a blank filler (already inside `out` as zeros).
        done = next - offset;
        continue;
      }
      done += n;
    }
    return out;
  }

  private segmentOf(offset: number): number {
    for (let attempt = 0; attempt < 2; attempt++) {
      let best: number | undefined;
      for (const s of this.segments) if (s <= offset) best = s;
      const next = this.segments.find((s) => s > offset);
      if (best !== undefined && (next !== undefined || attempt === 1)) return best;
      this.segments = fs
        .readdirSync(this.commitLogDir)
        .filter((f) => /^\d{20}$/.test(f))
        .map(Number)
        .sort((a, b) => a - b);
    }
    let best: number | undefined;
    for (const s of this.segments) if (s <= offset) best = s;
    if (best === undefined) throw new Error(`commit log has no segment holding ${offset}`);
    return best;
  }

  private segFd(start: number): number {
    let fd = this.segFds.get(start);
    if (fd === undefined) {
      fd = fs.openSync(join(this.commitLogDir, String(start).padStart(20, "0")), "r");
      this.segFds.set(start, fd);
    }
    return fd;
  }
}

/** Replaces dir/name with `text` so that a crash leaves the old or the new file, never a mix. */
async function writeDurably(dir: string, name: string, text: string): Promise<void> {
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const fh = await fs.promises.open(tmp, "w");
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, path);
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function recordCrc(buf: Buffer, at: number): number {
  return crc32(buf.subarray(at, at + CRC_AT)) | 0;
}
