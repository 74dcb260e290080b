import fs from "node:fs";
import { endianness } from "node:os";
import { join } from "node:path";
import { javaStringHashCode, readLong } from "@tidemq/protocol";
import { putInt, putLong } from "./BigEndian.js";
import {
  close,
  isOffsetFileName,
  offsetFileName,
  open,
  type ReadFdCache,
  readAt,
  truncateDurable,
  writeDurableAt,
  writeFileAtomic,
} from "./fsx.js";
import type { Logger } from "./Logger.js";
import { StoreCorruptionError } from "./StoreError.js";

/*
 * Index for look-ups by KEYS token and UNIQ_KEY within a time range.
 *
 * Same hash-chain idea as RocketMQ's IndexFile (slot → newest entry, each entry → previous
 * entry of its slot), laid out for appends instead of a 420 MB memory-mapped file:
 *   <root>/index/<20-digit file number>        entries, append-only, 24 bytes each:
 *       key hash (4) · previous entry number in the slot + 1, 0 = none (4) · commit-log offset (8) · store time ms (8)
 *   <root>/index/<20-digit file number>.slots  slot table (big-endian int32 × slots), written when the file is sealed
 * The active file's slot table lives in memory (4 MB at the default 1M slots) and is rebuilt
 * from its entries at start-up (derived data; the entry file is the truth). A look-up walks
 * the chain with positioned reads, newest first, so memory stays bounded by one slot table
 * plus entries not yet written, whatever the data size. Writes are sequential appends.
 */
const ENTRY = 24;

interface IndexFile {
  no: number;
  path: string;
  count: number;
  persisted: number;
  firstPhy: number;
  lastPhy: number;
  firstTs: number;
  lastTs: number;
  /** In memory while active or until the sealed slot table is on disk. */
  slots: Int32Array | undefined;
  sealed: boolean;
  slotsOnDisk: boolean;
  /** Entries [memStart, count). */
  mem: Buffer;
  memStart: number;
}

/** |String.hashCode(topic + "#" + key)| as RocketMQ's IndexService computes it, without building the string. */
export function indexKeyHash(topic: string, key: string, topicHash = javaStringHashCode(topic)): number {
  let h = topicHash;
  h = (Math.imul(h, 31) + 35) | 0; // '#'
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return h === -2147483648 ? 0 : Math.abs(h);
}

export class IndexService {
  private files: IndexFile[] = [];
  private persisting = false;
  lastPhy = -1;
  lastTs = 0;

  constructor(
    private readonly dir: string,
    private readonly maxEntries: number,
    private readonly slotNum: number,
    private readonly fds: ReadFdCache,
    private readonly logger: Logger,
  ) {}

  get unpersistedBytes(): number {
    let n = 0;
    for (const f of this.files) n += (f.count - f.persisted) * ENTRY;
    return n;
  }

  async load(logEnd: number, clean: boolean): Promise<void> {
    await this.openFiles();
    await this.cutPastLogEnd(logEnd, clean);
    for (let i = 0; i < this.files.length; i++) {
      const f = this.files[i]!;
      if (f.count > 0) {
        const a = await this.readEntry(f, 0);
        const b = await this.readEntry(f, f.count - 1);
        f.firstPhy = a.phy;
        f.firstTs = a.ts;
        f.lastPhy = b.phy;
        f.lastTs = b.ts;
      }
      if (!f.sealed) {
        f.slots = await this.rebuildSlots(f);
        if (i < this.files.length - 1 || f.count >= this.maxEntries) {
          f.sealed = true;
          await this.writeSlots(f);
        }
      }
    }
    const last = this.files.at(-1);
    if (last && last.count > 0) {
      this.lastPhy = last.lastPhy;
      this.lastTs = last.lastTs;
    }
  }

  /** Lists the index files (numbered without gaps) and cuts a torn entry off each. */
  private async openFiles(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const names = (await fs.promises.readdir(this.dir)).sort();
    const slotFiles = new Set(names.filter((n) => n.endsWith(".slots")).map((n) => n.slice(0, -6)));
    for (const name of names) {
      if (name.endsWith(".slots") || name.endsWith(".tmp")) continue;
      const path = join(this.dir, name);
      if (!isOffsetFileName(name)) {
        this.logger.warn(`ignoring ${path}: not an index file name`);
        continue;
      }
      const no = Number(name);
      const prev = this.files.at(-1);
      if (prev && prev.no + 1 !== no) {
        throw new StoreCorruptionError(
          join(this.dir, offsetFileName(prev.no + 1)),
          "index file missing from the sequence",
        );
      }
      const size = (await fs.promises.stat(path)).size;
      const count = Math.floor(size / ENTRY);
      if (size % ENTRY !== 0) {
        this.logger.warn(`index ${path}: cut a torn entry`);
        await this.truncate(path, count * ENTRY);
      }
      this.files.push({
        no,
        path,
        count,
        persisted: count,
        firstPhy: -1,
        lastPhy: -1,
        firstTs: 0,
        lastTs: 0,
        slots: undefined,
        sealed: slotFiles.has(name),
        slotsOnDisk: slotFiles.has(name),
        mem: Buffer.alloc(0),
        memStart: count,
      });
    }
  }

  /** Entries pointing at or past the log end: damage after a clean stop, a lost tail after a crash. */
  private async cutPastLogEnd(logEnd: number, clean: boolean): Promise<void> {
    for (let i = 0; i < this.files.length; i++) {
      const f = this.files[i]!;
      if (f.count === 0) continue;
      const last = await this.readEntry(f, f.count - 1);
      if (last.phy < logEnd) continue;
      if (clean) {
        throw new StoreCorruptionError(
          f.path,
          `index entry points to ${last.phy}, past the commit log end ${logEnd}`,
        );
      }
      let lo = 0;
      let hi = f.count - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((await this.readEntry(f, mid)).phy >= logEnd) hi = mid;
        else lo = mid + 1;
      }
      this.logger.warn(`index ${f.path}: cut ${f.count - lo} entries past the log end ${logEnd}`);
      for (const g of this.files.splice(i + 1)) await this.removeFile(g);
      await this.truncate(f.path, lo * ENTRY);
      await fs.promises.rm(`${f.path}.slots`, { force: true });
      f.count = f.persisted = f.memStart = lo;
      f.sealed = f.slotsOnDisk = false;
      break;
    }
  }

  private async truncate(path: string, bytes: number): Promise<void> {
    this.fds.forget(path);
    await truncateDurable(path, bytes);
  }

  private async rebuildSlots(f: IndexFile): Promise<Int32Array> {
    const slots = new Int32Array(this.slotNum);
    if (f.count === 0) return slots;
    const fd = await open(f.path, "r");
    try {
      const chunk = Buffer.allocUnsafe(ENTRY * 65536);
      for (let i = 0; i < f.count; ) {
        const n = Math.min(65536, f.count - i);
        await readAt(fd, chunk, 0, n * ENTRY, i * ENTRY);
        for (let j = 0; j < n; j++) slots[chunk.readInt32BE(j * ENTRY) % this.slotNum] = i + j + 1;
        i += n;
      }
    } finally {
      await close(fd);
    }
    return slots;
  }

  private async writeSlots(f: IndexFile): Promise<void> {
    if (!f.slots) return;
    const s = f.slots;
    // Big-endian on disk; a native copy + byte swap keeps this off the event loop's clock.
    const out = Buffer.from(Buffer.from(s.buffer, s.byteOffset, s.byteLength));
    if (endianness() === "LE") out.swap32();
    await writeFileAtomic(`${f.path}.slots`, out);
    f.slotsOnDisk = true;
    f.slots = undefined;
  }

  private async removeFile(f: IndexFile): Promise<void> {
    this.fds.forget(f.path);
    this.fds.forget(`${f.path}.slots`);
    await fs.promises.rm(f.path, { force: true });
    await fs.promises.rm(`${f.path}.slots`, { force: true });
  }

  private active(): IndexFile {
    let f = this.files.at(-1);
    if (!f || f.sealed || f.count >= this.maxEntries) {
      if (f) f.sealed = true; // its slot table goes to disk at the next persist
      const no = f ? f.no + 1 : 0;
      f = {
        no,
        path: join(this.dir, offsetFileName(no)),
        count: 0,
        persisted: 0,
        firstPhy: -1,
        lastPhy: -1,
        firstTs: 0,
        lastTs: 0,
        slots: new Int32Array(this.slotNum),
        sealed: false,
        slotsOnDisk: false,
        mem: Buffer.alloc(0),
        memStart: 0,
      };
      this.files.push(f);
    }
    return f;
  }

  /** Adds `topic#key` → phy; called by the dispatcher in commit-log order. */
  put(topic: string, key: string, phy: number, ts: number, topicHash?: number): void {
    const f = this.active();
    const hash = indexKeyHash(topic, key, topicHash);
    const slot = hash % this.slotNum;
    const used = (f.count - f.memStart) * ENTRY;
    if (used + ENTRY > f.mem.length) {
      const next = Buffer.allocUnsafe(Math.max(ENTRY * 256, f.mem.length * 2));
      f.mem.copy(next, 0, 0, used);
      f.mem = next;
    }
    const mem = f.mem;
    putInt(mem, used, hash);
    putInt(mem, used + 4, f.slots![slot]!);
    putLong(mem, used + 8, phy);
    putLong(mem, used + 16, ts);
    f.count++;
    f.slots![slot] = f.count;
    if (f.firstPhy < 0) {
      f.firstPhy = phy;
      f.firstTs = ts;
    }
    f.lastPhy = phy;
    f.lastTs = ts;
    this.lastPhy = phy;
    this.lastTs = ts;
  }

  /** Writes pending entries (and slot tables of sealed files), fsynced. */
  async persist(): Promise<void> {
    if (this.persisting) return;
    this.persisting = true;
    try {
      for (const f of this.files.slice()) {
        if (f.persisted < f.count) {
          const end = f.count;
          const src = f.mem;
          const srcStart = f.memStart;
          await writeDurableAt(
            f.path,
            src,
            (f.persisted - srcStart) * ENTRY,
            (end - f.persisted) * ENTRY,
            f.persisted * ENTRY,
          );
          f.persisted = end;
          const keep = f.count - f.persisted;
          const next = Buffer.allocUnsafe(Math.max(ENTRY * 256, keep * ENTRY * 2));
          f.mem.copy(next, 0, (f.persisted - f.memStart) * ENTRY, (f.count - f.memStart) * ENTRY);
          f.mem = next;
          f.memStart = f.persisted;
        }
        if (f.sealed && !f.slotsOnDisk && f.persisted === f.count) await this.writeSlots(f);
      }
    } finally {
      this.persisting = false;
    }
  }

  private async readEntry(
    f: IndexFile,
    n: number,
  ): Promise<{ hash: number; prev: number; phy: number; ts: number }> {
    let b: Buffer;
    let p = 0;
    if (n >= f.memStart) {
      b = f.mem;
      p = (n - f.memStart) * ENTRY;
    } else {
      b = Buffer.allocUnsafe(ENTRY);
      const fd = await this.fds.get(f.path);
      if ((await readAt(fd, b, 0, ENTRY, n * ENTRY)) < ENTRY) {
        throw new StoreCorruptionError(f.path, `index file is shorter than entry ${n}`);
      }
    }
    return {
      hash: b.readInt32BE(p),
      prev: b.readInt32BE(p + 4),
      phy: readLong(b, p + 8),
      ts: readLong(b, p + 16),
    };
  }

  private async slotHead(f: IndexFile, slot: number): Promise<number> {
    if (f.slots) return f.slots[slot]!;
    const b = Buffer.allocUnsafe(4);
    const fd = await this.fds.get(`${f.path}.slots`);
    if ((await readAt(fd, b, 0, 4, slot * 4)) < 4)
      throw new StoreCorruptionError(`${f.path}.slots`, "slot table too short");
    return b.readInt32BE(0);
  }

  /**
   * Commit-log offsets of entries for `topic#key` stored in [begin, end], newest first,
   * at most `max` (hash matches: callers check the record's keys).
   */
  async query(topic: string, key: string, begin: number, end: number, max: number): Promise<number[]> {
    const hash = indexKeyHash(topic, key);
    const slot = hash % this.slotNum;
    const out: number[] = [];
    for (let i = this.files.length - 1; i >= 0 && out.length < max; i--) {
      const f = this.files[i]!;
      if (f.count === 0 || f.lastTs < begin || f.firstTs > end) continue;
      let n = await this.slotHead(f, slot);
      for (let hops = 0; n > 0 && n <= f.count && out.length < max && hops < 1_000_000; hops++) {
        const e = await this.readEntry(f, n - 1);
        if (e.ts < begin) break;
        if (e.hash === hash && e.ts <= end) out.push(e.phy);
        if (e.prev >= n) break; // chains only point backwards; anything else is damage
        n = e.prev;
      }
    }
    return out;
  }

  /** Drops files whose entries all point below the commit log's min offset (never the active one). */
  async applyLogMin(logMin: number): Promise<void> {
    while (this.files.length > 1 && this.files[0]!.lastPhy < logMin && this.files[0]!.slotsOnDisk) {
      await this.removeFile(this.files.shift()!);
    }
  }

  async close(): Promise<void> {
    const f = this.files.at(-1);
    if (f && f.count >= this.maxEntries) f.sealed = true;
    await this.persist();
  }
}
