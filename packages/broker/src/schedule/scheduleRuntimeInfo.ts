import type { DelayLevelStatus } from "./ScheduleMessageService.js";

/**
 * The delay levels' progress as GET_BROKER_RUNTIME_INFO entries: RocketMQ's
 * `scheduleMessageOffset_<level>` = "deliveredOffset,maxOffset" (what mqadmin brokerStatus
 * prints), plus TideMQ's `scheduleMessageDelay_<level>` (ms) and `scheduleMessageNextDue_<level>`
 * (epoch ms of the head waiting to be due, -1 when none waits).
 */
export function scheduleRuntimeEntries(levels: DelayLevelStatus[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of levels) {
    out[`scheduleMessageOffset_${l.level}`] = `${l.deliveredOffset},${l.maxOffset}`;
    out[`scheduleMessageDelay_${l.level}`] = String(l.delayMs ?? -1);
    out[`scheduleMessageNextDue_${l.level}`] = String(l.pending > 0 ? (l.nextDue ?? -1) : -1);
  }
  return out;
}
