import { join } from "node:path";
import { AppendPath } from "./AppendPath.js";
import { CommitLog } from "./CommitLog.js";
import { ConfirmWaiters } from "./ConfirmWaiters.js";
import type { ResolvedConfig } from "./config.js";
import { Dispatcher } from "./Dispatcher.js";
import { ReadFdCache } from "./fsx.js";
import { IndexService } from "./IndexService.js";
import { MessageQueries } from "./MessageQueries.js";
import { PutWaiters } from "./PutWaiters.js";
import { QueueTable } from "./QueueTable.js";
import { RetentionService } from "./RetentionService.js";
import { StoreHealth } from "./StoreHealth.js";

/** The parts of one store, wired to each other (MessageStore is their door). */
export interface StoreParts {
  cfg: ResolvedConfig;
  log: CommitLog;
  index: IndexService;
  readFds: ReadFdCache;
  table: QueueTable;
  health: StoreHealth;
  waiters: PutWaiters;
  dispatcher: Dispatcher;
  appender: AppendPath;
  queries: MessageQueries;
  retention: RetentionService;
  confirms: ConfirmWaiters;
}

/** Builds a store's parts from its resolved config; nothing is opened or read yet. */
export function assembleStore(cfg: ResolvedConfig): StoreParts {
  const readFds = new ReadFdCache(128);
  const health = new StoreHealth();
  const log = new CommitLog({
    dir: cfg.storePathCommitLog,
    segmentSize: cfg.mappedFileSizeCommitLog,
    blockBytes: cfg.writeBlockBytes,
    maxTailBytes: cfg.maxTailCacheBytes,
    flushDiskType: cfg.flushDiskType,
    flushInterval: cfg.flushIntervalCommitLog,
    logger: cfg.logger,
  });
  const index = new IndexService(
    join(cfg.storePathRootDir, "index"),
    cfg.maxIndexEntriesPerFile,
    cfg.indexHashSlotNum,
    readFds,
    cfg.logger,
  );
  const table = new QueueTable(
    join(cfg.storePathRootDir, "consumequeue"),
    cfg.consumeQueueEntriesPerFile,
    readFds,
  );
  const waiters = new PutWaiters(cfg.syncFlushTimeout);
  const dispatcher = new Dispatcher(cfg, log, table, index, waiters, health);
  const appender = new AppendPath(cfg, log, table, dispatcher, waiters);
  const queries = new MessageQueries(log, table, index, dispatcher, health);
  const retention = new RetentionService(cfg, log, table, index, dispatcher, health, (offset) =>
    queries.storeTimeAt(offset),
  );
  dispatcher.onDispatched = retention.onDispatched;
  const confirms = new ConfirmWaiters(log);
  return {
    cfg,
    log,
    index,
    readFds,
    table,
    health,
    waiters,
    dispatcher,
    appender,
    queries,
    retention,
    confirms,
  };
}
