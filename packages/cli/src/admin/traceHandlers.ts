/** `tidemq admin queryMsgTraceById`: a message's trace timeline (mqadmin QueryMsgTraceByIdSubCommand). */
import { DEFAULT_TRACE_TOPIC, type TraceTimeline } from "@tidemq/client";
import { nameOption } from "./args.js";
import { AdminCallError } from "./calls.js";
import type { Handler } from "./handlers.js";
import { formatTable, formatTime } from "./table.js";

const time = (ms: number | undefined): string => (ms === undefined ? "-" : formatTime(ms));

/** The timeline as text: who sent it where and when, then each group's consumptions. */
export function traceText(t: TraceTimeline): string {
  const parts: string[] = [];
  parts.push(
    formatTable(
      [
        "#Type",
        "#ProducerGroup",
        "#ClientHost",
        "#SendTime",
        "#CostTimes",
        "#Status",
        "#StoreHost",
        "#Topic",
        "#MsgType",
      ],
      t.pubs.map((p) => [
        "Pub",
        p.group,
        p.clientHost,
        formatTime(p.time),
        `${p.costMs}ms`,
        p.success ? "success" : "failed",
        p.storeHost,
        p.topic,
        p.msgType,
      ]),
      [4],
    ),
  );
  if (t.transactions.length > 0) {
    parts.push(
      formatTable(
        ["#Type", "#ProducerGroup", "#ClientHost", "#Time", "#TransactionId", "#State", "#FromCheck"],
        t.transactions.map((x) => [
          "EndTransaction",
          x.group,
          x.clientHost,
          formatTime(x.time),
          x.transactionId,
          x.state,
          x.fromTransactionCheck,
        ]),
      ),
    );
  }
  if (t.recalls.length > 0) {
    parts.push(
      formatTable(
        ["#Type", "#Group", "#ClientHost", "#Time", "#Status"],
        t.recalls.map((r) => [
          "Recall",
          r.group,
          r.clientHost,
          formatTime(r.time),
          r.success ? "success" : "failed",
        ]),
      ),
    );
  }
  parts.push(
    formatTable(
      [
        "#ConsumerGroup",
        "#ClientHost",
        "#ConsumeStart",
        "#ConsumeEnd",
        "#CostTimes",
        "#Result",
        "#RetryTimes",
      ],
      t.consumes.map((c) => [
        c.group,
        c.clientHost,
        time(c.start),
        time(c.end),
        c.costMs === undefined ? "-" : `${c.costMs}ms`,
        c.result,
        c.retryTimes,
      ]),
      [4, 6],
    ),
  );
  if (t.unreadable.length > 0) parts.push(`${t.unreadable.length} trace record(s) could not be read`);
  return parts.join("\n\n");
}

export const queryMsgTraceById: Handler = async ({ admin, values }) => {
  const id = values.i!.trim();
  const topic = values.t === undefined ? DEFAULT_TRACE_TOPIC : nameOption(values, "t", "traceTopic");
  const t = await admin.queryTrace(id, topic);
  if (t.pubs.length + t.consumes.length + t.transactions.length + t.recalls.length === 0) {
    throw new AdminCallError(`no trace of message ${id} in trace topic ${topic}`);
  }
  return { text: traceText(t), json: t };
};
