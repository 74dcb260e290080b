/**
 * `tidemq admin consumerStatus` and `consumeMessageDirectly` (mqadmin's): questions a broker
 * relays to one client of a group (GET_CONSUMER_RUNNING_INFO 307, CONSUME_MESSAGE_DIRECTLY 309).
 */
import type { ConsumerRunningInfo } from "@tidemq/client";
import { nameOption } from "./args.js";
import { AdminCallError } from "./calls.js";
import type { Handler } from "./handlers.js";
import { formatKeyValues, formatTable, formatTime } from "./table.js";

const time = (ms: number): string => (ms > 0 ? formatTime(ms) : "-");
const round = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** One client's running info as text: properties, then its queues, then rates per topic. */
export function runningInfoText(clientId: string, info: ConsumerRunningInfo): string {
  const p = info.properties;
  const head = formatKeyValues([
    ["ClientId", clientId],
    ["ConsumeType", p.PROP_CONSUME_TYPE ?? p.consumeType ?? ""],
    ["MessageModel", p.messageModel ?? ""],
    ["Orderly", p.PROP_CONSUMEORDERLY ?? "false"],
    ["InFlight", p.PROP_INFLIGHT_COUNT ?? "-"],
    ["StartTime", p.PROP_CONSUMER_START_TIMESTAMP ? time(Number(p.PROP_CONSUMER_START_TIMESTAMP)) : "-"],
    ["Subscriptions", info.subscriptionSet.map((s) => `${s.topic}(${s.subString})`).join(", ")],
  ]);
  const queues = formatTable(
    [
      "#Topic",
      "#Broker Name",
      "#QID",
      "#Locked",
      "#Cached Msgs",
      "#Cached MiB",
      "#Cached Min",
      "#Cached Max",
      "#Commit Offset",
      "#Last Pull",
      "#Last Consume",
    ],
    info.mqTable.map(({ mq, info: q }) => [
      mq.topic,
      mq.brokerName,
      mq.queueId,
      q.locked,
      q.cachedMsgCount,
      q.cachedMsgSizeInMiB,
      q.cachedMsgMinOffset,
      q.cachedMsgMaxOffset,
      q.commitOffset,
      time(q.lastPullTimestamp),
      time(q.lastConsumeTimestamp),
    ]),
    [2, 4, 5, 6, 7, 8],
  );
  const rates = formatTable(
    ["#Topic", "#Consume OK TPS", "#Consume Failed TPS", "#Consume RT(ms)", "#Failed Msgs"],
    Object.entries(info.statusTable)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([topic, s]) => [
        topic,
        round(s.consumeOKTPS),
        round(s.consumeFailedTPS),
        round(s.consumeRT),
        s.consumeFailedMsgs,
      ]),
    [1, 2, 3, 4],
  );
  return `${head}\n\n${queues}\n\n${rates}`;
}

export const consumerStatus: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  let clients: string[];
  if (values.i !== undefined) clients = [values.i.trim()];
  else {
    const conn = await admin.getConsumerConnectionList(group);
    clients = [...new Set(conn.connectionSet.map((c) => c.clientId))].sort();
    if (clients.length === 0) throw new AdminCallError(`consumer group ${group} has no online client`);
  }
  const json: Array<{ clientId: string; info?: ConsumerRunningInfo; error?: string }> = [];
  const texts: string[] = [];
  for (const clientId of clients) {
    try {
      const info = await admin.getConsumerRunningInfo(group, clientId);
      json.push({ clientId, info });
      texts.push(runningInfoText(clientId, info));
    } catch (err) {
      // One client that does not answer (ali-ons never does) must not hide the others.
      if (clients.length === 1) throw err;
      json.push({ clientId, error: (err as Error).message });
      texts.push(`ClientId: ${clientId}\n  no answer: ${(err as Error).message}`);
    }
  }
  return { text: texts.join("\n\n"), json };
};

export const consumeMessageDirectly: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const clientId = values.i!.trim();
  const msgId = values.m!.trim();
  const topic = values.t === undefined ? undefined : nameOption(values, "t", "topic");
  const r = await admin.consumeMessageDirectly(group, clientId, msgId, topic);
  return {
    text: formatKeyValues([
      ["ConsumeResult", r.consumeResult],
      ["Order", r.order],
      ["AutoCommit", r.autoCommit],
      ["SpentTimeMills", r.spentTimeMills],
      ["Remark", r.remark ?? ""],
    ]),
    json: r,
  };
};
