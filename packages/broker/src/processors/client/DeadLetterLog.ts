import type { LogFields } from "@tidemq/remoting";

/** What DeadLetterLog writes through (the broker's logger's warn). */
export type WarnSink = (msg: string, fields?: LogFields) => void;

/** How long the later dead letters of one group are counted before one line says how many. */
export const DEAD_LETTER_LOG_INTERVAL_MS = 60_000;
/** Groups counted at once; past it a group's dead letters are logged one by one (bounded memory). */
const MAX_GROUPS = 10_000;

interface Window {
  count: number;
  since: number;
}

/**
 * The broker's log of messages moved to a DLQ, one WARN line per group per interval rather than
 * one per message (a consumer that gives up on a burst would otherwise flood the log): the first
 * dead letter of a group logs at once with its message id; the group's next ones within
 * `intervalMs` are counted, and one line with the count follows when the interval ends.
 */
export class DeadLetterLog {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly warn: WarnSink,
    private readonly intervalMs = DEAD_LETTER_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  moved(msgId: string, group: string, topic: string, reconsumeTimes: number): void {
    const w = this.windows.get(group);
    if (w) {
      w.count++;
      return;
    }
    this.warn(
      `message ${msgId} of group ${group} moved to ${topic} after ${reconsumeTimes} reconsumptions (more of this group in the next ${Math.round(this.intervalMs / 1000)} s are counted in one line)`,
      { group, topic },
    );
    if (this.windows.size >= MAX_GROUPS) return;
    this.windows.set(group, { count: 0, since: this.now() });
    // unref: a pending count never keeps a stopping broker alive.
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  /** Writes the count of every group whose interval ended; re-arms while any is open. */
  flush(): void {
    this.timer = undefined;
    const now = this.now();
    for (const [group, w] of this.windows) {
      if (now - w.since < this.intervalMs) continue;
      this.windows.delete(group);
      if (w.count > 0)
        this.warn(
          `${w.count} more messages of group ${group} moved to %DLQ%${group} in the last ${Math.round((now - w.since) / 1000)} s`,
          { group, topic: `%DLQ%${group}` },
        );
    }
    if (this.windows.size > 0) {
      const oldest = Math.min(...[...this.windows.values()].map((w) => w.since));
      this.timer = setTimeout(() => this.flush(), Math.max(1, oldest + this.intervalMs - now)).unref();
    }
  }
}
