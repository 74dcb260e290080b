/**
 * Admin requests that @tidemq/client's Admin does not offer (yet), built on its public
 * methods and on `admin.api.call` with the protocol's request codes. Candidates to move
 * into Admin: each function's first parameter is the Admin it would become a method of.
 */
import { type Admin, BrokerError } from "@tidemq/client";
import {
  type ClusterInfo,
  decodeJson,
  decodeObjectKeyMap,
  type MessageQueue,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";

/** A fault of the cluster's answer (not of the command line); printed as one line. */
export class AdminCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdminCallError";
  }
}

export interface SubscriptionGroupConfig {
  groupName: string;
  consumeEnable: boolean;
  consumeFromMinEnable: boolean;
  consumeBroadcastEnable: boolean;
  retryQueueNums: number;
  retryMaxTimes: number;
  brokerId: number;
  whichBrokerWhenConsumeSlowly: number;
  notifyConsumerIdsChangedEnable: boolean;
}

export interface Connection {
  clientId: string;
  clientAddr: string;
  language: string;
  version: number;
}

export interface ResetOffsetEntry {
  brokerName: string;
  queueId: number;
  offset: number;
}

/** Broker addresses of a cluster (masters only, or every master and slave), sorted by name and id. */
export function clusterBrokerAddrs(info: ClusterInfo, cluster: string, mastersOnly: boolean): string[] {
  const names = info.clusterAddrTable[cluster];
  if (!names) {
    const known = Object.keys(info.clusterAddrTable).sort().join(", ") || "none";
    throw new AdminCallError(`cluster ${cluster} is unknown to the NameServer (clusters: ${known})`);
  }
  const out: string[] = [];
  for (const name of [...names].sort()) {
    const addrs = info.brokerAddrTable[name]?.brokerAddrs ?? {};
    for (const id of Object.keys(addrs).sort((a, b) => Number(a) - Number(b))) {
      if (mastersOnly && id !== "0") continue;
      out.push(addrs[id]!);
    }
  }
  return out;
}

/** The addresses a -b / -c pair designates: -b itself, or the cluster's brokers. */
export async function targetBrokers(
  admin: Admin,
  brokerAddr: string | undefined,
  cluster: string | undefined,
  mastersOnly = true,
): Promise<string[]> {
  if (brokerAddr) return [brokerAddr];
  if (!cluster) throw new AdminCallError("give -b <broker address> or -c <cluster>");
  const addrs = clusterBrokerAddrs(await admin.getClusterInfo(), cluster, mastersOnly);
  if (addrs.length === 0)
    throw new AdminCallError(`cluster ${cluster} has no ${mastersOnly ? "master " : ""}broker`);
  return addrs;
}

/** Name of the broker group an address belongs to, from the cluster info. */
export function brokerNameOf(info: ClusterInfo, addr: string): string | undefined {
  for (const [name, bd] of Object.entries(info.brokerAddrTable)) {
    if (Object.values(bd.brokerAddrs ?? {}).includes(addr)) return name;
  }
  return undefined;
}

/** Parses Java properties text (key=value lines, # comments) as GET_BROKER_CONFIG sends it. */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) continue;
    const i = line.search(/[=:]/);
    const key = (i < 0 ? line : line.slice(0, i)).trim();
    if (key)
      Object.defineProperty(out, key, { value: i < 0 ? "" : line.slice(i + 1).trim(), enumerable: true });
  }
  return out;
}

/** GET_BROKER_CONFIG (26): the broker's configuration as key → value. */
export async function getBrokerConfig(admin: Admin, addr: string): Promise<Record<string, string>> {
  const res = await admin.api.call(addr, RequestCode.GET_BROKER_CONFIG, undefined, undefined);
  return parseProperties(res.body?.toString("utf8") ?? "");
}

/** UPDATE_BROKER_CONFIG (25): one key, as `mqadmin updateBrokerConfig -k -v` sends it. */
export async function updateBrokerConfig(
  admin: Admin,
  addr: string,
  key: string,
  value: string,
): Promise<void> {
  await admin.api.call(
    addr,
    RequestCode.UPDATE_BROKER_CONFIG,
    undefined,
    Buffer.from(`${key}=${value}\n`, "utf8"),
  );
}

/** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200). */
export async function updateSubscriptionGroup(
  admin: Admin,
  addr: string,
  config: SubscriptionGroupConfig,
): Promise<void> {
  await admin.api.call(
    addr,
    RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    undefined,
    Buffer.from(JSON.stringify(config), "utf8"),
  );
}

/** DELETE_SUBSCRIPTIONGROUP (207). */
export async function deleteSubscriptionGroup(admin: Admin, addr: string, groupName: string): Promise<void> {
  await admin.api.call(addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName }, undefined);
}

/** PUT_KV_CONFIG (100) of ORDER_TOPIC_CONFIG on every NameServer (`updateTopic -o true`). */
export async function putOrderConf(
  admin: Admin,
  nameServers: string[],
  topic: string,
  orderConf: string,
): Promise<void> {
  for (const ns of nameServers) {
    await admin.api.call(
      ns,
      RequestCode.PUT_KV_CONFIG,
      { namespace: "ORDER_TOPIC_CONFIG", key: topic, value: orderConf },
      undefined,
    );
  }
}

/**
 * GET_PRODUCER_CONNECTION_LIST (204) on every master of the topic's route, merged by
 * client id (mqadmin producerConnection). A broker that does not know the group answers
 * SYSTEM_ERROR; only when none knows it is that an error.
 */
export async function getProducerConnectionList(
  admin: Admin,
  producerGroup: string,
  topic: string,
): Promise<Connection[]> {
  const route = await admin.getTopicRoute(topic);
  const seen = new Map<string, Connection>();
  for (const bd of route.brokerDatas) {
    const addr = bd.brokerAddrs["0"];
    if (!addr) continue;
    const res = await admin.api.call(
      addr,
      RequestCode.GET_PRODUCER_CONNECTION_LIST,
      { producerGroup },
      undefined,
      {
        ok: [ResponseCode.SUCCESS, ResponseCode.SYSTEM_ERROR],
      },
    );
    if (res.code !== ResponseCode.SUCCESS) continue;
    const body = decodeJson<{ connectionSet?: Connection[] }>(res.body, "producer connection");
    for (const c of body.connectionSet ?? []) seen.set(c.clientId, c);
  }
  if (seen.size === 0)
    throw new AdminCallError(`producer group ${producerGroup} has no connection to the brokers of ${topic}`);
  return [...seen.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
}

/** QUERY_TOPIC_CONSUME_BY_WHO (300): groups subscribing to, or holding offsets of, a topic. */
export async function queryTopicConsumeByWho(admin: Admin, addr: string, topic: string): Promise<string[]> {
  const res = await admin.api.call(addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic }, undefined);
  return decodeJson<{ groupList?: string[] }>(res.body, "group list").groupList ?? [];
}

/** GET_CONSUME_STATS (208) on one broker for one topic: queue → committed offset. */
export async function consumerOffsetsOnBroker(
  admin: Admin,
  addr: string,
  consumerGroup: string,
  topic: string,
): Promise<Map<number, number>> {
  const res = await admin.api.call(addr, RequestCode.GET_CONSUME_STATS, { consumerGroup, topic }, undefined);
  const text = res.body?.toString("utf8") ?? "{}";
  const i = text.indexOf('"offsetTable"');
  const out = new Map<number, number>();
  if (i < 0) return out;
  for (const [mq, v] of decodeObjectKeyMap<MessageQueue, { consumerOffset: number }>(
    text.slice(text.indexOf(":", i) + 1),
  )) {
    if (mq.topic === topic) out.set(mq.queueId, v.consumerOffset);
  }
  return out;
}

/**
 * Resets a group's offsets of a topic to the first message stored at or after `timestamp`
 * (−1 = the end) on every master of the topic (mqadmin resetOffsetByTime, spec §6.7):
 * INVOKE_BROKER_TO_RESET_OFFSET (222); when a broker answers CONSUMER_NOT_ONLINE, the old
 * procedure instead: per queue SEARCH_OFFSET_BY_TIMESTAMP (or GET_MAX_OFFSET) and
 * UPDATE_CONSUMER_OFFSET, moving back only unless `force`. The same procedure runs when the
 * broker refuses because some queue has no committed offset (RocketMQ 4.9 refuses the
 * whole reset then) as long as the group has an offset on one queue of that broker.
 */
export async function resetOffsetByTime(
  admin: Admin,
  group: string,
  topic: string,
  timestamp: number,
  force: boolean,
): Promise<ResetOffsetEntry[]> {
  const route = await admin.getTopicRoute(topic);
  const out: ResetOffsetEntry[] = [];
  for (const bd of route.brokerDatas) {
    const addr = bd.brokerAddrs["0"];
    if (!addr) continue;
    const res = await admin.api.call(
      addr,
      RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
      { topic, group, timestamp, isForce: force },
      undefined,
      { ok: [ResponseCode.SUCCESS, ResponseCode.CONSUMER_NOT_ONLINE, ResponseCode.SYSTEM_ERROR] },
    );
    // SYSTEM_ERROR "…group … not exist": some queue has no committed offset (the group
    // never consumed it). The per-queue procedure below handles that; other errors stand.
    if (res.code === ResponseCode.SYSTEM_ERROR && !/not exist/i.test(res.remark ?? "")) {
      throw new BrokerError(res.code, res.remark, addr, "INVOKE_BROKER_TO_RESET_OFFSET");
    }
    if (res.code === ResponseCode.SUCCESS) {
      const text = res.body?.toString("utf8") ?? "{}";
      const i = text.indexOf('"offsetTable"');
      if (i < 0) continue;
      for (const [mq, offset] of decodeObjectKeyMap<MessageQueue, number>(
        text.slice(text.indexOf(":", i) + 1),
      )) {
        out.push({ brokerName: mq.brokerName, queueId: mq.queueId, offset });
      }
      continue;
    }
    const qd = route.queueDatas.find((q) => q.brokerName === bd.brokerName);
    const plan: Array<{ mq: MessageQueue; committed: number }> = [];
    for (let queueId = 0; queueId < (qd?.writeQueueNums ?? 0); queueId++) {
      const mq: MessageQueue = { topic, brokerName: bd.brokerName, queueId };
      plan.push({ mq, committed: await admin.queryConsumerOffset(addr, group, mq) });
    }
    // A group with no offset at all on this broker is not one to reset (nor to create).
    if (plan.every((p) => p.committed < 0)) {
      throw new BrokerError(res.code, res.remark, addr, "INVOKE_BROKER_TO_RESET_OFFSET");
    }
    for (const { mq, committed } of plan) {
      const target = Math.max(
        0,
        timestamp === -1 ? await admin.getMaxOffset(addr, mq) : await admin.searchOffset(addr, mq, timestamp),
      );
      // As Java's old procedure, a queue without a committed offset counts as offset 0.
      const next = force || target < Math.max(0, committed) ? target : Math.max(0, committed);
      await admin.updateConsumerOffset(addr, group, mq, next);
      out.push({ brokerName: mq.brokerName, queueId: mq.queueId, offset: next });
    }
  }
  return out.sort((a, b) =>
    a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : a.queueId - b.queueId,
  );
}
