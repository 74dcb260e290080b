/**
 * What retention must keep although it is old or the disk is full: records the broker has
 * acknowledged for a later delivery (delay-level and timer records not yet delivered, half
 * messages not yet resolved). Each guard names the lowest commit-log offset its owner still
 * needs; a segment is deleted only when it lies wholly below every guard's offset. Deleting
 * such a segment would lose acknowledged messages, so under disk pressure the broker instead
 * fills up to diskSpaceWarningLevelRatio and refuses new appends (see RetentionService).
 */
export type RetentionGuard = () => number | Promise<number>;

export interface RetentionFloor {
  /** Segments ending at or below this may go (POSITIVE_INFINITY: no guard holds anything). */
  offset: number;
  /** The guard that set it, for the log line. */
  by: string | undefined;
}

export class RetentionGuards {
  private readonly guards = new Map<string, RetentionGuard>();

  /** `name` ("timer", "delay levels", "transactions") labels the guard in log lines; a second add replaces it. */
  add(name: string, guard: RetentionGuard): void {
    this.guards.set(name, guard);
  }

  remove(name: string): void {
    this.guards.delete(name);
  }

  get size(): number {
    return this.guards.size;
  }

  /**
   * The lowest offset any guard needs. A guard that fails keeps everything (offset 0): not
   * knowing what is still needed must never delete it. `exclude` leaves one guard out (a
   * DLedger leader computes the floor it publishes from its own services' guards, not from
   * the floor it published before).
   */
  async floor(exclude?: string): Promise<RetentionFloor> {
    let offset = Number.POSITIVE_INFINITY;
    let by: string | undefined;
    for (const [name, guard] of this.guards) {
      if (name === exclude) continue;
      let o: number;
      let label = name;
      try {
        o = await guard();
      } catch (err) {
        o = 0;
        label = `${name} (its guard failed: ${(err as Error).message})`;
      }
      if (Number.isNaN(o)) o = 0;
      if (o < offset) {
        offset = o;
        by = label;
      }
    }
    return { offset, by };
  }
}
