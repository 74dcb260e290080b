import { delayedMessageStatus } from "@tidemq/client";
import { mapLimit } from "../Bounded.js";
import type { Route } from "../http.js";

/**
 * Scheduled page: delayed messages pending per delay level on every master (the broker's
 * runtime info, as `tidemq admin scheduleStatus` reads it). A broker that does not answer is
 * shown with its error, never left out.
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/scheduled",
    async handle({ data }) {
      const masters = await data.masters();
      const brokers = await mapLimit(masters, 8, async (m) => {
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
