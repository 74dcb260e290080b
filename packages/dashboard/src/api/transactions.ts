import { transactionStatus } from "@tidemq/client";
import { firstOf, mapLimit } from "../Bounded.js";
import type { Route } from "../http.js";

/** Producer groups one broker's row lists at most (the cut is said). */
const MAX_GROUPS = 200;

/**
 * Transactions page: pending half messages on every master (count, oldest, per producer
 * group, and the broker's check-back settings), as `tidemq admin transactionStatus` reads
 * them. A broker that does not answer is shown with its error, never left out.
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/transactions",
    async handle({ data }) {
      const masters = await data.masters();
      const now = Date.now();
      const brokers = await mapLimit(masters, 8, async (m) => {
        const who = { cluster: m.cluster, brokerName: m.brokerName, addr: m.addr };
        try {
          const s = await transactionStatus(data.admin, m.addr);
          const groups = Object.entries(s.byGroup)
            .map(([group, pending]) => ({ group, pending }))
            .sort((a, b) => b.pending - a.pending || a.group.localeCompare(b.group));
          return {
            ...who,
            pending: s.pending,
            oldest: s.oldestStoreTimestamp > 0 ? s.oldestStoreTimestamp : undefined,
            oldestAgeMs: s.oldestStoreTimestamp > 0 ? Math.max(0, now - s.oldestStoreTimestamp) : undefined,
            checkInterval: s.checkInterval,
            timeout: s.timeout,
            checkMax: s.checkMax,
            groups: firstOf(groups, MAX_GROUPS, "producer groups"),
          };
        } catch (err) {
          return { ...who, error: (err as Error).message };
        }
      });
      return { brokers, asOf: now };
    },
  },
];
