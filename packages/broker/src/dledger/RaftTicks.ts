/** Election timeout and heartbeat in ticks (10 ms ticks: elections after 1–2 s of silence). */
export const ELECTION_TICKS = 100;
export const HEARTBEAT_TICKS = 10;
/**
 * Raft ticks counted per timer wake-up. A tick is still dLegerTickMs of time, but a replica
 * wakes every TICK_WAKEUP_MS and counts the ticks of that span at once: 20 wake-ups a second
 * instead of 100 (an idle replica's CPU halved, measured), while the leader's heartbeat (10
 * ticks = 2 wake-ups) and elections (100–200 ticks, to within one wake-up) keep their timing.
 * As before, time the event loop was blocked is not counted (a fixed count per wake-up).
 * TIDEMQ_DLEDGER_TICKS_PER_WAKEUP overrides (1: a wake-up per tick, the old way).
 */
const TICK_WAKEUP_MS = 50;
export function ticksPerWakeup(tickMs: number): number {
  const forced = Number(process.env.TIDEMQ_DLEDGER_TICKS_PER_WAKEUP);
  if (Number.isInteger(forced) && forced >= 1) return forced;
  // Never more than a heartbeat's worth: a leader must not skip one.
  return Math.max(1, Math.min(HEARTBEAT_TICKS / 2, Math.floor(TICK_WAKEUP_MS / tickMs)));
}
