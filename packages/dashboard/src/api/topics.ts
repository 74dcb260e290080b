import { firstOf, mapLimit, pageOf } from "../Bounded.js";
import type { Route } from "../http.js";
import { HttpError, int, name, str } from "../http.js";
import { TOPIC_TYPES, type TopicType, topicType } from "../topicType.js";

/** Groups listed with their lag in a topic's detail (each costs a request per broker). */
const MAX_TOPIC_GROUPS = 200;

/** Topics page: list with search and type filter, detail (status, route, groups and lag), writes. */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/topics",
    async handle({ data, query }) {
      const search = str(query, "search", { optional: true }).toLowerCase();
      const type = str(query, "type", { optional: true });
      if (type && !TOPIC_TYPES.includes(type as TopicType))
        throw new HttpError(400, `type must be one of ${TOPIC_TYPES.join(", ")}`);
      const [topics, system] = await Promise.all([data.topics(), data.systemNames()]);
      const counts: Record<string, number> = Object.fromEntries(TOPIC_TYPES.map((t) => [t, 0]));
      const rows = [];
      for (const info of topics.value.values()) {
        const t = topicType(info.topic, system);
        counts[t]!++;
        if (type && t !== type) continue;
        if (search && !info.topic.toLowerCase().includes(search)) continue;
        rows.push({
          topic: info.topic,
          type: t,
          brokers: info.configs.map((c) => c.brokerName).sort(),
          readQueueNums: info.configs.reduce((s, c) => s + c.config.readQueueNums, 0),
          writeQueueNums: info.configs.reduce((s, c) => s + c.config.writeQueueNums, 0),
          perm: info.configs[0]?.config.perm ?? 0,
          order: info.configs.some((c) => c.config.order),
        });
      }
      rows.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
      const page = pageOf(
        rows,
        int(query, "page", { min: 0, default: 0 }),
        int(query, "size", { min: 1, max: 500, default: 100 }),
      );
      return { ...page, counts, all: topics.value.size, asOf: topics.asOf };
    },
  },
  {
    method: "GET",
    path: "/api/topics/detail",
    async handle({ data, query }) {
      const topic = name(query, "topic");
      const route = await data.admin.getTopicRoute(topic).catch((err: Error) => {
        throw new HttpError(404, err.message);
      });
      const addrs = route.brokerDatas.map((b) => b.brokerAddrs["0"]).filter((a): a is string => !!a);
      // Independent reads at once: the page waits for the slowest, not for their sum.
      const [stats, topics, masters, groupSets] = await Promise.all([
        data.admin.getTopicStats(topic),
        data.topics(),
        data.masters(),
        mapLimit(addrs, 8, (a) => data.admin.queryTopicConsumeByWho(a, topic).catch(() => [] as string[])),
      ]);
      const allGroups = [...new Set(groupSets.flat())].sort();
      const bounded = firstOf(allGroups, MAX_TOPIC_GROUPS, "groups (the rest are on the Consumers page)");
      const groups = await mapLimit(bounded.items, 16, async (g) => {
        const s = await data.groupStats(g, topic);
        return { group: g, lag: s.diffTotal, consumeTps: s.consumeTps, queues: s.queues.length };
      });
      return {
        topic,
        route,
        stats,
        configs: topics.value.get(topic)?.configs ?? [],
        groups: { ...bounded, items: groups },
        masters: masters.map((m) => m.brokerName),
        asOf: Date.now(),
      };
    },
  },
  {
    method: "POST",
    path: "/api/topics/createOrUpdate",
    action: "topic.createOrUpdate",
    async handle({ data, body }) {
      const topic = name(body, "topic");
      const clusterName = await data.clusterName(str(body, "clusterName", { optional: true }));
      const perm = int(body, "perm", { default: 6 });
      if (![2, 4, 6].includes(perm))
        throw new HttpError(400, "perm must be 2 (write), 4 (read) or 6 (read+write)");
      const addrs = await data.admin.createTopic({
        topic,
        clusterName,
        readQueueNums: int(body, "readQueueNums", { min: 1, max: 1024, default: 8 }),
        writeQueueNums: int(body, "writeQueueNums", { min: 1, max: 1024, default: 8 }),
        perm,
      });
      data.invalidateTopics();
      return { topic, clusterName, brokers: addrs };
    },
  },
  {
    method: "POST",
    path: "/api/topics/delete",
    action: "topic.delete",
    async handle({ data, body }) {
      const topic = name(body, "topic");
      const clusterName = await data.clusterName(str(body, "clusterName", { optional: true }));
      await data.admin.deleteTopic(topic, clusterName);
      data.invalidateTopics();
      return { topic, clusterName, deleted: true };
    },
  },
  {
    method: "POST",
    path: "/api/topics/sendMessage",
    action: "topic.sendMessage",
    async handle({ data, body }) {
      const topic = name(body, "topic");
      const tag = str(body, "tag", { optional: true, max: 255 });
      const keys = str(body, "keys", { optional: true, max: 1024 })
        .split(/[\s,]+/)
        .filter(Boolean);
      const text = str(body, "body", { max: 512 * 1024 });
      const producer = await data.getProducer();
      const r = await producer.send({
        topic,
        ...(tag ? { tag } : {}),
        ...(keys.length > 0 ? { keys } : {}),
        body: Buffer.from(text, "utf8"),
      });
      return {
        topic,
        msgId: r.messageId,
        offsetMsgId: r.offsetMessageId,
        queue: r.messageQueue,
        queueOffset: r.queueOffset,
        sendStatus: r.sendStatus,
      };
    },
  },
];
