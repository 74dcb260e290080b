import type { MessageInput, TimerEntry } from "@tidemq/store";
import { DueHeap } from "./DueHeap.js";

/** A timer message loaded from the wheel (or enqueued late), waiting for its millisecond. */
export interface Loaded {
  dueMs: number;
  entry: TimerEntry;
  epoch: number;
  /** The record to store in the real topic, once read. */
  input: MessageInput | undefined;
  uniqKey: string | undefined;
  /** Commit-log offset of the timer's first record (RollOrigin.ts), once read. */
  origin: number | undefined;
  read: Promise<void> | undefined;
  readFinished: boolean;
  /** Taken off the heap: being stored or dropped. */
  done: boolean;
}

/**
 * What the timer service holds in memory between the wheel and the real topics: the loaded
 * messages (by due time, for delivery; by due ms, for recall), the entries being rolled to a
 * later lap, and the recalls heard. Delivery, loading, rolling and recall all read it; kept
 * apart so each of them can be read without the others.
 */
export class LoadedTimers {
  readonly heap = new DueHeap<Loaded>();
  /** Loaded messages by due ms, for recall. */
  readonly loaded = new Map<number, Loaded[]>();
  /** Entries taken off the wheel to be rolled, until their copies are enqueued (recall looks here too). */
  readonly rolling = new Map<number, TimerEntry[]>();
  /** UNIQ_KEYs recalled → their due ms; checked at delivery. */
  readonly cancelled = new Map<string, number>();

  /** A message now waiting in memory for its millisecond. */
  add(item: Loaded): void {
    const list = this.loaded.get(item.dueMs);
    if (list) list.push(item);
    else this.loaded.set(item.dueMs, [item]);
    this.heap.push(item);
  }

  /** A delivered (or dropped) message: recall no longer finds it loaded. */
  forget(item: Loaded): void {
    const list = this.loaded.get(item.dueMs);
    if (!list) return;
    if (list.length === 1 && list[0] === item) {
      this.loaded.delete(item.dueMs);
      return;
    }
    const i = list.indexOf(item);
    if (i >= 0) list.splice(i, 1);
  }

  /** The loaded messages due at `dueMs` whose UNIQ_KEY hashes to `hash`. */
  loadedAt(dueMs: number, hash: number): Loaded[] {
    return (this.loaded.get(dueMs) ?? []).filter((x) => x.entry.uniqHash === hash);
  }

  /** Whether a message of timer `origin` (RollOrigin.ts) due at `dueMs` waits in memory already. */
  loadedOrigin(dueMs: number, origin: number): boolean {
    return (this.loaded.get(dueMs) ?? []).some((x) => x.origin === origin);
  }

  /** An entry taken off the wheel to be stored again for a later lap. */
  startRolling(e: TimerEntry): void {
    const l = this.rolling.get(e.dueMs);
    if (l) l.push(e);
    else this.rolling.set(e.dueMs, [e]);
  }

  /** A rolled copy was enqueued (or lost): the entry is in the wheel again. */
  rolled(e: TimerEntry): void {
    const l = this.rolling.get(e.dueMs);
    if (!l) return;
    const i = l.findIndex((x) => x.uniqHash === e.uniqHash && x.kind === e.kind);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.rolling.delete(e.dueMs);
  }

  /** Recalls older than every loaded slot can no longer match anything. */
  prune(loadedUpToSec: number): void {
    const horizon = (loadedUpToSec - 60) * 1000;
    if (this.cancelled.size === 0) return;
    for (const [k, due] of this.cancelled) if (due < horizon) this.cancelled.delete(k);
  }
}
