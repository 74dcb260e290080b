import type { TransactionStatusBody } from "@tidemq/protocol";
import type { BrokerConfig } from "../BrokerConfig.js";
import type { HalfStatus } from "./HalfLifecycle.js";
import type { HalfTable } from "./HalfTable.js";

/** What `tidemq admin transactionStatus` prints. */
export type TransactionStatus = TransactionStatusBody & {
  half?: { queueOffset: number; status: HalfStatus | "unknown"; checks?: number };
};

/**
 * The pending halves counted by producer group and oldest store time, the check settings, what
 * the start-up read and the last checkpoint; with `halfOffset`, that one half's state.
 */
export function transactionStatusOf(
  table: HalfTable,
  config: Pick<BrokerConfig, "transactionCheckInterval" | "transactionTimeOut" | "transactionCheckMax">,
  startup: TransactionStatusBody["startup"],
  checkpoint: TransactionStatusBody["checkpoint"],
  halfOffset?: number,
): TransactionStatus {
  let oldest = 0;
  const byGroup: Record<string, number> = {};
  for (const p of table.pending.values()) {
    if (oldest === 0 || p.info.storeTimestamp < oldest) oldest = p.info.storeTimestamp;
    byGroup[p.info.group] = (byGroup[p.info.group] ?? 0) + 1;
  }
  const out: TransactionStatus = {
    pending: table.pending.size,
    oldestStoreTimestamp: oldest,
    byGroup,
    checkInterval: config.transactionCheckInterval,
    timeout: config.transactionTimeOut,
    checkMax: config.transactionCheckMax,
    startup,
    checkpoint,
  };
  if (halfOffset !== undefined) {
    const p = table.pending.get(halfOffset);
    const s = table.resolved.get(halfOffset);
    out.half = p
      ? { queueOffset: halfOffset, status: p.state.status, checks: p.state.checks }
      : { queueOffset: halfOffset, status: s ?? "unknown" };
  }
  return out;
}
