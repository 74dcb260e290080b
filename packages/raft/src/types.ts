// The data the Raft core consumes and produces. Everything here is plain data: the core never
// touches sockets, files or clocks, so the caller can serialise these however it likes.

/** A replica's identity, e.g. DLedger's "n0". Stable for the life of the replica. */
export type NodeId = string;

/** No node: no vote cast, or no known leader. */
export const NONE: NodeId = "";

/**
 * normal: application data. config: a single-server membership change (see configChange.ts).
 * noop: appended by every new leader so it can commit entries of earlier terms (Raft §5.4.2).
 */
export type EntryType = "normal" | "config" | "noop";

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Opaque to the core. For the broker this is one stored message record. */
  readonly data: Uint8Array;
}

/** What must survive a crash before any message of the same Ready that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** Voting membership as of `index` (the index of the config entry or snapshot that set it). */
export interface ConfigState {
  readonly voters: readonly NodeId[];
  readonly index: number;
  /** Optional: replicas that committed config entries at or before `index` removed (id → index
   *  of that entry), so a restarted member can still tell one that was down during its removal. */
  readonly removedAt?: Readonly<Record<NodeId, number>>;
}

export interface SnapshotMetadata {
  /** Last log index the snapshot covers, and its term. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly voters: readonly NodeId[];
  /** Optional: replicas that config entries at or before `index` removed (id → that entry's
   *  index), so a member that installed the snapshot can still tell one that was down during
   *  its removal (removedPeer.ts) — the entries themselves are gone with the compacted log. */
  readonly removedAt?: Readonly<Record<NodeId, number>>;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** Application state at metadata.index, produced and restored by the application. */
  readonly data: Uint8Array;
}

export type MessageType =
  | "app" // AppendEntries (leader → follower)
  | "appResp"
  | "vote" // RequestVote
  | "voteResp"
  | "preVote" // would you vote for me in term+1? (does not change anyone's term)
  | "preVoteResp"
  | "heartbeat"
  | "heartbeatResp"
  | "snap" // InstallSnapshot
  | "timeoutNow"; // leadership transfer: campaign now, skipping pre-vote and leases

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** app: term of the entry at `index`; vote/preVote: term of the candidate's last entry. */
  readonly logTerm: number;
  /** app: index preceding `entries`; appResp: last index matched (or rejected); vote: candidate's last index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** appResp with reject: the follower's guess of the highest index that may match. */
  readonly rejectHint: number;
  readonly snapshot?: Snapshot;
  /** vote/preVote sent because of a leadership transfer: voters ignore their leader lease. */
  readonly transfer?: boolean;
  /** appResp rejection from an amnesiac replica (RaftConfig.amnesia): it may have lost entries
   *  it acknowledged, so its log may end below the leader's match for it. */
  readonly forgot?: boolean;
  /** voteResp/preVoteResp rejection: the group removed the candidate by the config entry at
   *  `index` (of term `logTerm`), committed, which the candidate's log lacks (removedPeer.ts). */
  readonly removed?: boolean;
}

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state the application usually wants to observe (not persisted). */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
  readonly term: number;
}

/**
 * Everything the core wants done, produced by RaftNode.ready(). The caller must, in order:
 *   1. persist `snapshot` (if any), then `entries` (truncating any conflicting suffix at
 *      entries[0].index first), then `hardState` (if any) — fsync when `mustSync`;
 *      `messages` may be sent before or during this step;
 *   2. send `messagesAfterPersist` (vote and append responses promise durability);
 *   3. apply `committedEntries` in order (and restore `snapshot` into the state machine first);
 *   4. call RaftNode.advance().
 */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly mustSync: boolean;
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  /**
   * Reported once: a member (`by`) told this replica that the group removed it by the config
   * entry at `index`, committed, which its log lacks (it was down during its removal). It no
   * longer campaigns; its own log still names the old voters.
   */
  readonly removed?: { readonly index: number; readonly by: NodeId };
}

/** Approximate bytes an entry costs on the wire and on disk, for batching limits. */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 24;
}
