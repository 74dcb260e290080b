import type { LogFields, Logger } from "@tidemq/remoting";

/** How long later dead letters are counted before one line says how many, per group. */
export const DEAD_LETTER_LOG_INTERVAL_MS = 60_000;
/** Groups named in the count line (the busiest first); the rest are summed as "and N more groups". */
const NAMED_GROUPS = 10;
/** Groups counted at once (bounded memory); past it a dead letter is still counted in the total. */
const MAX_GROUPS = 10_000;

/** What DeadLetterLog writes through: the broker's logger, or a test's. */
export type DeadLetterSink = Pick<Logger, "warn" | "debug">;

/**
 * The broker's log of messages moved to a DLQ: at most two WARN lines a minute, not one per
 * message (a consumer that gives up on a burst, or many groups failing at once, would otherwise
 * flood the log). The first dead letter of an interval is logged at once with its message id;
 * the next ones within `intervalMs` are counted per group, and when the interval ends one line
 * gives the total and the busiest groups. Every message still has a DEBUG line with its id.
 */
export class DeadLetterLog {
  private window: { since: number; total: number; byGroup: Map<string, number> } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: DeadLetterSink,
    private readonly intervalMs = DEAD_LETTER_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  moved(msgId: string, group: string, topic: string, reconsumeTimes: number): void {
    const line = `message ${msgId} of group ${group} moved to ${topic} after ${reconsumeTimes} reconsumptions`;
    const fields: LogFields = { group, topic };
    const w = this.window;
    if (w) {
      this.log.debug(line, fields);
      w.total++;
      if (w.byGroup.has(group) || w.byGroup.size < MAX_GROUPS)
        w.byGroup.set(group, (w.byGroup.get(group) ?? 0) + 1);
      return;
    }
    this.log.warn(
      `${line} (further dead letters in the next ${Math.round(this.intervalMs / 1000)} s are counted in one line)`,
      fields,
    );
    this.window = { since: this.now(), total: 0, byGroup: new Map() };
    // unref: a pending count never keeps a stopping broker alive.
    this.timer = setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  /** Ends the interval: one line with the count, when anything was counted. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.window;
    this.window = undefined;
    if (!w || w.total === 0) return;
    const groups = [...w.byGroup].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const named = groups.slice(0, NAMED_GROUPS).map(([g, n]) => `${g} ${n}`);
    const rest = groups.length - named.length;
    this.log.warn(
      `${w.total} more messages moved to a DLQ in the last ${Math.round((this.now() - w.since) / 1000)} s, by group: ${named.join(", ")}${rest > 0 ? ` and ${rest} more groups` : ""}`,
      { deadLetters: w.total, groups: groups.length },
    );
  }
}
