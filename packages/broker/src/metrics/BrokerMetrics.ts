import fs from "node:fs";
import {
  createProcessRegistry,
  histogramSamples,
  MetricsEndpoint,
  type MetricsRegistry,
  type Sample,
  snapshotMetric,
} from "@tidemq/remoting/metrics";
import type { BrokerContext } from "../context.js";
import type { ProducerManager } from "../ProducerManager.js";
import { isRetryTopic, isSystemTopic } from "../TopicValidator.js";
import type { TimerStatus } from "../timer/TimerService.js";
import { type ReplicationSources, registerReplicationMetrics } from "./ReplicationMetrics.js";
import { registerTimerMetrics } from "./TimerMetrics.js";
import type { TrafficCounters } from "./TrafficCounters.js";

export interface BrokerMetricsSources {
  ctx: BrokerContext;
  traffic: TrafficCounters;
  producers: ProducerManager;
  /** Sends waiting in the send queue (rocketmq_processor_watermark{processor="send"}). */
  sendQueueSize: () => number;
  /** Master/slave or DLedger replication, when the broker has one (tidemq_ha_*, tidemq_dledger_*). */
  replication?: ReplicationSources;
  /** The running timer service's status, if any (tidemq_timer_*). */
  timers?: () => TimerStatus | undefined;
}

/**
 * The broker's metrics, with RocketMQ 5's names and label names where RocketMQ has the
 * metric (BrokerMetricsConstant: topic, consumer_group, is_retry, is_system; every series
 * carries cluster, node_type and node_id), and tidemq_* names for the rest. Everything is
 * read at scrape time from counters the broker keeps anyway.
 */
export function createBrokerRegistry(src: BrokerMetricsSources): MetricsRegistry {
  const { ctx, traffic } = src;
  const { config } = ctx;
  const registry = createProcessRegistry({
    cluster: config.brokerClusterName,
    node_type: "broker",
    // A DLedger replica's brokerId follows its role; its self id does not.
    node_id: `${config.brokerName}-${config.enableDLegerCommitLog ? config.dLegerSelfId : config.brokerId}`,
  });
  const topicLabels = (topic: string) => ({
    topic,
    is_retry: String(isRetryTopic(topic)),
    is_system: String(isSystemTopic(topic)),
  });
  const prune = () =>
    traffic.prune(
      (t) => ctx.topics.get(t) !== undefined,
      (g) => ctx.subscriptionGroups.get(g) !== undefined || ctx.consumers.getGroup(g) !== undefined,
    );

  snapshotMetric(registry, {
    name: "rocketmq_messages_in_total",
    help: "Messages stored by sends, per topic (retries sent back by consumers count under %RETRY% topics)",
    type: "counter",
    read: () => {
      prune();
      return [...traffic.in].map(([topic, f]) => ({ labels: topicLabels(topic), value: f.messages }));
    },
  });
  snapshotMetric(registry, {
    name: "rocketmq_throughput_in_total",
    help: "Bytes received in send request bodies, per topic (a batch counts its whole encoded body)",
    type: "counter",
    read: () => [...traffic.in].map(([topic, f]) => ({ labels: topicLabels(topic), value: f.bytes })),
  });
  const outSamples = (pick: "messages" | "bytes") => {
    const out: Sample[] = [];
    for (const [group, byTopic] of traffic.out) {
      for (const [topic, f] of byTopic) {
        out.push({ labels: { ...topicLabels(topic), consumer_group: group }, value: f[pick] });
      }
    }
    return out;
  };
  snapshotMetric(registry, {
    name: "rocketmq_messages_out_total",
    help: "Messages delivered by pulls, per topic and consumer group",
    type: "counter",
    read: () => outSamples("messages"),
  });
  snapshotMetric(registry, {
    name: "rocketmq_throughput_out_total",
    help: "Bytes of stored records delivered by pulls, per topic and consumer group",
    type: "counter",
    read: () => outSamples("bytes"),
  });

  // Lag, in flight and ready, per (topic, consumer group) with committed offsets.
  const backlog = (kind: "lag" | "inflight" | "ready"): Sample[] => {
    const out: Sample[] = [];
    for (const { topic, group } of ctx.offsets.keys()) {
      if (!ctx.topics.get(topic)) continue;
      const pulled = traffic.out.get(group)?.get(topic)?.pulledNext;
      let sum = 0;
      for (const [queueId, committed] of ctx.offsets.table(group, topic)) {
        const max = ctx.store.getMaxOffsetInQueue(topic, queueId);
        const c = Math.max(committed, 0);
        const p = pulled && (pulled[queueId] ?? -1) >= c ? pulled[queueId]! : c;
        if (kind === "lag") sum += Math.max(0, max - c);
        else if (kind === "inflight") sum += Math.max(0, Math.min(p, max) - c);
        else sum += Math.max(0, max - p);
      }
      out.push({ labels: { topic, consumer_group: group }, value: sum });
    }
    return out;
  };
  snapshotMetric(registry, {
    name: "rocketmq_consumer_lag_messages",
    help: "Messages stored but not yet committed by the consumer group (max queue offset - committed offset)",
    type: "gauge",
    read: () => backlog("lag"),
  });
  snapshotMetric(registry, {
    name: "rocketmq_consumer_inflight_messages",
    help: "Messages pulled by the consumer group but not yet committed",
    type: "gauge",
    read: () => backlog("inflight"),
  });
  snapshotMetric(registry, {
    name: "rocketmq_consumer_ready_messages",
    help: "Messages stored and not yet pulled by the consumer group",
    type: "gauge",
    read: () => backlog("ready"),
  });

  snapshotMetric(registry, {
    name: "rocketmq_consumer_connections",
    help: "Connected consumer clients per group",
    type: "gauge",
    read: () =>
      ctx.consumers.groups().map((g) => ({ labels: { consumer_group: g.group }, value: g.channels.size })),
  });
  snapshotMetric(registry, {
    name: "rocketmq_producer_connections",
    help: "Connected producer clients per producer group",
    type: "gauge",
    read: () =>
      src.producers
        .groups()
        .map((g) => ({ labels: { producer_group: g }, value: src.producers.connections(g)?.size ?? 0 })),
  });
  snapshotMetric(registry, {
    name: "rocketmq_topic_number",
    help: "Topics on this broker (system and retry topics included)",
    type: "gauge",
    read: () => [{ value: ctx.topics.all().length }],
  });
  snapshotMetric(registry, {
    name: "rocketmq_consumer_group_number",
    help: "Subscription groups on this broker",
    type: "gauge",
    read: () => [{ value: ctx.subscriptionGroups.all().length }],
  });
  snapshotMetric(registry, {
    name: "rocketmq_broker_permission",
    help: "The broker's permission (6 = read+write, 4 = read, 2 = write)",
    type: "gauge",
    read: () => [{ value: config.brokerPermission }],
  });
  snapshotMetric(registry, {
    name: "rocketmq_processor_watermark",
    help: "Requests waiting in a processor's queue",
    type: "gauge",
    read: () => [{ labels: { processor: "send" }, value: src.sendQueueSize() }],
  });
  snapshotMetric(registry, {
    name: "rocketmq_rpc_latency",
    help: "Time from a request's decode to its response, ms, of one request in 16 (sends: every outcome; pulls: those answered without parking)",
    type: "histogram",
    read: () => [
      ...histogramSamples("rocketmq_rpc_latency", traffic.sendLatency, {
        protocol_type: "remoting",
        request_code: "send_message",
      }),
      ...histogramSamples("rocketmq_rpc_latency", traffic.pullLatency, {
        protocol_type: "remoting",
        request_code: "pull_message",
      }),
    ],
  });

  // The store.
  snapshotMetric(registry, {
    name: "rocketmq_storage_flush_behind_bytes",
    help: "Commit-log bytes written but not yet fdatasync'ed",
    type: "gauge",
    read: () => {
      const s = ctx.store.stats;
      return [{ value: Math.max(0, s.confirmedOffset - s.flushedOffset) }];
    },
  });
  snapshotMetric(registry, {
    name: "rocketmq_storage_dispatch_behind_bytes",
    help: "Commit-log bytes not yet dispatched to consume queues and the index",
    type: "gauge",
    read: () => [{ value: ctx.store.stats.dispatchBehindBytes }],
  });
  snapshotMetric(registry, {
    name: "tidemq_store_put_messages_total",
    help: "Messages appended to the commit log (every topic, retries and DLQ included)",
    type: "counter",
    read: () => [{ value: ctx.store.stats.putMessageTimesTotal }],
  });
  snapshotMetric(registry, {
    name: "tidemq_store_put_bytes_total",
    help: "Bytes appended to the commit log (stored record sizes)",
    type: "counter",
    read: () => [{ value: ctx.store.stats.putMessageSizeTotal }],
  });
  snapshotMetric(registry, {
    name: "tidemq_store_commitlog_bytes",
    help: "Bytes of commit log kept on disk (max offset - min offset)",
    type: "gauge",
    read: () => {
      const s = ctx.store.stats;
      return [{ value: Math.max(0, s.commitLogMaxOffset - s.commitLogMinOffset) }];
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_store_disk_bytes",
    help: "The store's file system: total and available bytes (statfs of storePathRootDir)",
    type: "gauge",
    read: async () => {
      const s = await fs.promises.statfs(config.storePathRootDir);
      return [
        { labels: { kind: "total" }, value: s.blocks * s.bsize },
        { labels: { kind: "available" }, value: s.bavail * s.bsize },
      ];
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_store_disk_used_ratio",
    help: "Used share of the store's file system as the retention check sees it (0-1; deletions start above diskMaxUsedSpaceRatio)",
    type: "gauge",
    read: () => [{ value: ctx.store.stats.diskUsedRatio / 100 }],
  });
  snapshotMetric(registry, {
    name: "tidemq_commitlog_flush_duration_seconds",
    help: "Duration of one commit-log flush round (fdatasync of every dirty segment)",
    type: "histogram",
    read: () => histogramSamples("tidemq_commitlog_flush_duration_seconds", ctx.store.flushTimes, {}, 0.001),
  });
  if (src.replication) registerReplicationMetrics(registry, src.replication);
  if (src.timers) registerTimerMetrics(registry, src.timers);
  return registry;
}

/** Starts the broker's /metrics endpoint on `port` (0 = ephemeral). */
export async function startBrokerMetrics(
  src: BrokerMetricsSources,
  port: number,
  host: string,
): Promise<MetricsEndpoint> {
  const endpoint = new MetricsEndpoint({ port, host, registry: createBrokerRegistry(src) });
  await endpoint.start();
  return endpoint;
}
