import type { BrokerContext } from "../context.js";
import { TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import type { Checkpointer } from "./Checkpointer.js";
import { HALF_QUEUE_ID } from "./HalfMessage.js";
import type { HalfTable } from "./HalfTable.js";

/** Names the transactions' retention guard (in the store's log lines). */
export const TRANSACTION_RETENTION_GUARD = "unresolved half messages (RMQ_SYS_TRANS_HALF_TOPIC)";

/**
 * The lowest commit-log offset the transaction state still needs, for retention: every
 * unresolved half (a commit copies it into its real topic), the halves not read yet, and
 * what a restart from the checkpoint on disk reads (its pending halves, the half and op
 * records after it). Without a checkpoint a restart scans whatever is left; an op record
 * always lies after its half, so deleting a prefix of the log never leaves a resolved half
 * without its decision.
 */
export async function transactionRetentionFloor(
  ctx: BrokerContext,
  table: HalfTable,
  checkpoints: Checkpointer,
): Promise<number> {
  const { store } = ctx;
  // Halves stored since the last scan: read them (a commit may have resolved them meanwhile).
  if (!table.stopped) await table.catchUp();
  let min = await store.commitLogOffsetInQueue(TRANS_HALF_TOPIC, HALF_QUEUE_ID, table.halfScanned);
  for (const p of table.pending.values()) min = Math.min(min, p.info.commitLogOffset);
  const cp = checkpoints.durable;
  if (cp) {
    min = Math.min(
      min,
      cp.oldestPendingLog,
      await store.commitLogOffsetInQueue(TRANS_HALF_TOPIC, HALF_QUEUE_ID, cp.halfScanned),
      await store.commitLogOffsetInQueue(TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID, cp.opScanned),
    );
  }
  return min;
}
