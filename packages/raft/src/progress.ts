import { invariant } from "./errors.js";

/**
 * probe: send one append at a time and wait for the answer (we do not know where the follower's
 * log ends). replicate: stream appends optimistically, bounded by the inflight window.
 * snapshot: an InstallSnapshot is on its way; send nothing else until it is answered.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** The leader's view of one follower's log. */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** probe: an append is outstanding; reset by any answer or heartbeat answer. */
  probeSent = false;
  /** snapshot: the index of the snapshot sent, and ticks spent waiting for its answer. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  /** Heard from within the last election timeout (ticks since its last answer below). */
  recentActive = true;
  ticksSinceHeard = 0;
  /** replicate: last index of each append in flight, oldest first. */
  readonly inflights: number[] = [];
  readonly maxInflight: number;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.maxInflight = maxInflight;
  }

  heardFrom(): void {
    this.recentActive = true;
    this.ticksSinceHeard = 0;
  }

  becomeProbe(): void {
    if (this.state === "snapshot") {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset("probe");
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset("replicate");
  }

  becomeSnapshot(index: number): void {
    this.reset("snapshot");
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.length = 0;
  }

  /** An acknowledgement up to `n`; returns whether it told us anything new. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** An append covering up to `last` was sent in replicate state. */
  sentEntries(last: number): void {
    if (this.state === "replicate") {
      this.next = last + 1;
      this.inflights.push(last);
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  freeInflightsTo(index: number): void {
    let n = 0;
    while (n < this.inflights.length && this.inflights[n]! <= index) n++;
    if (n > 0) this.inflights.splice(0, n);
  }

  /** The follower lost entries it had acknowledged (an amnesiac replica's rejection below
   *  `match`): nothing of its log is known to match any more. Probe from `next`; `match` is
   *  re-learned from its next acknowledgement (lowering it only delays commits, which never
   *  move back). */
  forgot(next: number): void {
    this.match = 0;
    this.next = Math.max(1, next);
    this.reset("probe");
  }

  /** A rejection of the append at `rejected`; `hint` is the highest index that may match.
   *  Returns false for a stale rejection (of an append we already moved past). */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    invariant(this.next >= 1, "next below 1");
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.length >= this.maxInflight;
      case "snapshot":
        return true;
    }
  }
}

/** Raft's quorum: the highest index durable on a majority of `matches` (one per voter). */
export function quorumIndex(matches: number[]): number {
  if (matches.length === 0) return 0;
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[Math.floor(matches.length / 2)]!;
}

export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
