import { delayedMessageStatus } from "@tidemq/client";
import { firstOf, mapLimit } from "../Bounded.js";
import type { Route } from "../http.js";

/** Due days one broker's timer table lists at most (the wheel spans timerMaxDelaySec). */
const MAX_DAYS = 400;

/**
 * Scheduled page: delayed messages pending per delay level on every master (the broker's
 * runtime info, as `tidemq admin scheduleStatus` reads it), and timer messages (any
 * delivery time) pending per due day (GET_TIMER_STATUS, as `tidemq admin timerStatus`). A
 * broker that does not answer is shown with its error, never left out.
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/scheduled",
    async handle({ data }) {
      const masters = await data.masters();
      const brokers = await mapLimit(masters, 8, async (m) => {
        // Timer messages (any delivery time) are the broker's timer wheel, asked apart: a
        // broker that cannot answer it still shows its delay levels, with the timer error.
        const timer = await data.admin.getTimerStatus(m.addr).then(
          (t) => ({ ...t, days: firstOf(t.days, MAX_DAYS, "due days") }),
          (err: Error) => ({ error: err.message }),
        );
        try {
          const levels = await delayedMessageStatus(data.admin, m.addr);
          return {
            cluster: m.cluster,
            brokerName: m.brokerName,
            addr: m.addr,
            pending: levels.reduce((s, l) => s + l.pending, 0),
            nextDue: levels.reduce<number | undefined>(
              (min, l) =>
                l.nextDue !== undefined && (min === undefined || l.nextDue < min) ? l.nextDue : min,
              undefined,
            ),
            levels,
            timer,
          };
        } catch (err) {
          return {
            cluster: m.cluster,
            brokerName: m.brokerName,
            addr: m.addr,
            error: (err as Error).message,
          };
        }
      });
      return { brokers, asOf: Date.now() };
    },
  },
];
