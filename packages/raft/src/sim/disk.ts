import { MemoryStorage } from "../storage.js";
import type { Entry, HardState, Snapshot } from "../types.js";
import type { SimRandom } from "./simRandom.js";

type WriteOp =
  | { kind: "entries"; entries: readonly Entry[] }
  | { kind: "hardState"; hardState: HardState }
  | { kind: "snapshot"; snapshot: Snapshot };

function applyOp(s: MemoryStorage, op: WriteOp): void {
  if (op.kind === "entries") s.append(op.entries);
  else if (op.kind === "hardState") s.setHardState(op.hardState);
  else s.applySnapshot(op.snapshot);
}

/**
 * A replica's disk. `live` is what the process sees (page cache); `durable` is what survives a
 * crash. Writes land in `live` at once and in `durable` only when synced. A crash keeps a
 * random prefix of the unsynced writes, and the last kept write may be torn (only a prefix of
 * its entries survives; a real store finds the torn record by its checksum and drops it).
 */
export class SimDisk {
  live: MemoryStorage;
  private durable: MemoryStorage;
  private pending: WriteOp[] = [];
  syncs = 0;
  lostWrites = 0;
  /**
   * DLedger's split durability (see replica.ts, indexLag): sync() makes entries durable as
   * commit-log bytes; which entries those bytes are (the Raft index) becomes durable only at
   * syncIndex(). A crash keeps the bytes but may forget index records past `indexDurable`.
   * Off: sync() makes both durable (the old way, and a single-file store's).
   */
  indexLag = false;
  /** Last entry whose index record is durable (conservatively lowered by any truncation). */
  private indexDurable = 0;
  /** The durable amnesia mark: byte offset the log must cover again (0: none). */
  mark = 0;
  lostIndexRecords = 0;

  constructor(voters: readonly string[]) {
    this.live = new MemoryStorage(voters);
    this.durable = new MemoryStorage(voters);
  }

  write(op: WriteOp): void {
    // A truncation (or a snapshot replacing the log) leaves index records past it undurable.
    if (op.kind === "entries" && op.entries.length > 0)
      this.indexDurable = Math.min(this.indexDurable, op.entries[0]!.index - 1);
    if (op.kind === "snapshot") this.indexDurable = Math.min(this.indexDurable, op.snapshot.metadata.index);
    applyOp(this.live, op);
    this.pending.push(op);
  }

  sync(): void {
    for (const op of this.pending) applyOp(this.durable, op);
    this.pending = [];
    this.syncs++;
    if (!this.indexLag) this.indexDurable = this.durable.lastIndex();
  }

  /** The index records of every durable entry become durable. Returns true when that clears
   *  the amnesia mark: the durable log now reaches strictly past it (see DLedgerNode). */
  syncIndex(): boolean {
    this.indexDurable = this.durable.lastIndex();
    if (this.mark === 0 || byteEnd(this.durable, this.indexDurable) <= this.mark) return false;
    this.mark = 0;
    return true;
  }

  /** Application snapshot + compaction: written to a new file, fsynced and renamed (atomic). */
  snapshotAndCompact(index: number, voters: readonly string[], data: Uint8Array, compactTo: number): void {
    this.sync();
    this.indexDurable = this.durable.lastIndex();
    for (const s of [this.live, this.durable]) {
      s.createSnapshot(index, voters, data);
      s.compact(compactTo);
    }
  }

  /** Whether the entry (index, term) would survive a crash now (compacted entries count: the
   *  durable snapshot covers them). */
  holdsDurably(index: number, term: number): boolean {
    // An amnesiac replica may have acknowledged the entry and lost it: it protects it by not
    // voting (RaftConfig.amnesia) rather than by holding it — what this check is about.
    if (this.mark > 0) return true;
    const d = this.durable;
    if (index < d.firstIndex()) return index <= d.snapshot().metadata.index;
    return index <= d.lastIndex() && d.term(index) === term;
  }

  /** Power loss: unsynced writes are lost, partly or wholly; returns the disk after reboot. */
  crash(rnd: SimRandom): void {
    const keep = rnd.int(this.pending.length + 1);
    for (let i = 0; i < keep; i++) applyOp(this.durable, this.pending[i]!);
    const torn = this.pending[keep];
    if (torn?.kind === "entries" && torn.entries.length > 1 && rnd.chance(0.5)) {
      applyOp(this.durable, {
        kind: "entries",
        entries: torn.entries.slice(0, rnd.int(torn.entries.length)),
      });
    }
    this.lostWrites += this.pending.length - keep;
    this.pending = [];
    if (this.indexLag) this.loseIndexTail(rnd);
    this.indexDurable = this.durable.lastIndex();
    this.live = this.durable.clone();
  }

  /**
   * The Raft index loses (some of) its unsynced records while the commit-log bytes they
   * described survive; then what DLedgerNode.start does: if the log's bytes reach past what
   * the index covers, durably mark amnesia (recoverTo = the log's end) before cutting them.
   */
  private loseIndexTail(rnd: SimRandom): void {
    const d = this.durable;
    const last = d.lastIndex();
    const keepAtLeast = Math.max(this.indexDurable, d.snapshot().metadata.index);
    if (last <= keepAtLeast || !rnd.chance(0.8)) return;
    const logEnd = byteEnd(d, last);
    const drop = 1 + rnd.int(last - keepAtLeast);
    d.dropLast(drop);
    this.lostIndexRecords += drop;
    const hs = d.initialState().hardState;
    d.setHardState({ ...hs, commit: Math.min(hs.commit, d.lastIndex()) });
    if (byteEnd(d, d.lastIndex()) < logEnd) this.mark = Math.max(this.mark, logEnd);
  }
}

/** Bytes an entry occupies in the commit log: a normal entry its data; no-ops and config
 *  entries none (as in DLedger, where they have no commit-log bytes). */
function entryBytes(e: Entry): number {
  return e.type === "normal" ? e.data.byteLength : 0;
}

/** Commit-log offset where entry `index` ends: the snapshot's end (its data's `end` field, see
 *  replica.ts) plus the bytes of the entries after it. */
export function byteEnd(s: MemoryStorage, index: number): number {
  const snap = s.snapshot();
  let end = snapshotEnd(snap);
  const from = snap.metadata.index + 1;
  if (index >= from)
    for (const e of s.entries(from, index + 1, Number.MAX_SAFE_INTEGER)) end += entryBytes(e);
  return end;
}

const dec = new TextDecoder();
function snapshotEnd(snap: Snapshot): number {
  if (snap.data.length === 0) return 0;
  return (JSON.parse(dec.decode(snap.data)) as { end?: number }).end ?? 0;
}
