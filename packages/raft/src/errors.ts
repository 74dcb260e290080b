// Operating errors are typed so the caller can map them to a retriable client answer
// (RocketMQ SERVICE_NOT_AVAILABLE for "not leader", SYSTEM_BUSY for transfers). Programmer
// errors and broken invariants throw RaftInvariantError: the replica must stop, not limp on.

export class RaftError extends Error {
  override readonly name: string = "RaftError";
  /** True when the same request may succeed on another replica or a little later. */
  readonly retriable: boolean;
  constructor(message: string, retriable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.retriable = retriable;
  }
}

/** A proposal reached a replica that is not the leader. `leader` is the known leader, or "". */
export class NotLeaderError extends RaftError {
  override readonly name = "NotLeaderError";
  readonly leader: string;
  constructor(leader: string) {
    super(leader ? `not the leader; leader is ${leader}` : "not the leader; no leader known", true);
    this.leader = leader;
  }
}

/** The leader refuses the proposal for now (leadership transfer, pending config change …). */
export class ProposalDroppedError extends RaftError {
  override readonly name = "ProposalDroppedError";
}

/** Storage: the requested index is below the first available index (compacted away). */
export class CompactedError extends RaftError {
  override readonly name = "CompactedError";
  constructor(index: number, firstIndex: number) {
    super(`log index ${index} is compacted (first available index is ${firstIndex})`, false);
  }
}

/** Storage: the requested index is above the last index. */
export class UnavailableError extends RaftError {
  override readonly name = "UnavailableError";
  constructor(index: number, lastIndex: number) {
    super(`log index ${index} is beyond the last index ${lastIndex}`, false);
  }
}

/** A Raft safety invariant would be broken (e.g. truncating a committed entry). Fatal. */
export class RaftInvariantError extends Error {
  override readonly name = "RaftInvariantError";
}

export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}
