import type { Admin } from "./Admin.js";

/** One delay level of a broker: messages parked in SCHEDULE_TOPIC_XXXX queue level − 1. */
export interface DelayLevelPending {
  level: number;
  /** The level's delay in ms (-1 when the broker's table no longer has the level). */
  delayMs: number;
  /** Parked and not yet delivered. */
  pending: number;
  deliveredOffset: number;
  maxOffset: number;
  /** When the next one is due (epoch ms), undefined when none waits. */
  nextDue: number | undefined;
}

/**
 * Delayed messages pending per level on a broker, read from its runtime info
 * (`scheduleMessageOffset_<level>` as RocketMQ reports it, plus TideMQ's delay and next due).
 */
export async function delayedMessageStatus(admin: Admin, brokerAddr: string): Promise<DelayLevelPending[]> {
  const table = await admin.getBrokerRuntimeInfo(brokerAddr);
  const out: DelayLevelPending[] = [];
  for (const [key, value] of Object.entries(table)) {
    const m = /^scheduleMessageOffset_(\d+)$/.exec(key);
    if (!m) continue;
    const level = Number(m[1]);
    const [delivered, max] = value.split(",").map(Number);
    const deliveredOffset = delivered ?? 0;
    const maxOffset = max ?? 0;
    const due = Number(table[`scheduleMessageNextDue_${level}`] ?? -1);
    out.push({
      level,
      delayMs: Number(table[`scheduleMessageDelay_${level}`] ?? -1),
      pending: Math.max(0, maxOffset - deliveredOffset),
      deliveredOffset,
      maxOffset,
      nextDue: due >= 0 ? due : undefined,
    });
  }
  return out.sort((a, b) => a.level - b.level);
}
