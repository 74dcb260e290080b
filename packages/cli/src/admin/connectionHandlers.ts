/**
 * Client connections in `tidemq admin`: consumerConnection (a group's online consumers and
 * subscriptions) and producerConnection (a producer group's online producers of a topic).
 */
import type { Connection } from "@tidemq/client";
import { versionName } from "@tidemq/protocol";
import { nameOption } from "./args.js";
import { forGroup } from "./calls.js";
import type { Handler } from "./handlers.js";
import { formatKeyValues, formatTable, sortBy } from "./table.js";

function connectionTable(set: Connection[]): string {
  return formatTable(
    ["#", "#ClientId", "#ClientAddr", "#Language", "#Version"],
    set.map((c, i) => [
      String(i + 1).padStart(3, "0"),
      c.clientId,
      c.clientAddr,
      c.language,
      versionName(c.version),
    ]),
  );
}

export const consumerConnection: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const conn = await forGroup(group, () => admin.getConsumerConnectionList(group));
  const set = sortBy([...conn.connectionSet], (c) => c.clientId);
  const subs = Object.entries(conn.subscriptionTable ?? {})
    .map(
      ([topic, sd]) => [topic, String((sd as { subString?: unknown }).subString ?? "*")] as [string, string],
    )
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const text = [
    connectionTable(set),
    "",
    "Below is subscription:",
    formatTable(
      ["#", "#Topic", "#SubExpression"],
      subs.map(([t, e], i) => [String(i + 1).padStart(3, "0"), t, e]),
    ),
    "",
    formatKeyValues([
      ["ConsumeType", conn.consumeType ?? ""],
      ["MessageModel", conn.messageModel ?? ""],
      ["ConsumeFromWhere", conn.consumeFromWhere ?? ""],
    ]),
  ].join("\n");
  return { text, json: { group, ...conn, connectionSet: set } };
};

export const producerConnection: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "producer group");
  const topic = nameOption(values, "t", "topic");
  const set = await admin.getProducerConnectionList(group, topic);
  return { text: connectionTable(set), json: { group, topic, connectionSet: set } };
};
