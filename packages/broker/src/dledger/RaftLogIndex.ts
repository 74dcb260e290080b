import fs from "node:fs";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import type { ConfigState, Entry, EntryType, HardState, RaftStorage, Snapshot } from "@tidemq/raft";
import { CompactedError, UnavailableError } from "@tidemq/raft";
import { CommitLogRangeReader } from "./CommitLogRangeReader.js";
import { chunksOfLogBytes, encodeEntryData } from "./EntryData.js";
import { WireCache } from "./WireCache.js";

const RECORD = 24;
/** Byte 17 of a record: 1 = bytes 20..23 hold the CRC-32 of bytes 0..19 (0: an older record, none). */
const FORMAT_AT = 17;
const CHECKSUMMED = 1;
const CRC_AT = 20;
const TYPES: EntryType[] = ["normal", "noop", "config"];
const EMPTY = new Uint8Array(0);
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
  /** Entry bytes not in the wire cache are read back from the commit log's segment files. */
  private readonly log: CommitLogRangeReader;
  private readonly wire = new WireCache();
  private hardWrites: Promise<void> = Promise.resolve();
  private mark: AmnesiaMark = { lazy: false, recoverTo: 0 };
  /**
   * Where this replica's log begins (SnapshotInstall.ts): entries up to `base.index` are not
   * here (an installed snapshot covers them); the commit log begins at `base.end`. Index
   * record k of the file is entry base.index + 1 + k. All 0 for a log that starts at index 1.
   */
  private base: LogBase = { index: 0, term: 0, end: 0 };
  /** firstIndex()'s last search result (a position in `ends`). */
  private firstEndAtOrPast = 0;
  /** The commit log's oldest offset (retention moves it); entries below it cannot be read. */
  private logMin: () => number = () => 0;
  /** The application state a snapshot at `index` (ending at log offset `end`) carries. */
  private snapshotData: (index: number, end: number) => Uint8Array = () => EMPTY;

  private constructor(
    readonly dir: string,
    private readonly voters: readonly string[],
    commitLogDir: string,
  ) {
    this.log = new CommitLogRangeReader(commitLogDir);
  }

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
    ix.base = readLogBase(dir);
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
      if (end < (ix.ends.at(-1) ?? ix.base.end)) break;
      ix.terms.push(term);
      ix.ends.push(end);
      ix.types.push(type);
    }
    if (ix.terms.length * RECORD !== size) fs.ftruncateSync(ix.fd, ix.terms.length * RECORD);
    try {
      const hs = JSON.parse(fs.readFileSync(join(dir, "hardstate.json"), "utf8")) as HardState;
      ix.hard = { term: hs.term, vote: hs.vote, commit: Math.min(hs.commit, ix.lastIndex()) };
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
    await writeJsonDurable(join(this.dir, "amnesia.json"), m);
    this.mark = m;
  }

  // ---------------------------------------------------------------- RaftStorage

  initialState(): { hardState: HardState; config: ConfigState } {
    // DLedger mode has no config entries (refused when persisted): the voters are dLegerPeers
    // as of every index. Saying so (index = last) keeps the core from re-reading every entry's
    // bytes from the commit log at start-up to look for config entries — synchronously, so a
    // replica with a large log (or on a slow disk) was out of the group for the whole read
    // (67 s for a 16 MB log on lossyfs under load, event loop blocked).
    return { hardState: this.hard, config: { voters: [...this.voters], index: this.lastIndex() } };
  }

  /**
   * The first entry whose bytes the commit log still holds (retention compacts the Raft log:
   * a follower that needs an earlier one gets a snapshot, SnapshotInstall.ts, at the entry
   * before it). A snapshot covers committed entries only, and this one does although it is not
   * capped by the commit index held here: retention deletes only segments whose records were
   * all dispatched, and a replica dispatches only below its commit gate (the end of a committed
   * entry) — so the entry that ends at or past the log's start was committed. The commit index
   * held here may lag by a second (HardStateWriter persists it lazily; after a restart it is
   * that persisted value): capped by it, the snapshot sat at an entry whose bytes retention had
   * already deleted, its segment's end unknown — the replica installing it laid its segments
   * out elsewhere than the leader and stopped at the leader's next blank filler.
   */
  firstIndex(): number {
    const first = this.base.index + 1;
    const min = this.logMin();
    if (min <= this.base.end || this.terms.length === 0) return first;
    // Entry i starts where i-1 ends: the first i with endOf(i-1) >= min (ends ascend). The
    // core asks on every term lookup: the last answer is reused while it still holds.
    let lo = this.firstEndAtOrPast;
    const ends = this.ends;
    if (!(lo < ends.length && ends[lo]! >= min && (lo === 0 || ends[lo - 1]! < min))) {
      lo = 0;
      let hi = ends.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ends[mid]! >= min) hi = mid;
        else lo = mid + 1;
      }
      this.firstEndAtOrPast = lo;
    }
    // ends[lo] is the end of entry base+1+lo, the first entry starting at or past min is the next.
    return Math.min(first + lo + 1, this.lastIndex() + 1);
  }

  lastIndex(): number {
    return this.base.index + this.terms.length;
  }

  term(index: number): number {
    if (index === this.base.index) return this.base.term;
    if (index < this.base.index) throw new CompactedError(index, this.base.index + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.terms[index - 1 - this.base.index]!;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.base.index) throw new CompactedError(lo, this.base.index + 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && i <= this.lastIndex(); i++) {
      const data = this.dataOf(i);
      const k = i - 1 - this.base.index;
      out.push({ index: i, term: this.terms[k]!, type: this.types[k]!, data });
      bytes += data.byteLength + 24;
      if (bytes > maxBytes) break;
    }
    return out;
  }

  /** A snapshot just below firstIndex(): what a follower behind the compaction point installs. */
  snapshot(): Snapshot {
    const index = this.firstIndex() - 1;
    if (index <= 0) return { metadata: { index: 0, term: 0, voters: [...this.voters] }, data: EMPTY };
    return {
      metadata: { index, term: this.term(index), voters: [...this.voters] },
      data: this.snapshotData(index, this.endOf(index)),
    };
  }

  /** Where firstIndex() learns the commit log's oldest offset, and what a snapshot carries. */
  setCompaction(logMin: () => number, snapshotData: (index: number, end: number) => Uint8Array): void {
    this.logMin = logMin;
    this.snapshotData = snapshotData;
  }

  // ---------------------------------------------------------------- offsets

  /** Commit-log offset where entry `index` ends (0 for index 0: the log starts empty). */
  endOf(index: number): number {
    if (index <= this.base.index) return index <= 0 ? 0 : this.base.end;
    return this.ends[Math.min(index - this.base.index, this.ends.length) - 1] ?? this.base.end;
  }

  /** Where this replica's log begins (index 0 / offset 0 unless it installed a snapshot). */
  get logBase(): LogBase {
    return this.base;
  }

  /**
   * Makes this (empty) index begin after entry `base.index` of term `base.term`, whose bytes
   * end at commit-log offset `base.end` (an installed snapshot). Durable before it returns.
   */
  async installBase(base: LogBase): Promise<void> {
    if (this.terms.length > 0) {
      throw new Error(
        `cannot install a snapshot at index ${base.index}: the Raft index holds entries (last ${this.lastIndex()})`,
      );
    }
    await writeJsonDurable(join(this.dir, "base.json"), base);
    this.base = { ...base };
    fs.ftruncateSync(this.fd, 0);
    this.wire.clear();
  }

  get hardState(): HardState {
    return this.hard;
  }

  // ---------------------------------------------------------------- writes (from Ready)

  /** Drops entries from `index` on (a conflicting uncommitted suffix). */
  truncateFrom(index: number): void {
    if (index > this.lastIndex()) return;
    if (index <= this.base.index) {
      throw new RangeError(
        `cannot truncate at ${index}: entries up to ${this.base.index} are in an installed snapshot`,
      );
    }
    for (let i = index; i <= this.lastIndex(); i++) this.wire.uncache(i);
    const keep = index - 1 - this.base.index;
    this.terms.length = keep;
    this.ends.length = keep;
    this.types.length = keep;
    fs.ftruncateSync(this.fd, keep * RECORD);
  }

  /** Appends index records (the commit-log bytes are already written); not yet durable. */
  append(entries: readonly IndexRecord[]): void {
    if (entries.length === 0) return;
    const buf = Buffer.alloc(entries.length * RECORD);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== this.lastIndex() + 1) {
        throw new RangeError(
          `raft index append at ${e.index} does not continue the index (last ${this.lastIndex()})`,
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
      if (e.wire && e.wire.byteLength > 0) this.wire.remember(e.index, e.wire);
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
    this.log.close();
  }

  // ---------------------------------------------------------------- entry bytes

  /** Drops the cached wire forms of entries up to `index` (a follower's, once applied). */
  forgetWireThrough(index: number): void {
    this.wire.forgetThrough(index);
  }

  /** The wire form of entry `index`: from the cache, else read back from the commit log. */
  private dataOf(index: number): Uint8Array {
    if (this.types[index - 1 - this.base.index] !== "normal") return EMPTY;
    const cached = this.wire.get(index);
    if (cached) return cached;
    const start = this.endOf(index - 1);
    const end = this.endOf(index);
    const bytes = this.log.read(start, end - start);
    return encodeEntryData(end, chunksOfLogBytes(start, bytes));
  }
}

export interface LogBase {
  index: number;
  term: number;
  end: number;
  /** Where the source's segment holding `end` ends: the replica's first segment ends there too. */
  segmentEnd?: number;
}

/** `<dir>/base.json`, or index 0 (a log that starts at index 1, offset 0). */
function readLogBase(dir: string): LogBase {
  const path = join(dir, "base.json");
  if (!fs.existsSync(path)) return { index: 0, term: 0, end: 0 };
  const b = JSON.parse(fs.readFileSync(path, "utf8")) as Partial<LogBase>;
  const ok = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!ok(b.index) || !ok(b.term) || !ok(b.end))
    throw new Error(`${path} is not a Raft log base: ${JSON.stringify(b)}`);
  return {
    index: b.index!,
    term: b.term!,
    end: b.end!,
    ...(ok(b.segmentEnd) && b.segmentEnd! > b.end! ? { segmentEnd: b.segmentEnd! } : {}),
  };
}

/** tmp + fsync + rename + directory fsync: the file is there whole, or the old one is. */
export async function writeJsonDurable(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await fs.promises.open(tmp, "w");
  try {
    await fh.writeFile(JSON.stringify(value));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, path);
  await fsyncDir(dirname(path));
}

export async function fsyncDir(dir: string): Promise<void> {
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
