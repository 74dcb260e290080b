import { createProcessRegistry, type MetricsRegistry, snapshotMetric } from "@tidemq/remoting/metrics";
import type { RouteInfoManager } from "./RouteInfoManager.js";

/**
 * A NameServer's metrics: process metrics plus the size of its route tables, read at
 * scrape time. (RocketMQ 5's NameServer exports only RPC latency; these are TideMQ's.)
 */
export function createNamesrvRegistry(routes: RouteInfoManager, connections: () => number): MetricsRegistry {
  const registry = createProcessRegistry({ node_type: "nameserver" });
  snapshotMetric(registry, {
    name: "tidemq_namesrv_brokers",
    help: "Broker addresses registered, per cluster",
    type: "gauge",
    read: () => {
      const info = routes.getClusterInfo();
      return Object.entries(info.clusterAddrTable).map(([cluster, names]) => {
        let addrs = 0;
        for (const n of names) addrs += Object.keys(info.brokerAddrTable[n]?.brokerAddrs ?? {}).length;
        return { labels: { cluster }, value: addrs };
      });
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_namesrv_topics",
    help: "Topics with a route",
    type: "gauge",
    read: () => [{ value: routes.getAllTopicList().topicList.length }],
  });
  snapshotMetric(registry, {
    name: "tidemq_namesrv_connections",
    help: "Open client and broker connections",
    type: "gauge",
    read: () => [{ value: connections() }],
  });
  return registry;
}
