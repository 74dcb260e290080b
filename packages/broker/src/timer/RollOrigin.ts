import type { MessageExt } from "@tidemq/protocol";
import type { TimerEntry } from "@tidemq/store";

/*
 * Which timer-topic records are the same timer. A timer due later than the wheel's span is
 * stored again ("rolled") each lap; every copy names the commit-log offset of the timer's
 * first record (TIMER_ROLL_ORIGIN, the same on every DLedger replica: followers hold the
 * leader's bytes at the leader's offsets). A wheel rebuilt from the log can hold a record
 * and its copy at once — a DLedger replica that was not leading when the copy was stored, or
 * a broker restarted after `kill -9` between storing a copy and persisting its wheel — and
 * without this both would be delivered. Nothing is kept per pending timer: copies are told
 * apart only among the entries of one loaded slot (a record and its copies share a due ms,
 * so they always sit in the same slot), from the records read for them anyway.
 */

/** On a rolled copy: the commit-log offset of the timer's first record (TideMQ's name). */
export const TIMER_ROLL_ORIGIN = "TIMER_ROLL_ORIGIN";

/** The commit-log offset of the first record of the timer `m` stores (its own for an original). */
export function rollOrigin(m: MessageExt): number {
  const v = Number(m.properties[TIMER_ROLL_ORIGIN]);
  return Number.isSafeInteger(v) && v >= 0 ? v : m.commitLogOffset;
}

/**
 * Entries of one slot that may be copies of each other: those sharing due ms, UNIQ_KEY hash
 * and kind with another (a copy keeps all three). Usually none; only their records need
 * reading to tell.
 */
export function possibleCopies(chain: readonly TimerEntry[]): TimerEntry[] {
  if (chain.length < 2) return [];
  const same = (a: TimerEntry, b: TimerEntry) =>
    a.dueMs === b.dueMs && a.uniqHash === b.uniqHash && a.kind === b.kind;
  const sorted = [...chain].sort((a, b) => a.dueMs - b.dueMs || a.uniqHash - b.uniqHash || a.kind - b.kind);
  const out: TimerEntry[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    if ((i > 0 && same(sorted[i - 1]!, e)) || (i + 1 < sorted.length && same(sorted[i + 1]!, e))) out.push(e);
  }
  return out;
}

/**
 * The entries superseded by a newer copy of the same timer (same origin): all but the one
 * with the highest commit-log offset (the latest copy; its record is the youngest, furthest
 * from retention). An entry whose record is missing is never dropped here.
 */
export function supersededCopies(
  entries: readonly TimerEntry[],
  records: ReadonlyMap<TimerEntry, MessageExt>,
): Set<TimerEntry> {
  const newest = new Map<string, TimerEntry>();
  const dropped = new Set<TimerEntry>();
  for (const e of entries) {
    const m = records.get(e);
    if (!m) continue;
    const key = `${e.kind}:${rollOrigin(m)}`;
    const seen = newest.get(key);
    if (!seen) newest.set(key, e);
    else if (seen.commitLogOffset < e.commitLogOffset) {
      dropped.add(seen);
      newest.set(key, e);
    } else dropped.add(e);
  }
  return dropped;
}
