/**
 * TideMQ's own request about transactions (not in RocketMQ; its number sits outside
 * RocketMQ's code ranges). `tidemq admin transactionStatus` and `queryMsgById` send it.
 *
 * TRANSACTION_STATUS: ext field `halfOffset` (optional, a queue offset in
 * RMQ_SYS_TRANS_HALF_TOPIC); the answer's body is JSON: pending (count), oldestStoreTimestamp
 * (0 when none), byGroup (producer group → pending count), checkInterval, timeout, checkMax,
 * and with halfOffset: half { queueOffset, status: pending | resolving | committed |
 * rolledBack | discarded | unknown, checks }.
 */
export const TransactionRequestCode = {
  TRANSACTION_STATUS: 9101,
} as const;

/** The broker's answer to TRANSACTION_STATUS. */
export interface TransactionStatusBody {
  pending: number;
  oldestStoreTimestamp: number;
  byGroup: Record<string, number>;
  checkInterval: number;
  timeout: number;
  checkMax: number;
  half?: { queueOffset: number; status: string; checks?: number };
}
