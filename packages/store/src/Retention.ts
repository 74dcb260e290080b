/*
 * When to delete commit log segments (RocketMQ's CleanCommitLogService, pure logic so tests
 * can drive it with any clock): at a deleteWhen hour, segments older than fileReservedTime;
 * at any hour, when the disk is fuller than diskMaxUsedSpaceRatio, the oldest segments
 * whatever their age.
 */
export interface RetentionInput {
  now: number;
  deleteHours: Set<number>;
  fileReservedHours: number;
  diskUsedRatio: number;
  diskMaxUsedSpaceRatio: number;
  /** Force a pass now (admin TRIGGER_DELETE_FILES): like the deleteWhen hour. */
  manual?: boolean;
}

export interface RetentionDecision {
  run: boolean;
  /** Delete even unexpired segments (disk too full). */
  force: boolean;
}

export function retentionDecision(i: RetentionInput): RetentionDecision {
  const force = i.diskUsedRatio > i.diskMaxUsedSpaceRatio;
  const atHour = i.deleteHours.has(new Date(i.now).getHours());
  return { run: force || atHour || i.manual === true, force };
}

export function segmentExpired(lastModifiedMs: number, now: number, fileReservedHours: number): boolean {
  return now - lastModifiedMs >= fileReservedHours * 3600_000;
}
