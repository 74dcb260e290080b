import type { Route } from "../http.js";
import { int, str } from "../http.js";

/** Dashboard page: broker and topic TPS over time, from the console's background sampler. */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/dashboard/tps",
    async handle({ sampler, query }) {
      const top = int(query, "top", { min: 1, max: 20, default: 5 });
      const asked = str(query, "topic", { optional: true });
      const series = (m: Map<string, { list(): { t: number; v: number }[] }>) =>
        [...m.entries()]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, s]) => ({ name, points: s.list() }));
      const topicNames = sampler.topics.top(top);
      if (asked && !topicNames.includes(asked)) topicNames.push(asked);
      return {
        brokerPut: series(sampler.brokerPut),
        brokerGet: series(sampler.brokerGet),
        topics: topicNames.map((name) => ({ name, points: sampler.topics.series.get(name)?.list() ?? [] })),
        topicNote: sampler.sweepNote(),
        sweep: sampler.sweep,
        asOf: Date.now(),
      };
    },
  },
];
