import fs from "node:fs";
import { join } from "node:path";
import { readCheckpoint } from "./Checkpoint.js";
import type { CommitLog } from "./CommitLog.js";
import type { ResolvedConfig } from "./config.js";
import type { Dispatcher } from "./Dispatcher.js";
import { exists, writeFileDurable } from "./fsx.js";
import type { IndexService } from "./IndexService.js";
import type { QueueTable } from "./QueueTable.js";

export interface RecoveryParts {
  cfg: ResolvedConfig;
  log: CommitLog;
  table: QueueTable;
  index: IndexService;
  dispatcher: Dispatcher;
  abortPath: string;
  checkpointPath: string;
}

/**
 * Start-up: after a clean stop (no abort marker, a checkpoint with the exact end) the log's
 * end is trusted; after a crash the log is validated from the last flushed offset and a
 * torn tail cut. Consume queues and index are cut back to the log, then records past the
 * checkpoint's dispatch mark are re-dispatched (all of them if a directory is missing).
 * Ends with the abort marker written durably, before any append.
 */
export async function recoverStore(parts: RecoveryParts): Promise<{ clean: boolean }> {
  const { cfg, log, table, index, dispatcher } = parts;
  const logger = cfg.logger;
  const t0 = Date.now();
  await fs.promises.mkdir(cfg.storePathRootDir, { recursive: true });
  const cp = await readCheckpoint(parts.checkpointPath);
  const aborted = await exists(parts.abortPath);
  const clean = !aborted && cp?.cleanEndOffset !== undefined;
  await log.load();
  if (clean) {
    log.setEndAfterCleanStop(cp!.cleanEndOffset!);
  } else {
    const log_ = log.segments.length > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
    log_(
      cp
        ? `store at ${cfg.storePathRootDir} was not shut down cleanly: recovering from the checkpoint (${cp.physicFlushedOffset})`
        : `store at ${cfg.storePathRootDir} has no checkpoint: scanning the whole commit log`,
    );
    await log.recoverAfterCrash(cp?.physicFlushedOffset ?? 0);
  }
  const logEnd = log.maxOffset;
  // After a clean stop everything was dispatched, unless a commit gate held records back.
  let dispatchFrom = Math.max(log.minOffset, Math.min(cp?.logicsOffset ?? 0, logEnd));
  const cqExists = await exists(table.root);
  if (!cqExists && logEnd > log.minOffset) {
    logger.warn(`${table.root} is missing: rebuilding every consume queue from the commit log`);
    dispatchFrom = log.minOffset;
  }
  await fs.promises.mkdir(table.root, { recursive: true });
  await table.load(logEnd, clean && cqExists, logger);
  const indexDir = join(cfg.storePathRootDir, "index");
  if (!(await exists(indexDir)) && logEnd > log.minOffset) {
    logger.warn(`${indexDir} is missing: rebuilding the index from the commit log`);
    dispatchFrom = log.minOffset;
  }
  await index.load(logEnd, clean);
  // Under a commit gate (a Raft log) records past the committed offset stay pending: they
  // become readable only when committed, and a truncation may still take them back.
  const gated = dispatcher.gateOffset;
  // Under a gate, dispatched stops at the gate even when what lies past it holds no record (a
  // segment's blank filler, whose entry's index record a power cut lost): the live path never
  // counts a filler as dispatched either, and a take-back to the gate must stay possible.
  let dispatchedTo = gated === undefined ? logEnd : Math.min(logEnd, Math.max(gated, dispatchFrom));
  const held: { queue: { next: number }; queueOffset: number }[] = [];
  if (dispatchFrom < logEnd) {
    logger.info(`re-dispatching commit log [${dispatchFrom}, ${logEnd}) into consume queues and index`);
    // Rebuilding from the oldest segment left after retention: queues may start past 0.
    const fromMin = dispatchFrom === log.minOffset && log.minOffset > 0;
    await log.forEachRecord(dispatchFrom, logEnd, async (r) => {
      if (gated !== undefined && r.offset + r.size > Math.max(gated, dispatchFrom)) {
        if (r.offset < dispatchedTo) dispatchedTo = r.offset;
        const item = dispatcher.pushRecovered(r.message, r.offset, r.size);
        if (item.inQueue) held.push({ queue: item.q, queueOffset: item.queueOffset });
        return;
      }
      dispatcher.dispatchRecovered(r.message, r.offset, r.size, fromMin);
      await dispatcher.persistIfLarge();
    });
  }
  dispatcher.dispatched = dispatchedTo;
  for (const cq of table.consumeQueues()) {
    table.queueState(table.topicState(cq.topic), cq.queueId).next = cq.maxOffset;
    await cq.applyLogMin(log.minOffset);
  }
  for (const h of held) if (h.queue.next <= h.queueOffset) h.queue.next = h.queueOffset + 1;
  // Durable before any append: if the marker were lost while data survived, the next
  // start would trust the older clean checkpoint and skip recovery.
  await writeFileDurable(parts.abortPath, String(process.pid));
  // Re-dispatched entries go to disk before a checkpoint claims them.
  await dispatcher.persist();
  logger.info(
    `store opened (${clean ? "clean" : "recovered"}) in ${Date.now() - t0} ms: commit log [${log.minOffset}, ${logEnd}), ` +
      `${table.count()} consume queues`,
  );
  return { clean };
}
