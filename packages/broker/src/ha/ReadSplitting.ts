import { totalmem } from "node:os";
import { ResponseCode } from "@tidemq/protocol";
import type { GetMessageStatus } from "@tidemq/store";

/**
 * Read/write splitting (spec §2): which broker of the group a consumer should pull from
 * next (`suggestWhichBrokerId`). Pure: the pull processor passes what it knows.
 */
export interface SuggestInput {
  role: "ASYNC_MASTER" | "SYNC_MASTER" | "SLAVE";
  slaveReadEnable: boolean;
  /** The reader is far behind (isSlowRead). */
  slow: boolean;
  /** The subscription group's brokerId (default 0) and whichBrokerWhenConsumeSlowly (default 1). */
  groupBrokerId: number;
  whichBrokerWhenConsumeSlowly: number;
}

/**
 * RocketMQ's rule (PullMessageProcessor): with slaveReadEnable off, always the master (0);
 * on, a slow reader is sent to `whichBrokerWhenConsumeSlowly` and a caught-up one to the
 * group's `brokerId` — on the master and on the slave alike, so a reader that catches up on
 * the slave is sent back to the master.
 */
export function suggestBrokerId(i: SuggestInput): number {
  if (!i.slaveReadEnable) return 0;
  return i.slow ? i.whichBrokerWhenConsumeSlowly : i.groupBrokerId;
}

/**
 * The `accessMessageInMemoryMaxRatio` rule: the data read lies more than `ratio` % of the
 * machine's memory behind the log's end, so it is most likely no longer in the page cache.
 */
export function isSlowRead(
  logEnd: number,
  lastPhysicalOffset: number | undefined,
  ratioPercent: number,
  memoryBytes = TOTAL_MEMORY,
): boolean {
  if (lastPhysicalOffset === undefined || lastPhysicalOffset < 0) return false;
  return logEnd - lastPhysicalOffset > (memoryBytes * ratioPercent) / 100;
}

const TOTAL_MEMORY = totalmem();

/**
 * On a slave, a pull it cannot answer from its own data (offset past what it has copied,
 * before what it has, or a queue it has not got yet) must not move the consumer's offset:
 * PULL_RETRY_IMMEDIATELY at the same offset, suggesting the master (spec §2.1, §7
 * "Reads"), instead of PULL_OFFSET_MOVED.
 */
export function slaveCannotServe(status: GetMessageStatus): boolean {
  return (
    status === "OFFSET_OVERFLOW_BADLY" || status === "OFFSET_TOO_SMALL" || status === "NO_MESSAGE_IN_QUEUE"
  );
}

export const SLAVE_RETRY_CODE = ResponseCode.PULL_RETRY_IMMEDIATELY;
