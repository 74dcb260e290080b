/*
 * DLedger: the retention floor every replica keeps to. Only the leader runs the services
 * that own parked records (delay levels, timers, unresolved halves) and so the retention
 * guards that know where those records sit. The leader publishes the lowest commit-log
 * offset its guards still need through the log (a "retention" metadata change); every
 * replica registers a guard holding that floor, so a follower — which may be the next leader
 * — never deletes, by age or under disk pressure, a segment the leader still keeps for a
 * parked record. Pure arithmetic here; ReplicatedMetadata carries and persists the value.
 */

/**
 * Name of the guard every DLedger replica registers with the floor learned from the log (and
 * a classic slave with its master's floor, ha/SlaveRetentionFloor.ts).
 */
export const REPLICATED_FLOOR_GUARD =
  "the leader's (or master's) parked records (replicated retention floor)";

/** A master's guard while its services start (their own guards are not registered yet). */
export const SERVICES_STARTING_GUARD = "the broker's delay-level, timer and transaction services (starting)";

/** How often the leader asks its guards for the floor to publish. */
export const RETENTION_FLOOR_MS = 1000;

/**
 * The floor a leader publishes: what its guards need (`guardFloor`, POSITIVE_INFINITY when
 * they hold nothing), never above what they had seen (`seenUpTo`: records dispatched before
 * they were asked), rounded down to a segment start. Rounding changes no deletion (a segment
 * goes only when it ends at or below the floor, and segments end on multiples of the segment
 * size) but makes the floor move once per segment, not with every record: one metadata
 * record per segment of log at most.
 */
export function floorToPublish(seenUpTo: number, guardFloor: number, segmentSize: number): number {
  const raw = Math.min(seenUpTo, guardFloor);
  if (!Number.isFinite(raw) || raw <= 0) return 0;
  return Math.floor(raw / segmentSize) * segmentSize;
}

/**
 * What a replica's guard answers: the floor learned from the log, or 0 (keep everything)
 * while none is known — a replica that has not learned what the leader keeps must not guess.
 */
export function replicaGuardFloor(learned: number | undefined): number {
  return learned !== undefined && Number.isSafeInteger(learned) && learned >= 0 ? learned : 0;
}
