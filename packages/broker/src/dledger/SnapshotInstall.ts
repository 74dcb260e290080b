import type { Snapshot } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { MembershipLog } from "./MembershipLog.js";
import type { MetadataChange } from "./MetadataRecord.js";
import type { RaftLogIndex } from "./RaftLogIndex.js";

/**
 * Raft InstallSnapshot for a DLedger group whose leader's retention deleted the start of its
 * commit log (the Raft log): a replica that needs an entry below the leader's first retained
 * one cannot get it, so the leader sends a snapshot instead — the last entry it covers (index,
 * term, membership: the core's metadata) and this payload:
 *
 * - `end`: the commit-log offset where that entry ends. The replica's commit log begins there
 *   (an empty store may begin at any offset; its consume queues start at the queue offset of
 *   the first record they get) and the next entries' bytes follow at the leader's offsets.
 * - `state`: what the state machine beside the log needs that the deleted records held —
 *   every topic, subscription group and consumer offset, the delay/timer delivery progress
 *   and the retention floor, as metadata changes (ReplicatedMetadata applies them as it
 *   applies the log's), with `applied`: the metadata topic's queue offset they cover, from
 *   which the replica goes on applying the log's metadata records.
 *
 * Only an EMPTY replica installs one (a new member, or a wiped follower restarted on an empty
 * store); one with entries is refused (DLedgerNode: stop it, move its store away, restart it).
 */
export interface SnapshotState {
  applied: number;
  changes: MetadataChange[];
}

export interface SnapshotPayload {
  v: 1;
  end: number;
  /**
   * Where the leader's commit-log segment holding `end` ends: the replica's first segment is
   * [end, segmentEnd), so every later segment starts where the leader's does (a record never
   * crosses a segment end, and the blank fillers fall at the same offsets on every replica).
   */
  segmentEnd: number;
  state: SnapshotState;
}

export function encodeSnapshotPayload(p: SnapshotPayload): Uint8Array {
  return Buffer.from(JSON.stringify(p), "utf8");
}

/** The payload of a received snapshot; throws a clear error on anything else. */
export function decodeSnapshotPayload(bytes: Uint8Array): SnapshotPayload {
  let p: Partial<SnapshotPayload>;
  try {
    p = JSON.parse(Buffer.from(bytes).toString("utf8")) as Partial<SnapshotPayload>;
  } catch (err) {
    throw new Error(`snapshot payload is not JSON (${bytes.byteLength} bytes): ${(err as Error).message}`);
  }
  const okInt = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (
    p?.v !== 1 ||
    !okInt(p.end) ||
    !okInt(p.segmentEnd) ||
    p.segmentEnd! <= p.end! ||
    !p.state ||
    !okInt(p.state.applied) ||
    !Array.isArray(p.state.changes)
  ) {
    throw new Error(
      `snapshot payload of an unknown form: ${Buffer.from(bytes).subarray(0, 200).toString("utf8")}`,
    );
  }
  return p as SnapshotPayload;
}

/** A replica with entries was sent a snapshot: it stops replicating and stays up. */
export class SnapshotRefusedError extends Error {
  override name = "SnapshotRefusedError";
}

/**
 * A replica with entries was sent a snapshot that covers every entry it committed (its commit
 * index ≤ the snapshot's): its log ends before the leader's oldest retained entry, and nothing
 * it holds is needed — the leader has every committed entry (in the snapshot or its log) and
 * an uncommitted one was never acknowledged to a client. It may drop its store and install
 * the snapshot as an empty replica does (StoreReset.ts); until then it stays up, refusing.
 */
export class BehindLeaderError extends SnapshotRefusedError {
  override name = "BehindLeaderError";
  constructor(
    message: string,
    /** The snapshot's last entry, and where the leader's log goes on. */
    readonly snapshot: { index: number; end: number },
    /** This replica: its last entry, commit index and commit-log end. */
    readonly replica: { lastIndex: number; commit: number; logEnd: number },
  ) {
    super(message);
  }
}

/**
 * Why a replica cannot install a snapshot, or undefined when it can: only an empty one can
 * (no entry in its Raft index past an earlier snapshot, nothing in its commit log). A replica with entries behind the
 * leader's first retained one would have to drop them first: an operator step.
 */
export function refuseInstall(
  replica: { lastIndex: number; baseIndex: number; logEnd: number },
  at: { index: number; end: number },
): string | undefined {
  // Empty: no entry past its base (none, or an earlier snapshot's) and nothing in its commit log.
  if (replica.lastIndex === replica.baseIndex && replica.logEnd === 0) return undefined;
  return (
    `the leader's log begins after entry ${at.index} (commit-log offset ${at.end}; retention deleted the rest), ` +
    `but this replica holds entries up to ${replica.lastIndex} (log end ${replica.logEnd}) and can only install a snapshot on an empty store: ` +
    "stop it, move its store directory away and restart it empty — it then begins at the leader's oldest data"
  );
}

/**
 * Why this replica's commit log cannot follow its installed base, or undefined when it can:
 * the segment holding the base's end offset must end where the leader's did (`segmentEnd`),
 * or every later segment starts elsewhere than the leader's and the leader's end-of-segment
 * fillers no longer fit. An older version could leave such a store after a power cut right
 * after the install (its first segment file kept with a guessed full size, see
 * Segment.listSegments): refused with the step that repairs it, rather than failing later at
 * the leader's first segment end.
 */
export function misfitFirstSegment(
  base: { index: number; end: number; segmentEnd?: number },
  seg: { start: number; end: number; path: string } | undefined,
): string | undefined {
  if (base.segmentEnd === undefined || !seg || seg.end === base.segmentEnd) return undefined;
  return (
    `commit log segment ${seg.path} covers [${seg.start}, ${seg.end}) but the snapshot installed at entry ${base.index} ` +
    `begins the log at ${base.end} in a leader's segment that ends at ${base.segmentEnd}: this replica's segments would not line up with the leader's ` +
    "(a store left by an older version after a power cut during a snapshot install); stop it, move its store directory away and restart it empty — it installs the leader's snapshot again"
  );
}

/** What a snapshot carries besides the log: ReplicatedMetadata (wired by the broker). */
export interface SnapshotStateMachine {
  snapshotState(): SnapshotState;
  installSnapshot(state: SnapshotState): Promise<void>;
}

/** The payload of a snapshot whose last entry ends at commit-log offset `end`. */
export function snapshotPayloadAt(
  end: number,
  segmentEnd: number,
  sm: SnapshotStateMachine | undefined,
): Uint8Array {
  return encodeSnapshotPayload({
    v: 1,
    end,
    segmentEnd,
    state: sm ? sm.snapshotState() : { applied: 0, changes: [] },
  });
}

/** What installing a snapshot writes to: the replica's index, membership, store and gate. */
export interface SnapshotTarget {
  index: RaftLogIndex;
  members: MembershipLog;
  store: MessageStore;
  gate: { committedOffset: number };
  stateMachine: SnapshotStateMachine | undefined;
  logger: Logger;
}

/**
 * Installs a leader's snapshot on an empty replica: the metadata first
 * (applying it twice changes nothing), then the Raft index's base and the membership, both
 * durable; the commit log then begins at the snapshot's end offset. A replica with entries
 * is refused: it stops replicating (the operator step in the error) and stays up.
 */
export async function installSnapshot(s: Snapshot, t: SnapshotTarget): Promise<void> {
  const { index, term, voters, removedAt } = s.metadata;
  const payload = decodeSnapshotPayload(s.data);
  const why = refuseInstall(
    {
      lastIndex: t.index.lastIndex(),
      baseIndex: t.index.logBase.index,
      logEnd: t.store.maxPhysicalOffset,
    },
    { index, end: payload.end },
  );
  if (why) {
    const commit = t.index.hardState.commit;
    if (commit > index) throw new SnapshotRefusedError(why);
    throw new BehindLeaderError(
      why,
      { index, end: payload.end },
      { lastIndex: t.index.lastIndex(), commit, logEnd: t.store.maxPhysicalOffset },
    );
  }
  t.logger.warn(
    `dledger: installing the leader's snapshot at entry ${index} (term ${term}): the commit log begins at ${payload.end} (the leader's retention deleted what is before it)`,
  );
  await t.stateMachine?.installSnapshot(payload.state);
  await t.index.installBase({ index, term, end: payload.end, segmentEnd: payload.segmentEnd });
  t.members.restoreBase(index, voters, removedAt);
  t.gate.committedOffset = payload.end;
  t.store.commitAdvanced();
}
