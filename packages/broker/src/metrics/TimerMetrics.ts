import { type MetricsRegistry, snapshotMetric } from "@tidemq/remoting/metrics";
import type { TimerStatus } from "../timer/TimerService.js";

/**
 * Timer messages (arbitrary delivery time) in /metrics, read at scrape time from the timer
 * service's status. `status` is undefined while no timer service runs (a DLedger follower):
 * then no timer series are exposed. The counters count since that service started.
 */
export function registerTimerMetrics(registry: MetricsRegistry, status: () => TimerStatus | undefined): void {
  // status() walks the near wheel: read it once per scrape (the four series are read in one
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
  const one = (pick: (s: TimerStatus) => number) => () => {
    const s = current();
    return s === undefined ? [] : [{ value: pick(s) }];
  };
  snapshotMetric(registry, {
    name: "tidemq_timer_pending_messages",
    help: "Timer messages stored and neither delivered nor recalled yet",
    type: "gauge",
    read: one((s) => s.pending),
  });
  snapshotMetric(registry, {
    name: "tidemq_timer_delivered_total",
    help: "Timer messages stored in their real topics since the timer service started",
    type: "counter",
    read: one((s) => s.delivered),
  });
  snapshotMetric(registry, {
    name: "tidemq_timer_superseded_rolls_total",
    help: "Older copies of rolled timers dropped (not delivered) because a newer copy of the same timer was loaded",
    type: "counter",
    read: one((s) => s.supersededRolls),
  });
  snapshotMetric(registry, {
    name: "tidemq_timer_skipped_delivered_total",
    help: "Timer entries skipped because a previous DLedger leader had delivered them",
    type: "counter",
    read: one((s) => s.skippedDelivered),
  });
}
