import { type MetricsRegistry, snapshotMetric } from "@tidemq/remoting/metrics";
import type { TimerStatus } from "../timer/TimerService.js";

/** The timer series: name, help, type, and which status number each reads. */
const SERIES: ReadonlyArray<{
  name: string;
  help: string;
  type: "counter" | "gauge";
  pick: (s: TimerStatus) => number;
}> = [
  {
    name: "tidemq_timer_pending_messages",
    help: "Timer messages stored and neither delivered nor recalled yet",
    type: "gauge",
    pick: (s) => s.pending,
  },
  {
    name: "tidemq_timer_delivered_total",
    help: "Timer messages stored in their real topics since the timer service started",
    type: "counter",
    pick: (s) => s.delivered,
  },
  {
    name: "tidemq_timer_superseded_rolls_total",
    help: "Older copies of rolled timers dropped (not delivered) because a newer copy of the same timer was loaded",
    type: "counter",
    pick: (s) => s.supersededRolls,
  },
  {
    name: "tidemq_timer_skipped_delivered_total",
    help: "Timer entries skipped because a previous DLedger leader had delivered them",
    type: "counter",
    pick: (s) => s.skippedDelivered,
  },
];

/**
 * Timer messages (arbitrary delivery time) in /metrics, read at scrape time from the timer
 * service's status. `status` is undefined while no timer service runs (a DLedger follower):
 * then no timer series are exposed. The counters count since that service started.
 */
export function registerTimerMetrics(registry: MetricsRegistry, status: () => TimerStatus | undefined): void {
  // status() walks the near wheel: read it once per scrape (the series are read in one
  // synchronous pass), not once per series.
  let cached: { s: TimerStatus | undefined } | undefined;
  const current = (): TimerStatus | undefined => {
    if (cached === undefined) {
      cached = { s: status() };
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached.s;
  };
  for (const { name, help, type, pick } of SERIES) {
    snapshotMetric(registry, {
      name,
      help,
      type,
      read: () => {
        const s = current();
        return s === undefined ? [] : [{ value: pick(s) }];
      },
    });
  }
}
