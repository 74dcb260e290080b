/**
 * Topics in `tidemq admin`: topicList, topicRoute, topicStatus, updateTopic and deleteTopic
 * (mqadmin's topic subcommands: the NameServer's routes and the brokers' topic configs).
 */
import { permToString } from "@tidemq/protocol";
import { addrOption, boolOption, intOption, nameOption } from "./args.js";
import { AdminCallError, brokerNameOf, MAX_WALK } from "./calls.js";
import type { Handler } from "./handlers.js";
import { isSystemTopic } from "./systemTopics.js";
import { type Cell, formatTable, formatTime, sortBy } from "./table.js";

export const topicList: Handler = async ({ admin, values }) => {
  const all = (await admin.getTopicList()).sort();
  const info = await admin.getClusterInfo();
  // System topics (the brokers' own, markers among them) only with -s.
  const names = new Set([...Object.keys(info.clusterAddrTable), ...Object.keys(info.brokerAddrTable)]);
  const topics = values.s === "true" ? all : all.filter((t) => !isSystemTopic(t, names));
  if (values.c !== "true") return { text: topics.join("\n"), json: topics };
  const rows: Array<{ cluster: string; topic: string; groups: string[] }> = [];
  for (const topic of topics.slice(0, MAX_WALK)) {
    if (topic.startsWith("%RETRY%") || topic.startsWith("%DLQ%")) continue;
    let cluster = "";
    let groups: string[] = [];
    try {
      const route = await admin.getTopicRoute(topic);
      const bd = route.brokerDatas[0];
      cluster = bd?.cluster ?? "";
      const addr = bd?.brokerAddrs["0"];
      if (addr) groups = await admin.queryTopicConsumeByWho(addr, topic);
    } catch {
      // A topic deleted between the two calls: listed without cluster and groups.
    }
    if (!cluster) cluster = Object.keys(info.clusterAddrTable).find((c) => c === topic) ?? "";
    if (groups.length === 0) rows.push({ cluster, topic, groups });
    for (const g of groups) rows.push({ cluster, topic, groups: [g] });
  }
  return {
    text: formatTable(
      ["#Cluster Name", "#Topic", "#Consumer Group"],
      rows.map((r) => [r.cluster, r.topic, r.groups[0] ?? ""]),
    ),
    json: rows.map((r) => ({ cluster: r.cluster, topic: r.topic, consumerGroup: r.groups[0] ?? null })),
  };
};

export const topicRoute: Handler = async ({ admin, values }) => {
  const topic = nameOption(values, "t", "topic");
  const route = await admin.getTopicRoute(topic);
  const rows: Cell[][] = [];
  for (const bd of sortBy([...route.brokerDatas], (b) => b.brokerName)) {
    const qd = route.queueDatas.find((q) => q.brokerName === bd.brokerName);
    for (const id of Object.keys(bd.brokerAddrs).sort((a, b) => Number(a) - Number(b))) {
      rows.push([
        bd.cluster,
        bd.brokerName,
        id,
        bd.brokerAddrs[id],
        qd?.readQueueNums,
        qd?.writeQueueNums,
        qd ? `${qd.perm} (${permToString(qd.perm)})` : "",
      ]);
    }
  }
  let text = formatTable(
    ["#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Read Queues", "#Write Queues", "#Perm"],
    rows,
    [4, 5],
  );
  if (route.orderTopicConf) text += `\n\nOrder topic conf: ${route.orderTopicConf}`;
  return { text, json: route };
};

export const topicStatus: Handler = async ({ admin, values }) => {
  const topic = nameOption(values, "t", "topic");
  const stats = await admin.getTopicStats(topic);
  if (stats.length === 0) throw new AdminCallError(`topic ${topic} has no queue on its brokers`);
  return {
    text: formatTable(
      ["#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"],
      stats.map((s) => [
        s.mq.brokerName,
        s.mq.queueId,
        s.minOffset,
        s.maxOffset,
        formatTime(s.lastUpdateTimestamp),
      ]),
      [1, 2, 3],
    ),
    json: stats.map((s) => ({
      brokerName: s.mq.brokerName,
      queueId: s.mq.queueId,
      minOffset: s.minOffset,
      maxOffset: s.maxOffset,
      lastUpdateTimestamp: s.lastUpdateTimestamp,
    })),
  };
};

export const updateTopic: Handler = async ({ admin, values }) => {
  const topic = nameOption(values, "t", "topic");
  const config = {
    topicName: topic,
    readQueueNums: intOption(values, "r", 8, 1, 1024),
    writeQueueNums: intOption(values, "w", 8, 1, 1024),
    perm: intOption(values, "p", 6, 0, 15),
    topicFilterType: "SINGLE_TAG" as const,
    topicSysFlag: 0,
    order: boolOption(values, "o", false),
  };
  const brokerAddr = addrOption(values, "b");
  const addrs = await admin.createTopic({
    topic,
    brokerAddr,
    clusterName: brokerAddr ? undefined : values.c,
    readQueueNums: config.readQueueNums,
    writeQueueNums: config.writeQueueNums,
    perm: config.perm,
    order: config.order,
  });
  const lines = addrs.map((a) => `create topic to ${a} success.`);
  let orderConf: string | undefined;
  if (config.order) {
    const info = await admin.getClusterInfo();
    orderConf = addrs.map((a) => `${brokerNameOf(info, a) ?? a}:${config.writeQueueNums}`).join(";");
    await admin.putOrderConf(topic, orderConf);
    lines.push(`set order topic conf ${orderConf} on the NameServers.`);
  }
  lines.push(JSON.stringify(config));
  return {
    text: lines.join("\n"),
    json: { brokers: addrs, topicConfig: config, orderConf: orderConf ?? null },
  };
};

export const deleteTopic: Handler = async ({ admin, values }) => {
  const topic = nameOption(values, "t", "topic");
  const cluster = values.c!;
  await admin.deleteTopic(topic, cluster);
  return {
    text: `delete topic [${topic}] from cluster [${cluster}] success.\ndelete topic [${topic}] from NameServer success.`,
    json: { topic, cluster, deleted: true },
  };
};
