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

  constructor(voters: readonly string[]) {
    this.live = new MemoryStorage(voters);
    this.durable = new MemoryStorage(voters);
  }

  write(op: WriteOp): void {
    applyOp(this.live, op);
    this.pending.push(op);
  }

  sync(): void {
    for (const op of this.pending) applyOp(this.durable, op);
    this.pending = [];
    this.syncs++;
  }

  /** Application snapshot + compaction: written to a new file, fsynced and renamed (atomic). */
  snapshotAndCompact(index: number, voters: readonly string[], data: Uint8Array, compactTo: number): void {
    this.sync();
    for (const s of [this.live, this.durable]) {
      s.createSnapshot(index, voters, data);
      s.compact(compactTo);
    }
  }

  /** Whether the entry (index, term) would survive a crash now (compacted entries count: the
   *  durable snapshot covers them). */
  holdsDurably(index: number, term: number): boolean {
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
    this.live = this.durable.clone();
  }
}
