import type { Route } from "../http.js";
import { HttpError, name } from "../http.js";

/**
 * Producers page: online connections of a producer group on the brokers of a topic
 * (GET_PRODUCER_CONNECTION_LIST, as rocketmq-dashboard asks: the 4.x broker has no
 * request that lists all producer groups).
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/producers",
    async handle({ data, query }) {
      const topic = name(query, "topic");
      const group = name(query, "group");
      try {
        const connections = await data.admin.getProducerConnectionList(group, topic);
        return { topic, group, connections, asOf: Date.now() };
      } catch (err) {
        throw new HttpError(404, (err as Error).message);
      }
    },
  },
];
