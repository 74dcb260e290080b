import type { CommitLog } from "./CommitLog.js";
import type { Dispatcher } from "./Dispatcher.js";
import type { PutWaiters } from "./PutWaiters.js";
import { serviceNotAvailable } from "./StoreError.js";
import type { StoreHealth } from "./StoreHealth.js";

/**
 * Takes back the records at and past `offset` (a record boundary): only records the commit
 * gate still holds back — never anything visible. Their puts are refused
 * (SERVICE_NOT_AVAILABLE), their queue offsets handed out again, the log cut (see
 * CommitLog.truncateTo) and a checkpoint written that no longer claims them. What a Raft
 * follower (or a deposed leader) does with an uncommitted suffix.
 */
export async function takeBackUncommitted(
  log: CommitLog,
  dispatcher: Dispatcher,
  waiters: PutWaiters,
  health: StoreHealth,
  offset: number,
): Promise<void> {
  health.checkReplicable();
  if (offset >= log.maxOffset) return;
  dispatcher.dropFrom(offset);
  health.truncating = true;
  try {
    waiters.rejectPast(offset, serviceNotAvailable(`the record was taken back (log truncated to ${offset})`));
    // First a checkpoint that claims nothing past the cut (a crash mid-cut recovers from there).
    dispatcher.flushedCap = offset;
    await dispatcher.persistSettled();
    await dispatcher.persist();
    await log.truncateTo(offset);
  } finally {
    dispatcher.flushedCap = Number.POSITIVE_INFINITY;
    health.truncating = false;
  }
}
