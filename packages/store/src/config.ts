import { isIPv4 } from "node:net";
import { join } from "node:path";
import { createStderrLogger, type Logger } from "./Logger.js";

export type FlushDiskType = "ASYNC_FLUSH" | "SYNC_FLUSH";

export interface MessageStoreConfig {
  storePathRootDir: string;
  /** Default <root>/commitlog. */
  storePathCommitLog?: string;
  /** Segment size; default 1 GiB. A record larger than a segment gets a segment of its own size. */
  mappedFileSizeCommitLog?: number;
  /** Default 300000. */
  consumeQueueEntriesPerFile?: number;
  /** Default ASYNC_FLUSH. */
  flushDiskType?: FlushDiskType;
  /** ms between ASYNC_FLUSH fdatasyncs; default 500. */
  flushIntervalCommitLog?: number;
  /** ms a SYNC_FLUSH put waits for its fsync before answering FLUSH_DISK_TIMEOUT; default 5000. */
  syncFlushTimeout?: number;
  /** Hours a sealed segment is kept; default 72. */
  fileReservedTime?: number;
  /** Hours (local time) at which expired segments are deleted, ";"-separated; default "04". */
  deleteWhen?: string;
  /** Percent of the disk in use above which segments are deleted at once, expired or not; default 75. */
  diskMaxUsedSpaceRatio?: number;
  /** Largest body accepted; default 4 MiB. */
  maxMessageSize?: number;
  /** Stamped into every record; IPv4. */
  storeHost: { host: string; port: number };
  logger?: Logger;

  // ---- TideMQ extras (all optional) ----
  /** Percent of the disk in use above which appends are refused; default 90. */
  diskSpaceWarningLevelRatio?: number;
  /**
   * Percent of the disk in use up to which deliveries of parked messages (puts with
   * `reserve`) are still taken above diskSpaceWarningLevelRatio; default 95.
   */
  diskSpaceReserveRatio?: number;
  /** ms between consume-queue/index writes + checkpoints; default 1000. */
  flushIntervalConsumeQueue?: number;
  /** ms between retention passes; default 10000. */
  cleanResourceInterval?: number;
  /** ms between disk usage checks (statfs); default 1000. */
  diskCheckInterval?: number;
  /** Segments deleted per retention pass at most; default 10. */
  deleteFilesBatchMax?: number;
  /** Bytes of recent commit log kept in memory for tail reads; default 16 MiB. */
  maxTailCacheBytes?: number;
  /** Size of one in-memory write block; default 4 MiB. */
  writeBlockBytes?: number;
  /** Index entries per index file; default 2,000,000 (48 MB). */
  maxIndexEntriesPerFile?: number;
  /** Hash slots per index file; default 1,000,003 (4 MB in memory for the active file). */
  indexHashSlotNum?: number;
  /** Unpersisted consume-queue + index bytes that force an early write; default 16 MiB. */
  maxPendingIndexBytes?: number;
  /**
   * Tag code of a record when consume queues are rebuilt from the commit log after a crash
   * (puts may pass their own tagsCode, e.g. a delivery time for delay topics; pass the same
   * rule here so rebuilt entries agree). Default tagsHashCode(property("TAGS")). Properties
   * come as a getter: a replica reads them in place, without parsing every record's text.
   */
  tagsCodeOf?: (topic: string, property: (name: string) => string | undefined) => number;
  /**
   * A replicated log's commit gate, in force from the first moment: recovery dispatches
   * (makes readable) only records below its committedOffset and keeps the rest pending.
   */
  commitGate?: import("./Dispatcher.js").CommitGate;
}

export type ResolvedConfig = Required<Omit<MessageStoreConfig, "tagsCodeOf" | "commitGate">> &
  Pick<MessageStoreConfig, "tagsCodeOf">;

const MiB = 1024 * 1024;

function num(
  v: number | undefined,
  def: number,
  name: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const x = v ?? def;
  if (!Number.isFinite(x) || x < min || x > max)
    throw new TypeError(`store config ${name}=${v} must be in [${min}, ${max}]`);
  return x;
}

export function resolveConfig(c: MessageStoreConfig): ResolvedConfig {
  if (!c.storePathRootDir) throw new TypeError("store config storePathRootDir is required");
  if (!c.storeHost || !isIPv4(c.storeHost.host))
    throw new TypeError("store config storeHost must be an IPv4 host and port");
  const flushDiskType = c.flushDiskType ?? "ASYNC_FLUSH";
  if (flushDiskType !== "ASYNC_FLUSH" && flushDiskType !== "SYNC_FLUSH") {
    throw new TypeError(`store config flushDiskType=${flushDiskType} is not ASYNC_FLUSH or SYNC_FLUSH`);
  }
  const deleteWhen = c.deleteWhen ?? "04";
  return {
    storePathRootDir: c.storePathRootDir,
    storePathCommitLog: c.storePathCommitLog ?? join(c.storePathRootDir, "commitlog"),
    mappedFileSizeCommitLog: num(c.mappedFileSizeCommitLog, 1024 * MiB, "mappedFileSizeCommitLog", 64 * 1024),
    consumeQueueEntriesPerFile: num(
      c.consumeQueueEntriesPerFile,
      300000,
      "consumeQueueEntriesPerFile",
      1,
      1e8,
    ),
    flushDiskType,
    flushIntervalCommitLog: num(c.flushIntervalCommitLog, 500, "flushIntervalCommitLog", 1),
    syncFlushTimeout: num(c.syncFlushTimeout, 5000, "syncFlushTimeout", 1),
    fileReservedTime: num(c.fileReservedTime, 72, "fileReservedTime", 0),
    deleteWhen,
    diskMaxUsedSpaceRatio: num(c.diskMaxUsedSpaceRatio, 75, "diskMaxUsedSpaceRatio", 0, 100),
    maxMessageSize: num(c.maxMessageSize, 4 * MiB, "maxMessageSize", 1, 256 * MiB),
    storeHost: { host: c.storeHost.host, port: c.storeHost.port },
    logger: c.logger ?? createStderrLogger("store"),
    diskSpaceWarningLevelRatio: num(c.diskSpaceWarningLevelRatio, 90, "diskSpaceWarningLevelRatio", 0, 100),
    diskSpaceReserveRatio: num(c.diskSpaceReserveRatio, 95, "diskSpaceReserveRatio", 0, 100),
    flushIntervalConsumeQueue: num(c.flushIntervalConsumeQueue, 1000, "flushIntervalConsumeQueue", 1),
    cleanResourceInterval: num(c.cleanResourceInterval, 10000, "cleanResourceInterval", 10),
    diskCheckInterval: num(c.diskCheckInterval, 1000, "diskCheckInterval", 10),
    deleteFilesBatchMax: num(c.deleteFilesBatchMax, 10, "deleteFilesBatchMax", 1),
    maxTailCacheBytes: num(c.maxTailCacheBytes, 16 * MiB, "maxTailCacheBytes", 0),
    writeBlockBytes: num(c.writeBlockBytes, 4 * MiB, "writeBlockBytes", 64 * 1024),
    maxIndexEntriesPerFile: num(c.maxIndexEntriesPerFile, 2_000_000, "maxIndexEntriesPerFile", 1, 0x7ffffff0),
    indexHashSlotNum: num(c.indexHashSlotNum, 1_000_003, "indexHashSlotNum", 1, 0x7ffffff0),
    maxPendingIndexBytes: num(c.maxPendingIndexBytes, 16 * MiB, "maxPendingIndexBytes", 1024),
    tagsCodeOf: c.tagsCodeOf,
  };
}

/** Hours of the day listed in deleteWhen ("04", "04;16"). */
export function parseDeleteWhen(s: string): Set<number> {
  const out = new Set<number>();
  for (const part of s.split(";")) {
    const h = Number(part.trim());
    if (part.trim() !== "" && Number.isInteger(h) && h >= 0 && h < 24) out.add(h);
  }
  return out;
}
