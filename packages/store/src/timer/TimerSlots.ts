/**
 * The timing wheel's arithmetic, apart from any I/O (tested directly).
 *
 * Time is cut into 1-second slots; slot `sec` covers due times [sec·1000, sec·1000 + 1000).
 * The wheel has `slots` positions and is a ring: second `sec` lives at position
 * `sec mod slots`, so at any moment the positions hold the seconds of one window
 * [loadedUpTo, loadedUpTo + slots) ("this lap"). An entry due later than the window (a
 * "far" entry) is chained at the position of its own second anyway; when that position is
 * loaded for the earlier second it is re-appended ("rolled") to the same position for the
 * next lap, until its own lap comes. An entry for a second that is already loaded is "late":
 * it is delivered from memory at once (or at its due ms when that is still ahead).
 */

export const SLOT_MS = 1000;
export const DAY_MS = 86_400_000;

/** The slot second of a due time. */
export function slotSecOf(dueMs: number): number {
  return Math.floor(dueMs / SLOT_MS);
}

/** Wheel position of a slot second (never negative). */
export function slotIndex(sec: number, slots: number): number {
  const i = sec % slots;
  return i < 0 ? i + slots : i;
}

export type Placement = "late" | "near" | "far";

/**
 * Where a new entry due at `dueMs` goes when every slot before `loadedUpToSec` has been
 * loaded: `late` (its slot is loaded already: deliver from memory), `near` (chained at its
 * position for this lap) or `far` (chained at its position, rolled at least once).
 */
export function placement(dueMs: number, loadedUpToSec: number, slots: number): Placement {
  const sec = slotSecOf(dueMs);
  if (sec < loadedUpToSec) return "late";
  return sec < loadedUpToSec + slots ? "near" : "far";
}

/**
 * What loading slot `sec` does with an entry of its chain: deliver it (due in this slot or
 * before: only after a restart can an earlier one be there) or roll it to a later lap.
 */
export function loadedAction(dueMs: number, sec: number): "deliver" | "roll" {
  return slotSecOf(dueMs) <= sec ? "deliver" : "roll";
}

/** When slot `sec` is loaded: `lookaheadMs` before it starts, so its messages are read in time. */
export function loadAtMs(sec: number, lookaheadMs: number): number {
  return sec * SLOT_MS - lookaheadMs;
}

/**
 * How many slots to load in one go (one epoch) when the loader is behind (after downtime or
 * a stall): every slot whose start has passed, at most `maxBatch`; 1 when on time.
 */
export function slotsToLoad(nextSec: number, nowMs: number, lookaheadMs: number, maxBatch: number): number {
  if (loadAtMs(nextSec, lookaheadMs) > nowMs) return 0;
  const behind = slotSecOf(nowMs) - nextSec;
  return behind <= 1 ? 1 : Math.min(behind, maxBatch);
}

/** Day bucket of a due time (days since the Unix epoch, UTC), for the pending histogram. */
export function dayOf(dueMs: number): number {
  return Math.floor(dueMs / DAY_MS);
}

/** Rolls an entry due at `dueMs` still needs when added with `loadedUpToSec` loaded. */
export function rollsNeeded(dueMs: number, loadedUpToSec: number, slots: number): number {
  const ahead = slotSecOf(dueMs) - loadedUpToSec;
  return ahead < slots ? 0 : Math.floor(ahead / slots);
}
