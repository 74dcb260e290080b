import { NoRouteError } from "@tidemq/client";
import { HttpError, name, type Route, str } from "../http.js";

/** Trace messages a key query answers at most per broker (the broker's defaultQueryMaxNum). */
const TRACE_QUERY_MAX = 64;

/**
 * Message trace page: a message's timeline from the trace topic (Admin.queryTrace, as
 * `tidemq admin queryMsgTraceById`): sent by whom and when, each group's consumption with
 * its cost and result, transaction ends and recalls.
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/trace",
    async handle({ data, query }) {
      const msgId = str(query, "msgId", { max: 128 });
      const traceTopic = query.get("traceTopic") ? name(query, "traceTopic") : undefined;
      const t = await data.admin.queryTrace(msgId, traceTopic).catch((err: Error) => {
        if (err instanceof NoRouteError)
          throw new HttpError(
            404,
            `no trace topic ${traceTopic ?? "RMQ_SYS_TRACE_TOPIC"} in this cluster: ${err.message}`,
          );
        throw err;
      });
      // Each trace record came in a trace message found by key; at the broker's cap some may be missing.
      const records = t.pubs.length + t.consumes.length * 2 + t.transactions.length + t.recalls.length;
      return {
        ...t,
        cut: records >= TRACE_QUERY_MAX,
        note:
          records >= TRACE_QUERY_MAX
            ? `found ${records} trace records: a broker answers at most ${TRACE_QUERY_MAX} trace messages a query, so some steps may be missing`
            : "",
        asOf: Date.now(),
      };
    },
  },
];
