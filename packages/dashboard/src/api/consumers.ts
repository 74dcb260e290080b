import { allocateAveragely, type ConsumerConnection } from "@tidemq/client";
import type { SubscriptionGroupConfig } from "@tidemq/protocol";
import { fmt, mapLimit, pageOf } from "../Bounded.js";
import type { Route } from "../http.js";
import { bool, HttpError, int, name, str } from "../http.js";
import { isSystemGroup } from "../topicType.js";

const SORTS = ["lag", "group", "tps", "clients"] as const;

/** Consumers page: groups sorted by lag, per-queue progress and owners, clients, writes. */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/consumers",
    async handle({ data, query }) {
      const search = str(query, "search", { optional: true }).toLowerCase();
      const withSystem = bool(query, "system", false);
      const sort = str(query, "sort", { optional: true }) || "lag";
      if (!SORTS.includes(sort as (typeof SORTS)[number]))
        throw new HttpError(400, `sort must be one of ${SORTS.join(", ")}`);
      const groups = await data.groups();
      const rows = [...groups.value.values()]
        .filter((g) => withSystem || !isSystemGroup(g.group))
        .filter((g) => !search || g.group.toLowerCase().includes(search))
        .map((g) => ({
          group: g.group,
          lag: g.lag,
          consumeTps: g.consumeTps,
          clients: g.clients,
          topics: g.topics.length,
          brokers: g.brokers.length,
          consumeEnable: g.config.consumeEnable,
          broadcast: g.config.consumeBroadcastEnable,
          error: g.error,
        }));
      const byName = (a: { group: string }, b: { group: string }) =>
        a.group < b.group ? -1 : a.group > b.group ? 1 : 0;
      rows.sort((a, b) => {
        if (sort === "group") return byName(a, b);
        if (sort === "tps") return b.consumeTps - a.consumeTps || byName(a, b);
        if (sort === "clients") return b.clients - a.clients || byName(a, b);
        return (b.lag ?? -1) - (a.lag ?? -1) || byName(a, b);
      });
      const page = pageOf(
        rows,
        int(query, "page", { min: 0, default: 0 }),
        int(query, "size", { min: 1, max: 500, default: 100 }),
      );
      return {
        ...page,
        all: groups.value.size,
        asOf: groups.asOf,
        // Honest about the first seconds after start: no lag yet, rather than a slow page.
        ...(groups.pending
          ? {
              lagPending: true,
              note: `lag of ${fmt(groups.value.size)} groups is still being computed: sorted by name until it is (reload in a few seconds)`,
            }
          : {}),
      };
    },
  },
  {
    method: "GET",
    path: "/api/consumers/detail",
    async handle({ data, query }) {
      const group = name(query, "group");
      let connection: ConsumerConnection | undefined;
      let offline = "";
      // Three independent reads, at once: the page waits for the slowest, not for their sum.
      const [groups, stats] = await Promise.all([
        data.groups(0),
        data.groupStats(group),
        data.admin.getConsumerConnectionList(group).then(
          (c) => {
            connection = c;
          },
          (err: Error) => {
            offline = err.message;
          },
        ),
      ]);
      const summary = groups.value.get(group);
      // Which client holds each queue, as the clients' default strategy (average) allocates
      // them: sorted client ids over the sorted queues of each subscribed topic.
      const ids = (connection?.connectionSet ?? []).map((c) => c.clientId);
      const owners = new Map<string, string>();
      if (ids.length > 0 && connection?.messageModel !== "BROADCASTING") {
        const byTopic = new Map<string, typeof stats.queues>();
        for (const q of stats.queues) byTopic.set(q.mq.topic, [...(byTopic.get(q.mq.topic) ?? []), q]);
        for (const qs of byTopic.values()) {
          const mqs = qs.map((q) => q.mq);
          for (const id of ids)
            for (const mq of allocateAveragely(mqs, ids, id))
              owners.set(`${mq.topic}|${mq.brokerName}|${mq.queueId}`, id);
        }
      }
      return {
        group,
        config: summary?.config,
        brokers: summary?.brokers ?? [],
        lag: stats.diffTotal,
        consumeTps: stats.consumeTps,
        queues: stats.queues.map((q) => ({
          ...q,
          lag: Math.max(0, q.brokerOffset - q.consumerOffset),
          owner: owners.get(`${q.mq.topic}|${q.mq.brokerName}|${q.mq.queueId}`) ?? "",
        })),
        connection,
        offline,
        asOf: Date.now(),
      };
    },
  },
  {
    method: "POST",
    path: "/api/consumers/resetOffset",
    action: "offset.reset",
    async handle({ data, body }) {
      const group = name(body, "group");
      const topic = name(body, "topic");
      // skip = jump to the end (rocketmq-dashboard's "skip accumulate"); else a time in ms.
      const skip = bool(body, "skip", false);
      const timestamp = skip ? -1 : int(body, "timestamp", { min: 0 });
      const entries = await data.admin.resetOffsetByTime(group, topic, timestamp, true);
      data.invalidateGroups();
      return { group, topic, timestamp, offsets: entries };
    },
  },
  {
    method: "POST",
    path: "/api/consumers/createOrUpdate",
    action: "group.createOrUpdate",
    async handle({ data, body }) {
      const group = name(body, "group");
      const clusterName = await data.clusterName(str(body, "clusterName", { optional: true }));
      const config: SubscriptionGroupConfig = {
        groupName: group,
        consumeEnable: bool(body, "consumeEnable", true),
        consumeFromMinEnable: bool(body, "consumeFromMinEnable", true),
        consumeBroadcastEnable: bool(body, "consumeBroadcastEnable", true),
        retryQueueNums: int(body, "retryQueueNums", { min: 0, max: 64, default: 1 }),
        retryMaxTimes: int(body, "retryMaxTimes", { min: -1, max: 64, default: 16 }),
        brokerId: int(body, "brokerId", { min: 0, max: 64, default: 0 }),
        whichBrokerWhenConsumeSlowly: int(body, "whichBrokerWhenConsumeSlowly", {
          min: 0,
          max: 64,
          default: 1,
        }),
        notifyConsumerIdsChangedEnable: bool(body, "notifyConsumerIdsChangedEnable", true),
      };
      const masters = await data.admin.getClusterMasters(clusterName);
      await mapLimit(masters, 8, (addr) => data.admin.updateSubscriptionGroup(addr, config));
      data.invalidateGroups();
      return { group, clusterName, brokers: masters };
    },
  },
  {
    method: "POST",
    path: "/api/consumers/delete",
    action: "group.delete",
    async handle({ data, body }) {
      const group = name(body, "group");
      const clusterName = await data.clusterName(str(body, "clusterName", { optional: true }));
      const brokers = (await data.brokers()).filter((b) => b.cluster === clusterName);
      await mapLimit(brokers, 8, (b) => data.admin.deleteSubscriptionGroup(b.addr, group));
      data.invalidateGroups();
      return { group, clusterName, deleted: true };
    },
  },
];
