/**
 * Consumer and producer group administration: a group's consume progress, its online
 * clients (consumer and producer connection lists, consumer ids), which groups consume a
 * topic, subscription group configs (create, delete, list), and requests a broker relays to
 * one client of a group (running info, consume a message directly; mqadmin consumerStatus
 * and consumeMessage). Last layer before Admin, as consuming directly looks the message up.
 */
import {
  decodeJson,
  decodeOffsetMsgId,
  formatHostPort,
  type MessageExt,
  type MessageQueue,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  type SubscriptionGroupConfig,
} from "@tidemq/protocol";
import { clusterBrokerAddrs } from "./AdminBase.js";
import { objectKeyMapField } from "./bodies.js";
import { type ConsumerRunningInfo, decodeConsumerRunningInfo } from "./consumerStatus.js";
import type { ConsumeMessageDirectlyResult } from "./directConsume.js";
import { ClientError } from "./errors.js";
import { MessageAdmin } from "./MessageAdmin.js";

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

/** One client connected to a broker, as connection lists report it. */
export interface Connection {
  clientId: string;
  clientAddr: string;
  language: string;
  version: number;
}

export interface ConsumerConnection {
  connectionSet: Connection[];
  subscriptionTable: Record<string, unknown>;
  consumeType?: string;
  messageModel?: string;
  consumeFromWhere?: string;
}

/** Groups: consume progress, connections, subscription group configs, requests relayed to a client. */
export class GroupAdmin extends MessageAdmin {
  /** Consumer progress of a group (mqadmin consumerProgress), gathered from the brokers of %RETRY%<group> or `topic`. */
  async getConsumeStats(consumerGroup: string, topic?: string): Promise<ConsumeStats> {
    const route = await this.getTopicRoute(topic ?? `%RETRY%${consumerGroup}`);
    const queues: QueueConsumeStats[] = [];
    let consumeTps = 0;
    let diffTotal = 0;
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"];
      if (!addr) continue;
      const stats = await this.getConsumeStatsOnBroker(addr, consumerGroup, topic);
      queues.push(...stats.queues);
      consumeTps += stats.consumeTps;
      diffTotal += stats.diffTotal;
    }
    return { queues, consumeTps, diffTotal };
  }

  /** GET_CONSUME_STATS (208) on one broker: the group's queues there (of `topic` only, when given). */
  async getConsumeStatsOnBroker(
    brokerAddr: string,
    consumerGroup: string,
    topic?: string,
  ): Promise<ConsumeStats> {
    const res = await this.api.call(
      brokerAddr,
      RequestCode.GET_CONSUME_STATS,
      { consumerGroup, topic },
      undefined,
    );
    const text = res.body?.toString("utf8") ?? "{}";
    const queues: QueueConsumeStats[] = [];
    for (const [mq, v] of objectKeyMapField<{
      brokerOffset: number;
      consumerOffset: number;
      lastTimestamp?: number;
    }>(text, "offsetTable")) {
      if (topic !== undefined && mq.topic !== topic) continue;
      queues.push({
        mq,
        brokerOffset: v.brokerOffset,
        consumerOffset: v.consumerOffset,
        lastTimestamp: v.lastTimestamp ?? 0,
      });
    }
    const tps = /"consumeTps"\s*:\s*([-\d.eE]+)/.exec(text);
    const diffTotal = queues.reduce((s, q) => s + Math.max(0, q.brokerOffset - q.consumerOffset), 0);
    return { queues, consumeTps: tps ? Number(tps[1]) : 0, diffTotal };
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

  /** GET_PRODUCER_CONNECTION_LIST (204) on every master of `topic`, merged by client id and sorted. */
  async getProducerConnectionList(producerGroup: string, topic: string): Promise<Connection[]> {
    const route = await this.getTopicRoute(topic);
    const seen = new Map<string, Connection>();
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs["0"];
      if (!addr) continue;
      // A broker that does not know the group answers SYSTEM_ERROR; only when none knows it is that an error.
      const res = await this.api.call(
        addr,
        RequestCode.GET_PRODUCER_CONNECTION_LIST,
        { producerGroup },
        undefined,
        { ok: [ResponseCode.SUCCESS, ResponseCode.SYSTEM_ERROR] },
      );
      if (res.code !== ResponseCode.SUCCESS) continue;
      const body = decodeJson<{ connectionSet?: Connection[] }>(res.body, "producer connection");
      for (const c of body.connectionSet ?? []) seen.set(c.clientId, c);
    }
    if (seen.size === 0)
      throw new ClientError(`producer group ${producerGroup} has no connection to the brokers of ${topic}`);
    // Keys of a map: no two ids are equal.
    return [...seen.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
  }

  /** QUERY_TOPIC_CONSUME_BY_WHO (300): groups subscribing to, or holding offsets of, `topic` on one broker. */
  async queryTopicConsumeByWho(brokerAddr: string, topic: string): Promise<string[]> {
    const res = await this.api.call(brokerAddr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic }, undefined);
    return decodeJson<{ groupList?: string[] }>(res.body, "group list").groupList ?? [];
  }

  /** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): creates or replaces a group's config on one broker. */
  async updateSubscriptionGroup(brokerAddr: string, config: SubscriptionGroupConfig): Promise<void> {
    await this.api.call(
      brokerAddr,
      RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
      undefined,
      Buffer.from(JSON.stringify(config), "utf8"),
    );
  }

  /** DELETE_SUBSCRIPTIONGROUP (207) on one broker. */
  async deleteSubscriptionGroup(brokerAddr: string, groupName: string): Promise<void> {
    await this.api.call(brokerAddr, RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName }, undefined);
  }

  /** GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): every consumer group config one broker holds. */
  async getAllSubscriptionGroups(brokerAddr: string): Promise<Record<string, SubscriptionGroupConfig>> {
    const res = await this.api.call(
      brokerAddr,
      RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
      undefined,
      undefined,
    );
    return (
      decodeJson<{ subscriptionGroupTable?: Record<string, SubscriptionGroupConfig> }>(
        res.body,
        "subscription groups",
      ).subscriptionGroupTable ?? {}
    );
  }

  /**
   * Masters to ask about a group's clients: those of %RETRY%<group> (where its clients
   * heartbeat), else every master of every cluster (a broadcasting group has no retry topic).
   */
  private async groupBrokers(consumerGroup: string): Promise<string[]> {
    try {
      const route = await this.getTopicRoute(`%RETRY%${consumerGroup}`);
      const addrs = route.brokerDatas.map((b) => b.brokerAddrs["0"]).filter((a): a is string => !!a);
      if (addrs.length > 0) return addrs;
    } catch {
      // fall through to every master
    }
    const info = await this.getClusterInfo();
    return Object.keys(info.clusterAddrTable).flatMap((c) => clusterBrokerAddrs(info, c, true));
  }

  /** Runs a request relayed by a broker to one client of a group (the first broker that knows it). */
  private async relayToClient(
    consumerGroup: string,
    clientId: string,
    code: number,
    header: Record<string, string | boolean>,
    addrs?: string[],
  ): Promise<RemotingCommand> {
    let lastErr: unknown;
    for (const addr of addrs ?? (await this.groupBrokers(consumerGroup))) {
      try {
        return await this.api.call(addr, code, { consumerGroup, clientId, ...header }, undefined, {
          // The broker waits up to 10 s for the client.
          timeoutMs: 12_000,
        });
      } catch (err) {
        lastErr = err;
        if (!/not online/.test((err as Error).message)) throw err;
      }
    }
    throw lastErr ?? new ClientError(`no broker knows consumer group ${consumerGroup}`);
  }

  /** GET_CONSUMER_RUNNING_INFO of one client, relayed by a broker (mqadmin consumerStatus -i). */
  async getConsumerRunningInfo(consumerGroup: string, clientId: string): Promise<ConsumerRunningInfo> {
    const res = await this.relayToClient(consumerGroup, clientId, RequestCode.GET_CONSUMER_RUNNING_INFO, {
      jstackEnable: false,
    });
    return decodeConsumerRunningInfo(res.body);
  }

  /**
   * Has one client of a group run its listener on a stored message (mqadmin
   * consumeMessageDirectly). `msgId` is an offset message id, or a client id (UNIQ_KEY) with `topic`.
   */
  async consumeMessageDirectly(
    consumerGroup: string,
    clientId: string,
    msgId: string,
    topic?: string,
  ): Promise<ConsumeMessageDirectlyResult> {
    let msg: MessageExt | undefined;
    try {
      decodeOffsetMsgId(msgId);
      msg = await this.viewMessage(msgId);
    } catch (err) {
      if (!topic) throw err;
      msg = (await this.queryMessage(topic, msgId, { uniqueKey: true, maxNum: 32 }))[0];
      if (!msg) throw new ClientError(`no message with id ${msgId} in topic ${topic}`);
    }
    const { storeHost } = decodeOffsetMsgId(msg.msgId);
    const res = await this.relayToClient(
      consumerGroup,
      clientId,
      RequestCode.CONSUME_MESSAGE_DIRECTLY,
      { msgId: msg.msgId, topic: msg.topic, brokerName: "" },
      [formatHostPort(storeHost)],
    );
    return decodeJson<ConsumeMessageDirectlyResult>(res.body, "consume message directly result");
  }
}
