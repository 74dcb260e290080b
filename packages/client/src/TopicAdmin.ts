/**
 * Topic administration: creating a topic on a broker or on every master of a cluster,
 * its order config on the NameServers, deleting it everywhere, and reading topic configs and
 * per-queue offset ranges (mqadmin updateTopic / deleteTopic / topicStatus). Layered on
 * AdminBase for the routes and cluster info these start from.
 */
import { decodeJson, type MessageQueue, Perm, RequestCode, type TopicConfig } from "@tidemq/protocol";
import { AdminBase, clusterBrokerAddrs } from "./AdminBase.js";
import { objectKeyMapField } from "./bodies.js";
import { ClientError } from "./errors.js";
import { compareQueues } from "./MessageQueue.js";
import { checkTopic } from "./options.js";

export interface CreateTopicOptions {
  /** Topic name (letters, digits, %, |, _, -; at most 127 characters). */
  topic: string;
  /** Broker address to create it on ("host:port"); or `clusterName` for every master of a cluster. */
  brokerAddr?: string;
  /** Cluster whose masters all get the topic (asked from the NameServers). */
  clusterName?: string;
  /** Read queues per broker. Default 8 (as mqadmin updateTopic). */
  readQueueNums?: number;
  /** Write queues per broker. Default 8. */
  writeQueueNums?: number;
  /** Permission bits: 6 = read+write (default), 4 = read only, 2 = write only. */
  perm?: number;
  /** Marks the topic ordered (informational for the broker). Default false. */
  order?: boolean;
  /** Default "SINGLE_TAG". */
  topicFilterType?: "SINGLE_TAG" | "MULTI_TAG";
}

export interface QueueOffsetStats {
  mq: MessageQueue;
  minOffset: number;
  maxOffset: number;
  lastUpdateTimestamp: number;
}

/** Topics: create, delete, order config, configs and offset ranges. */
export class TopicAdmin extends AdminBase {
  /** UPDATE_AND_CREATE_TOPIC on one broker or on every master of a cluster; returns the addresses. */
  async createTopic(o: CreateTopicOptions): Promise<string[]> {
    checkTopic(o.topic);
    const addrs = o.brokerAddr
      ? [o.brokerAddr]
      : o.clusterName
        ? await this.getClusterMasters(o.clusterName)
        : [];
    if (addrs.length === 0)
      throw new ClientError("createTopic needs brokerAddr or clusterName (with at least one master)");
    const header = {
      topic: o.topic,
      defaultTopic: "TBW102",
      readQueueNums: o.readQueueNums ?? 8,
      writeQueueNums: o.writeQueueNums ?? 8,
      perm: o.perm ?? Perm.READ | Perm.WRITE,
      topicFilterType: o.topicFilterType ?? "SINGLE_TAG",
      topicSysFlag: 0,
      order: o.order ?? false,
    };
    for (const addr of addrs)
      await this.api.call(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, header, undefined);
    return addrs;
  }

  /**
   * Sets a topic's order config (`brokerName:queueNums;…`, what `updateTopic -o true` puts)
   * on every NameServer: PUT_KV_CONFIG (100) in namespace ORDER_TOPIC_CONFIG.
   */
  async putOrderConf(topic: string, orderConf: string): Promise<void> {
    for (const ns of this.options.nameServers) {
      await this.api.call(
        ns,
        RequestCode.PUT_KV_CONFIG,
        { namespace: "ORDER_TOPIC_CONFIG", key: topic, value: orderConf },
        undefined,
      );
    }
  }

  /**
   * Deletes a topic from every broker (masters and slaves) of a cluster and from every
   * NameServer. An unknown cluster is an error before anything is deleted.
   */
  async deleteTopic(topic: string, clusterName: string): Promise<void> {
    for (const addr of clusterBrokerAddrs(await this.getClusterInfo(), clusterName, false)) {
      await this.api.call(addr, RequestCode.DELETE_TOPIC_IN_BROKER, { topic }, undefined);
    }
    for (const ns of this.options.nameServers) {
      await this.api.call(ns, RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic, clusterName }, undefined);
    }
  }

  async getAllTopicConfig(brokerAddr: string): Promise<Record<string, TopicConfig>> {
    const res = await this.api.call(brokerAddr, RequestCode.GET_ALL_TOPIC_CONFIG, undefined, undefined);
    return (
      decodeJson<{ topicConfigTable?: Record<string, TopicConfig> }>(res.body, "topic configs")
        .topicConfigTable ?? {}
    );
  }

  /** Per-queue min/max offsets of a topic across its brokers (mqadmin topicStatus). */
  async getTopicStats(topic: string): Promise<QueueOffsetStats[]> {
    const route = await this.getTopicRoute(topic);
    const out: QueueOffsetStats[] = [];
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"] ?? Object.values(bd.brokerAddrs)[0];
      if (!addr) continue;
      out.push(...(await this.getTopicStatsOnBroker(addr, topic)));
    }
    return out.sort((a, b) => compareQueues(a.mq, b.mq));
  }

  /** GET_TOPIC_STATS_INFO (202) on one broker: its queues of `topic` (no route lookup). */
  async getTopicStatsOnBroker(brokerAddr: string, topic: string): Promise<QueueOffsetStats[]> {
    const res = await this.api.call(brokerAddr, RequestCode.GET_TOPIC_STATS_INFO, { topic }, undefined);
    const text = res.body?.toString("utf8") ?? "{}";
    const out: QueueOffsetStats[] = [];
    for (const [mq, v] of objectKeyMapField<{
      minOffset: number;
      maxOffset: number;
      lastUpdateTimestamp: number;
    }>(text, "offsetTable")) {
      out.push({
        mq,
        minOffset: v.minOffset,
        maxOffset: v.maxOffset,
        lastUpdateTimestamp: v.lastUpdateTimestamp,
      });
    }
    return out;
  }
}
