/**
 * Consume progress in `tidemq admin`: consumerProgress for one group (offsets and lag per queue,
 * with -s the client each queue is allocated to) or, without -g, one line per group.
 */
import {
  type Admin,
  allocateAveragely,
  type ConsumeStats,
  compareQueues,
  type MessageQueue,
} from "@tidemq/client";
import { versionName } from "@tidemq/protocol";
import { boolOption, nameOption } from "./args.js";
import { AdminCallError, forGroup, MAX_WALK } from "./calls.js";
import type { AdminContext, Handler, Output } from "./handlers.js";
import { formatTable, formatTime } from "./table.js";
import { clientIpOf } from "./views.js";

/** Client id per queue under average allocation, for consumerProgress -s true. */
function allocation(stats: ConsumeStats, clientIds: string[]): Map<string, string> {
  const byTopic = new Map<string, MessageQueue[]>();
  for (const q of stats.queues) {
    const list = byTopic.get(q.mq.topic) ?? [];
    list.push(q.mq);
    byTopic.set(q.mq.topic, list);
  }
  const out = new Map<string, string>();
  for (const queues of byTopic.values()) {
    for (const id of clientIds) {
      for (const mq of allocateAveragely(queues, clientIds, id)) {
        out.set(`${mq.topic}@${mq.brokerName}@${mq.queueId}`, id);
      }
    }
  }
  return out;
}

export const consumerProgress: Handler = async (ctx) => {
  const { admin, values } = ctx;
  if (values.g === undefined) return allGroupsProgress(ctx);
  const group = nameOption(values, "g", "group");
  const showClient = boolOption(values, "s", false);
  const stats = await forGroup(group, () => admin.getConsumeStats(group));
  if (stats.queues.length === 0) {
    throw new AdminCallError(
      `no consume progress of group ${group} (CONSUMER_NOT_ONLINE: maybe the consumer has not consumed any message)`,
    );
  }
  let owners = new Map<string, string>();
  if (showClient) {
    try {
      const conn = await admin.getConsumerConnectionList(group);
      owners = allocation(
        stats,
        conn.connectionSet.map((c) => c.clientId),
      );
    } catch {
      // Group offline: no owner to show.
    }
  }
  const queues = [...stats.queues].sort((a, b) => compareQueues(a.mq, b.mq));
  const json = queues.map((q) => {
    const owner = owners.get(`${q.mq.topic}@${q.mq.brokerName}@${q.mq.queueId}`);
    return {
      topic: q.mq.topic,
      brokerName: q.mq.brokerName,
      queueId: q.mq.queueId,
      brokerOffset: q.brokerOffset,
      consumerOffset: q.consumerOffset,
      clientIP: owner ? clientIpOf(owner) : null,
      diff: q.brokerOffset - q.consumerOffset,
      lastTimestamp: q.lastTimestamp,
    };
  });
  const table = formatTable(
    [
      "#Topic",
      "#Broker Name",
      "#QID",
      "#Broker Offset",
      "#Consumer Offset",
      "#Client IP",
      "#Diff",
      "#LastTime",
    ],
    json.map((r) => [
      r.topic,
      r.brokerName,
      r.queueId,
      r.brokerOffset,
      r.consumerOffset,
      r.clientIP ?? "N/A",
      r.diff,
      r.lastTimestamp > 0 ? formatTime(r.lastTimestamp) : "N/A",
    ]),
    [2, 3, 4, 6],
  );
  return {
    text: `${table}\n\nConsume TPS: ${stats.consumeTps.toFixed(2)}\nConsume Diff Total: ${stats.diffTotal}`,
    json: { group, queues: json, consumeTps: stats.consumeTps, diffTotal: stats.diffTotal },
  };
};

async function allGroupsProgress({ admin }: AdminContext): Promise<Output> {
  const groups = (await admin.getTopicList())
    .filter((t) => t.startsWith("%RETRY%"))
    .map((t) => t.slice("%RETRY%".length))
    .sort()
    .slice(0, MAX_WALK);
  const rows: Array<{
    group: string;
    count: number;
    version: string;
    consumeType: string;
    messageModel: string;
    consumeTps: number;
    diffTotal: number;
  }> = [];
  for (const group of groups) {
    let stats: ConsumeStats;
    try {
      stats = await admin.getConsumeStats(group);
    } catch {
      continue; // as mqadmin: a group whose stats cannot be read is left out
    }
    let conn: Awaited<ReturnType<Admin["getConsumerConnectionList"]>> | undefined;
    try {
      conn = await admin.getConsumerConnectionList(group);
    } catch {
      conn = undefined;
    }
    const first = conn?.connectionSet[0];
    rows.push({
      group,
      count: conn?.connectionSet.length ?? 0,
      version: first ? versionName(first.version) : "OFFLINE",
      consumeType: conn?.consumeType ?? "",
      messageModel: conn?.messageModel ?? "",
      consumeTps: stats.consumeTps,
      diffTotal: stats.diffTotal,
    });
  }
  return {
    text: formatTable(
      ["#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"],
      rows.map((r) => [
        r.group,
        r.count,
        r.version,
        r.consumeType,
        r.messageModel,
        r.consumeTps.toFixed(2),
        r.diffTotal,
      ]),
      [1, 5, 6],
    ),
    json: rows,
  };
}
