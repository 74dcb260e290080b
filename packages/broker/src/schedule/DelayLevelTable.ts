/**
 * RocketMQ's delay levels (spec §8.6) as pure arithmetic: the `messageDelayLevel` table,
 * what a requested level means, and when a message of a level is due. No I/O, no clock:
 * callers pass `now`.
 */

/** RocketMQ's default table (4.x and 5.x). */
export const DEFAULT_MESSAGE_DELAY_LEVEL = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/** The most levels a table may have: each level is one queue of SCHEDULE_TOPIC_XXXX and one timer. */
export const MAX_DELAY_LEVELS = 64;

const UNIT_MS: Record<string, number> = {
  // `ms` is a TideMQ extension (RocketMQ knows s/m/h/d): it lets tests and benchmarks use short levels.
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Longest single level: 365 days (a level is one sleep; longer belongs to timers). */
const MAX_LEVEL_MS = 365 * 86_400_000;

/** A bad `messageDelayLevel` value; the message names the offending item. */
export class DelayLevelConfigError extends Error {
  override name = "DelayLevelConfigError";
}

/**
 * Parses "1s 5s 10s … 2h" into milliseconds per level (index 0 = level 1). Items are a
 * positive integer and a unit s, m, h or d (RocketMQ's), or ms (TideMQ's); separated by
 * white space. Throws DelayLevelConfigError on anything else: a mistyped table must not
 * quietly deliver at other times than asked.
 */
export function parseDelayLevels(text: string): number[] {
  const items = text
    .trim()
    .split(/\s+/)
    .filter((s) => s.length > 0);
  if (items.length === 0)
    throw new DelayLevelConfigError('messageDelayLevel is empty: give at least one level, e.g. "1s 5s 10s"');
  if (items.length > MAX_DELAY_LEVELS) {
    throw new DelayLevelConfigError(
      `messageDelayLevel has ${items.length} levels; at most ${MAX_DELAY_LEVELS}`,
    );
  }
  return items.map((item, i) => {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(item);
    if (!m) {
      throw new DelayLevelConfigError(
        `messageDelayLevel level ${i + 1} is "${item}": expected a positive whole number and a unit ms, s, m, h or d (e.g. 10s)`,
      );
    }
    const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
    if (ms <= 0 || ms > MAX_LEVEL_MS) {
      throw new DelayLevelConfigError(
        `messageDelayLevel level ${i + 1} is "${item}": must be more than 0 and at most 365d`,
      );
    }
    return ms;
  });
}

/** Formats milliseconds the way the table is written (for logs and admin output). */
export function formatDelay(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** What a DELAY property asks for. */
export type DelayRequest =
  /** No delay: absent, 0 or negative (RocketMQ ignores levels ≤ 0 and delivers at once). */
  | { kind: "none" }
  /** Level 1…count; `clamped` when the request was above the last level. */
  | { kind: "level"; level: number; delayMs: number; clamped: boolean }
  /** Not a whole number: refused (RocketMQ's Integer.parseInt would fail the send). */
  | { kind: "invalid"; reason: string };

/**
 * The meaning of a DELAY property value under `levels` (RocketMQ's CommitLog rule: > 0 is
 * delayed, above the maximum clamps to the maximum, ≤ 0 is not delayed).
 */
export function delayRequest(value: string | undefined, levels: readonly number[]): DelayRequest {
  if (value === undefined || value === "") return { kind: "none" };
  if (!/^[+-]?\d{1,10}$/.test(value.trim())) {
    return {
      kind: "invalid",
      reason: `the DELAY property "${value}" is not a whole delay level (1…${levels.length})`,
    };
  }
  const n = Number(value.trim());
  if (n <= 0) return { kind: "none" };
  const level = Math.min(n, levels.length);
  return { kind: "level", level, delayMs: levels[level - 1]!, clamped: n > levels.length };
}

/** The queue of SCHEDULE_TOPIC_XXXX that holds a level (RocketMQ: level − 1). */
export function queueIdOfLevel(level: number): number {
  return level - 1;
}

export function levelOfQueueId(queueId: number): number {
  return queueId + 1;
}

/** When a message stored at `now` with a level's delay is due. */
export function dueTime(now: number, delayMs: number): number {
  return now + delayMs;
}

/**
 * The level a retried message waits (spec §4.11): the requested one when > 0, else
 * 3 + reconsumeTimes (10 s, 30 s, 1 min … with the default table), clamped to the table.
 */
export function retryDelayLevel(requested: number, reconsumeTimes: number, levelCount: number): number {
  const level = requested > 0 ? requested : 3 + reconsumeTimes;
  return Math.max(1, Math.min(level, levelCount));
}

/**
 * How long to sleep before looking at a head due at `due` again: never past it, never more
 * than `maxSleepMs` (setTimeout's limit is 2^31 − 1 ms; a shorter cap also bounds the
 * effect of a wall-clock jump).
 */
export function sleepBeforeDue(due: number, now: number, maxSleepMs = 60_000): number {
  return Math.max(0, Math.min(due - now, maxSleepMs));
}
