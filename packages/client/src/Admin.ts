import {
  type ClusterInfo,
  decodeJson,
  decodeMessage,
  decodeMessages,
  decodeOffsetMsgId,
  formatHostPort,
  type MessageExt,
  type MessageQueue,
  Perm,
  RequestCode,
  ResponseCode,
  type TopicConfig,
  type TopicRouteData,
} from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { objectKeyMapField } from "./bodies.js";
import { ClientError, NoRouteError, type RouteLookupOutcome } from "./errors.js";
import { MQClientAPI, type Transport } from "./MQClientAPI.js";
import {
  type ClientOptions,
  checkTopic,
  type ResolvedClientOptions,
  resolveClientOptions,
} from "./options.js";

/** Admin takes only the options every client takes. */
export interface AdminOptions extends ClientOptions {}

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

export interface QueueConsumeStats {
  mq: MessageQueue;
  brokerOffset: number;
  consumerOffset: number;
  lastTimestamp: number;
}

export interface ConsumeStats {
  queues: QueueConsumeStats[];
  consumeTps: number;
  /** Σ (brokerOffset − consumerOffset). */
  diffTotal: number;
}

export interface ConsumerConnection {
  connectionSet: Array<{ clientId: string; clientAddr: string; language: string; version: number }>;
  subscriptionTable: Record<string, unknown>;
  consumeType?: string;
  messageModel?: string;
  consumeFromWhere?: string;
}

/**
 * Administration over the 4.x protocol (thin wrappers for the CLI and tools, RocketMQ's
 * MQAdminExt): topics, routes, cluster info, offsets, consumer progress, message lookup.
 */
export class Admin {
  readonly api: MQClientAPI;
  private readonly options: ResolvedClientOptions;
  private nsIndex = 0;
  private closed = false;

  constructor(options: AdminOptions, transport?: Transport) {
    this.options = resolveClientOptions(options, "admin");
    this.api = new MQClientAPI(
      transport ??
        new RemotingClient({ requestTimeoutMs: this.options.requestTimeout, logger: this.options.logger }),
      this.options.requestTimeout,
    );
  }

  /** For symmetry with the other clients: nothing to do (connections open on first use). */
  async startup(): Promise<void> {}

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.api.transport.close();
  }

  /** Runs a NameServer request on the first NameServer that answers (rotating on failure). */
  private async onNameServer<T>(f: (ns: string) => Promise<T>): Promise<T> {
    const n = this.options.nameServers.length;
    let lastErr: unknown;
    for (let i = 0; i < n; i++) {
      const idx = (this.nsIndex + i) % n;
      try {
        const r = await f(this.options.nameServers[idx]!);
        this.nsIndex = idx;
        return r;
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  // ---- NameServer ----

  async getTopicRoute(topic: string): Promise<TopicRouteData> {
    const outcomes: RouteLookupOutcome[] = [];
    for (const ns of this.options.nameServers) {
      try {
        const route = await this.api.getRouteInfo(ns, topic);
        if (route) return route;
        outcomes.push({ nameServer: ns, outcome: "TOPIC_NOT_EXIST" });
      } catch (err) {
        outcomes.push({ nameServer: ns, outcome: "error", detail: (err as Error).message });
      }
    }
    throw new NoRouteError(topic, outcomes);
  }

  async getClusterInfo(): Promise<ClusterInfo> {
    return this.onNameServer((ns) => this.api.getClusterInfo(ns));
  }

  async getTopicList(): Promise<string[]> {
    return this.onNameServer((ns) => this.api.getTopicList(ns));
  }

  /** Master addresses of a cluster's broker groups. */
  async getClusterMasters(clusterName: string): Promise<string[]> {
    const info = await this.getClusterInfo();
    const names = info.clusterAddrTable[clusterName];
    if (!names) throw new ClientError(`cluster ${clusterName} is unknown to the NameServers`);
    return names.map((n) => info.brokerAddrTable[n]?.brokerAddrs["0"]).filter((a): a is string => !!a);
  }

  // ---- topics ----

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

  /** Deletes a topic from every broker of a cluster and from every NameServer. */
  async deleteTopic(topic: string, clusterName: string): Promise<void> {
    const info = await this.getClusterInfo();
    const names = info.clusterAddrTable[clusterName] ?? [];
    for (const n of names) {
      for (const addr of Object.values(info.brokerAddrTable[n]?.brokerAddrs ?? {})) {
        await this.api.call(addr, RequestCode.DELETE_TOPIC_IN_BROKER, { topic }, undefined);
      }
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
      const res = await this.api.call(addr, RequestCode.GET_TOPIC_STATS_INFO, { topic }, undefined);
      const text = res.body?.toString("utf8") ?? "{}";
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
    }
    return out.sort((a, b) =>
      a.mq.brokerName < b.mq.brokerName
        ? -1
        : a.mq.brokerName > b.mq.brokerName
          ? 1
          : a.mq.queueId - b.mq.queueId,
    );
  }

  // ---- consumers ----

  /** Consumer progress of a group (mqadmin consumerProgress), gathered from the brokers of %RETRY%<group> or `topic`. */
  async getConsumeStats(consumerGroup: string, topic?: string): Promise<ConsumeStats> {
    const route = await this.getTopicRoute(topic ?? `%RETRY%${consumerGroup}`);
    const queues: QueueConsumeStats[] = [];
    let consumeTps = 0;
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"];
      if (!addr) continue;
      const res = await this.api.call(
        addr,
        RequestCode.GET_CONSUME_STATS,
        { consumerGroup, topic },
        undefined,
      );
      const text = res.body?.toString("utf8") ?? "{}";
      for (const [mq, v] of objectKeyMapField<{
        brokerOffset: number;
        consumerOffset: number;
        lastTimestamp?: number;
      }>(text, "offsetTable")) {
        queues.push({
          mq,
          brokerOffset: v.brokerOffset,
          consumerOffset: v.consumerOffset,
          lastTimestamp: v.lastTimestamp ?? 0,
        });
      }
      const tps = /"consumeTps"\s*:\s*([-\d.eE]+)/.exec(text);
      if (tps) consumeTps += Number(tps[1]);
    }
    const diffTotal = queues.reduce((s, q) => s + Math.max(0, q.brokerOffset - q.consumerOffset), 0);
    return { queues, consumeTps, diffTotal };
  }

  /** Online clients of a group and their subscriptions (asks one broker of %RETRY%<group>). */
  async getConsumerConnectionList(consumerGroup: string): Promise<ConsumerConnection> {
    const route = await this.getTopicRoute(`%RETRY%${consumerGroup}`);
    const addr = route.brokerDatas.map((b) => b.brokerAddrs["0"]).find(Boolean);
    if (!addr) throw new ClientError(`no broker master serves %RETRY%${consumerGroup}`);
    const res = await this.api.call(
      addr,
      RequestCode.GET_CONSUMER_CONNECTION_LIST,
      { consumerGroup },
      undefined,
    );
    return decodeJson<ConsumerConnection>(res.body, "consumer connection");
  }

  async getConsumerIdList(brokerAddr: string, consumerGroup: string): Promise<string[]> {
    return this.api.getConsumerIdList(brokerAddr, consumerGroup);
  }

  /** Sets a group's committed offset of one queue (the group's consumers should be offline). */
  async updateConsumerOffset(
    brokerAddr: string,
    consumerGroup: string,
    mq: MessageQueue,
    offset: number,
  ): Promise<void> {
    await this.api.updateConsumerOffset(brokerAddr, consumerGroup, mq, offset);
  }

  async queryConsumerOffset(brokerAddr: string, consumerGroup: string, mq: MessageQueue): Promise<number> {
    return this.api.queryConsumerOffset(brokerAddr, consumerGroup, mq);
  }

  /**
   * Resets a group's offsets of a topic to the first message stored at or after `timestamp`
   * (−1 = the end) on every broker of the topic (INVOKE_BROKER_TO_RESET_OFFSET). Online
   * consumers are told by the broker and move at once. Without `isForce` an offset only moves
   * backwards. Returns the new offsets.
   */
  async resetOffsetByTime(
    consumerGroup: string,
    topic: string,
    timestamp: number,
    isForce = true,
  ): Promise<Array<{ mq: MessageQueue; offset: number }>> {
    const route = await this.getTopicRoute(topic);
    const out: Array<{ mq: MessageQueue; offset: number }> = [];
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"];
      if (!addr) continue;
      const res = await this.api.call(
        addr,
        RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
        { topic, group: consumerGroup, timestamp, isForce },
        undefined,
      );
      for (const [mq, offset] of objectKeyMapField<number>(
        res.body?.toString("utf8") ?? "{}",
        "offsetTable",
      )) {
        out.push({ mq, offset });
      }
    }
    return out;
  }

  // ---- brokers and messages ----

  /** GET_BROKER_RUNTIME_INFO: the broker's key/value status table. */
  async getBrokerRuntimeInfo(brokerAddr: string): Promise<Record<string, string>> {
    const res = await this.api.call(brokerAddr, RequestCode.GET_BROKER_RUNTIME_INFO, undefined, undefined);
    return decodeJson<{ table?: Record<string, string> }>(res.body, "runtime info").table ?? {};
  }

  async getMaxOffset(brokerAddr: string, mq: MessageQueue): Promise<number> {
    return this.api.getMaxOffset(brokerAddr, mq);
  }

  async getMinOffset(brokerAddr: string, mq: MessageQueue): Promise<number> {
    return this.api.getMinOffset(brokerAddr, mq);
  }

  async searchOffset(brokerAddr: string, mq: MessageQueue, timestamp: number): Promise<number> {
    return this.api.searchOffset(brokerAddr, mq, timestamp);
  }

  /** A stored message by its offset message id (VIEW_MESSAGE_BY_ID to the broker inside the id). */
  async viewMessage(offsetMsgId: string): Promise<MessageExt> {
    const { storeHost, commitLogOffset } = decodeOffsetMsgId(offsetMsgId);
    const res = await this.api.call(
      formatHostPort(storeHost),
      RequestCode.VIEW_MESSAGE_BY_ID,
      { offset: commitLogOffset },
      undefined,
    );
    if (!res.body) throw new ClientError(`message ${offsetMsgId}: empty answer`);
    return decodeMessage(res.body, 0, { decompressBody: true });
  }

  /** Messages of a topic by key (or by UNIQ_KEY with `uniqueKey`), from every broker of the topic. */
  async queryMessage(
    topic: string,
    key: string,
    o: { maxNum?: number; begin?: number; end?: number; uniqueKey?: boolean } = {},
  ): Promise<MessageExt[]> {
    const route = await this.getTopicRoute(topic);
    const out: MessageExt[] = [];
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"] ?? Object.values(bd.brokerAddrs)[0];
      if (!addr) continue;
      const res = await this.api.call(
        addr,
        RequestCode.QUERY_MESSAGE,
        {
          topic,
          key,
          maxNum: o.maxNum ?? 64,
          beginTimestamp: o.begin ?? 0,
          endTimestamp: o.end ?? Number.MAX_SAFE_INTEGER,
          _UNIQUE_KEY_QUERY: o.uniqueKey ? true : undefined,
        },
        undefined,
        { ok: [ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND] },
      );
      if (res.code !== ResponseCode.SUCCESS || !res.body) continue;
      for (const m of decodeMessages(res.body, { decompressBody: true })) {
        const keys = (m.properties.KEYS ?? "").split(" ");
        if (o.uniqueKey ? m.properties.UNIQ_KEY === key : keys.includes(key)) out.push(m);
      }
    }
    return out;
  }
}
