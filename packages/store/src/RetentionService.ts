import fs from "node:fs";
import type { CommitLog } from "./CommitLog.js";
import { parseDeleteWhen, type ResolvedConfig } from "./config.js";
import { diskUsedRatio } from "./DiskSpace.js";
import type { Dispatcher } from "./Dispatcher.js";
import type { IndexService } from "./IndexService.js";
import type { QueueTable } from "./QueueTable.js";
import { retentionDecision, segmentExpired } from "./Retention.js";
import { RetentionGuards } from "./RetentionGuards.js";
import type { StoreHealth } from "./StoreHealth.js";

/**
 * Retention and disk guards: deletes old commit-log segments (and the queue and index
 * entries into them), watches disk use (appends refused above diskSpaceWarningLevelRatio),
 * keeps the earliest stored message time. The decisions are the pure functions of
 * Retention.ts; this runs them against the files.
 */
export class RetentionService {
  private readonly deleteHours: Set<number>;
  diskRatio = 0;
  earliestTime = -1;
  /** Records still to be delivered (timers, delay levels, halves): never deleted. */
  readonly guards = new RetentionGuards();
  /** Set while a guard keeps the oldest segment that retention would delete (for the disk-full text). */
  heldBy: { guard: string; offset: number } | undefined;

  constructor(
    private readonly cfg: ResolvedConfig,
    private readonly log: CommitLog,
    private readonly table: QueueTable,
    private readonly index: IndexService,
    private readonly dispatcher: Dispatcher,
    private readonly health: StoreHealth,
    private readonly storeTimeAt: (offset: number) => Promise<number>,
  ) {
    this.deleteHours = parseDeleteWhen(cfg.deleteWhen);
  }

  /**
   * One retention pass: at a deleteWhen hour (or `manual`), segments older than
   * fileReservedTime; when the disk is fuller than diskMaxUsedSpaceRatio, the oldest ones
   * regardless of age. Consume-queue and index entries pointing into them go too.
   * Returns the number of segments deleted.
   */
  async deleteExpiredFiles(options: { manual?: boolean; now?: number } = {}): Promise<number> {
    const now = options.now ?? Date.now();
    const d = retentionDecision({
      now,
      deleteHours: this.deleteHours,
      fileReservedHours: this.cfg.fileReservedTime,
      diskUsedRatio: this.diskRatio,
      diskMaxUsedSpaceRatio: this.cfg.diskMaxUsedSpaceRatio,
      manual: options.manual,
    });
    if (!d.run) return 0;
    let deleted = 0;
    const floor = this.guards.size > 0 ? await this.guards.floor() : undefined;
    let held: { guard: string; offset: number } | undefined;
    while (deleted < this.cfg.deleteFilesBatchMax && this.log.segments.length > 1) {
      const seg = this.log.segments[0]!;
      if (seg.start + seg.size > this.dispatcher.dispatched) break;
      const st = await fs.promises.stat(seg.path);
      if (!d.force && !segmentExpired(st.mtimeMs, now, this.cfg.fileReservedTime)) break;
      if (floor && seg.start + seg.size > floor.offset) {
        held = { guard: floor.by ?? "?", offset: floor.offset };
        if (this.heldBy?.guard !== held.guard || this.heldBy.offset !== held.offset) {
          this.cfg.logger.warn(
            `retention: ${seg.path} is kept${d.force ? " although the disk is above diskMaxUsedSpaceRatio" : ""}: ` +
              `it holds records still to be delivered (${held.guard}, from commit-log offset ${held.offset}); ` +
              "they are never deleted before delivery, so a full disk refuses new messages instead",
          );
        }
        break;
      }
      if (!(await this.log.deleteFirstSegment())) break;
      this.cfg.logger.info(
        `retention: deleted ${seg.path}${d.force ? " (disk above diskMaxUsedSpaceRatio)" : ""}`,
      );
      deleted++;
    }
    this.heldBy = held;
    if (deleted > 0) {
      const min = this.log.minOffset;
      for (const cq of this.table.consumeQueues()) await cq.applyLogMin(min);
      await this.index.applyLogMin(min);
      await this.refreshEarliestTime();
    }
    return deleted;
  }

  async refreshEarliestTime(): Promise<void> {
    const off = this.log.minOffset;
    this.earliestTime =
      off < this.dispatcher.visibleOffset ? await this.storeTimeAt(off).catch(() => -1) : -1;
  }

  /** After a dispatch: the first records of an empty store set the earliest time. */
  readonly onDispatched = (): void => {
    if (this.earliestTime < 0) void this.refreshEarliestTime();
  };

  async checkDisk(): Promise<void> {
    const ratio = await diskUsedRatio(this.cfg.storePathRootDir);
    this.diskRatio = ratio;
    const limit = this.cfg.diskSpaceWarningLevelRatio;
    const health = this.health;
    if (ratio > limit) {
      if (!health.diskFull) this.cfg.logger.error(`disk ${ratio.toFixed(1)}% used: refusing appends`);
      health.diskFull =
        `disk full: ${ratio.toFixed(1)}% of the file system holding ${this.cfg.storePathRootDir} is used, ` +
        `above diskSpaceWarningLevelRatio ${limit}%; appends are refused until space is freed` +
        (this.heldBy
          ? ` (retention keeps the commit log from offset ${this.heldBy.offset}: it holds ${this.heldBy.guard} records not yet delivered)`
          : "");
    } else if (health.diskFull) {
      this.cfg.logger.info(`disk ${ratio.toFixed(1)}% used: taking appends again`);
      health.diskFull = undefined;
    }
    const reserve = Math.max(limit, this.cfg.diskSpaceReserveRatio);
    if (ratio > reserve) {
      if (!health.diskReserveFull)
        this.cfg.logger.error(`disk ${ratio.toFixed(1)}% used: refusing deliveries of parked messages too`);
      health.diskReserveFull = `disk full: ${ratio.toFixed(1)}% used, above diskSpaceReserveRatio ${reserve}%`;
    } else health.diskReserveFull = undefined;
  }
}
