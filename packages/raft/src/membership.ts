import { decodeConfigChange, votersAfter } from "./configChange.js";
import type { RaftStorage } from "./storage.js";
import type { ConfigState, Entry, NodeId } from "./types.js";

/**
 * Voting membership as the log defines it. A config entry takes effect as soon as it is in
 * the log (thesis §4.1), so membership is "the last config entry in the log", falling back to
 * the committed base. If the entry is truncated away, membership reverts to the one before.
 */
export class Membership {
  /** Membership as of an index known committed (or a snapshot). */
  private base: { voters: NodeId[]; index: number };
  /** Config entries appended after `base`, oldest first, each with the voters it results in. */
  private pending: { index: number; voters: NodeId[] }[] = [];
  /** Voters removed by a config entry now folded into `base` (id → that entry's index); the
   *  history a leader's committedTo() would otherwise forget. */
  private removedBefore = new Map<NodeId, number>();

  constructor(config: ConfigState) {
    this.base = { voters: [...config.voters], index: config.index };
    this.setRemovedBefore(config.voters, config.index, config.removedAt);
  }

  /** Removals as storage (or a snapshot) tells them: only non-voters, at or before `index`. */
  private setRemovedBefore(
    voters: readonly NodeId[],
    index: number,
    removedAt: Readonly<Record<NodeId, number>> | undefined,
  ): void {
    this.removedBefore.clear();
    for (const [id, at] of Object.entries(removedAt ?? {})) {
      if (!voters.includes(id) && at <= index) this.removedBefore.set(id, at);
    }
  }

  voters(): NodeId[] {
    const last = this.pending[this.pending.length - 1];
    return last ? last.voters : this.base.voters;
  }

  /** Index of the newest config entry not yet committed, or 0. */
  lastPendingIndex(): number {
    return this.pending[this.pending.length - 1]?.index ?? 0;
  }

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Re-read the config entries in (config.index, lastIndex] after a restart. */
  load(storage: RaftStorage, configIndex: number): void {
    const last = storage.lastIndex();
    let lo = Math.max(configIndex + 1, storage.firstIndex());
    while (lo <= last) {
      const batch = storage.entries(lo, last + 1, 8 << 20);
      this.appended(batch);
      lo += batch.length;
    }
  }

  /** A batch was appended at ents[0].index (after truncating there). Returns whether the
   *  voters may have changed. */
  appended(ents: readonly Entry[]): boolean {
    const from = ents[0]!.index;
    let changed = false;
    while (this.pending.length > 0 && this.pending[this.pending.length - 1]!.index >= from) {
      this.pending.pop(); // the entry that set it was truncated: membership reverts
      changed = true;
    }
    for (const e of ents) {
      if (e.type !== "config") continue;
      this.pending.push({
        index: e.index,
        voters: votersAfter(this.voters(), decodeConfigChange(e.data)),
      });
      changed = true;
    }
    return changed;
  }

  committedTo(commit: number): void {
    while (this.pending.length > 0 && this.pending[0]!.index <= commit) {
      const next = this.pending.shift()!;
      for (const id of this.base.voters)
        if (!next.voters.includes(id)) this.removedBefore.set(id, next.index);
      for (const id of next.voters) this.removedBefore.delete(id);
      this.base = next;
    }
  }

  /**
   * Index of the config entry, committed as of `commit`, that removed `id` — when the log shows
   * it (since the last snapshot) and no entry since, committed or not, made `id` a voter again.
   * Only a committed removal counts: a pending one may still be truncated away.
   */
  committedRemoval(id: NodeId, commit: number): number | undefined {
    if (this.voters().includes(id)) return undefined;
    let member = this.base.voters.includes(id);
    let removedAt = member ? undefined : this.removedBefore.get(id);
    for (const p of this.pending) {
      if (p.index > commit) break;
      const now = p.voters.includes(id);
      if (member && !now) removedAt = p.index;
      else if (now) removedAt = undefined;
      member = now;
    }
    return member ? undefined : removedAt;
  }

  /** A snapshot's membership; the history before it is gone but for the removals it names. */
  restore(voters: readonly NodeId[], index: number, removedAt?: Readonly<Record<NodeId, number>>): void {
    this.base = { voters: [...voters], index };
    this.pending = [];
    this.setRemovedBefore(voters, index, removedAt);
  }
}
