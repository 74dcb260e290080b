import {
  createRequest,
  DeleteSubscriptionGroupRequestHeader,
  decodeHeader,
  encodeJson,
  encodeObjectKeyMap,
  GetConsumerConnectionListRequestHeader,
  GetConsumeStatsRequestHeader,
  GetProducerConnectionListRequestHeader,
  type MessageQueue,
  QueryTopicConsumeByWhoRequestHeader,
  type RemotingCommand,
  RequestCode,
  ResetOffsetRequestHeader,
  ResponseCode,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { ChannelInfo } from "../../ConsumerManager.js";
import { refuseMetadataChangeOnSlave } from "../../ha/slaveGuard.js";
import { normalizeSubscriptionGroupConfig } from "../../SubscriptionGroupManager.js";
import { fail } from "../responses.js";
import { type ClientProcessorDeps, clientAddr, decodeJsonBody, ok } from "./common.js";

/** Clients below V3_0_7_SNAPSHOT cannot take RESET_CONSUMER_CLIENT_OFFSET (spec §1.7). */
const VERSION_V3_0_7_SNAPSHOT = 28;
/** Topics per GET_CONSUME_STATS answer (a limit on the body size). */
const MAX_STATS_TOPICS = 10_000;

function connectionSet(channels: Map<Connection, ChannelInfo>) {
  return [...channels].map(([conn, info]) => ({
    clientAddr: clientAddr(conn),
    clientId: info.clientId,
    language: info.language,
    version: info.version,
  }));
}

/**
 * GET_CONSUMER_CONNECTION_LIST (203), spec §6.5, plus `subscriptionConflicts`: the ways
 * the group's consumers subscribe differently (Java tools ignore the extra field).
 */
export function getConsumerConnectionList(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(
    GetConsumerConnectionListRequestHeader,
    request.extFields,
    "GET_CONSUMER_CONNECTION_LIST",
  );
  const group = deps.consumers.getGroup(h.consumerGroup);
  if (!group || group.channels.size === 0) {
    fail(ResponseCode.CONSUMER_NOT_ONLINE, `the consumer group[${h.consumerGroup}] not online`);
  }
  const body = {
    connectionSet: connectionSet(group.channels),
    consumeFromWhere: group.consumeFromWhere,
    consumeType: group.consumeType,
    messageModel: group.messageModel,
    subscriptionTable: Object.fromEntries(group.subscriptions),
    subscriptionConflicts: deps.consumers.conflicts(h.consumerGroup),
  };
  return ok(request, undefined, encodeJson(body));
}

/** GET_PRODUCER_CONNECTION_LIST (204). */
export function getProducerConnectionList(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(
    GetProducerConnectionListRequestHeader,
    request.extFields,
    "GET_PRODUCER_CONNECTION_LIST",
  );
  const channels = deps.producers.connections(h.producerGroup);
  if (!channels || channels.size === 0) {
    fail(ResponseCode.SYSTEM_ERROR, `the producer group[${h.producerGroup}] not exist`);
  }
  return ok(request, undefined, encodeJson({ connectionSet: connectionSet(channels) }));
}

/**
 * GET_CONSUME_STATS (208), spec §6.4: per readable queue the broker's max offset, the
 * group's committed offset and the store time of the last consumed message, in the
 * object-key form Java tools parse. consumeTps comes from committed-offset progress
 * over the last minute.
 */
export async function getConsumeStats(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(GetConsumeStatsRequestHeader, request.extFields, "GET_CONSUME_STATS");
  const { ctx, offsets, consumers } = deps;
  const group = h.consumerGroup;
  const topics = (h.topic ? [h.topic] : offsets.topicsOfGroup(group)).slice(0, MAX_STATS_TOPICS);
  const online = consumers.getGroup(group);
  const entries: Array<
    [MessageQueue, { brokerOffset: number; consumerOffset: number; lastTimestamp: number }]
  > = [];
  let consumeTps = 0;
  for (const topic of topics) {
    const tc = ctx.topics.get(topic);
    if (!tc) continue;
    // An online group that does not subscribe the topic any more: its old offsets are noise.
    if (online && online.subscriptions.size > 0 && !online.subscriptions.has(topic)) continue;
    for (let queueId = 0; queueId < tc.readQueueNums; queueId++) {
      const brokerOffset = Math.max(0, ctx.store.getMaxOffsetInQueue(topic, queueId));
      const consumerOffset = Math.max(0, offsets.query(group, topic, queueId));
      const lastTimestamp =
        consumerOffset > 0
          ? Math.max(0, await ctx.store.getMessageStoreTimestamp(topic, queueId, consumerOffset - 1))
          : 0;
      entries.push([
        { brokerName: ctx.config.brokerName, queueId, topic },
        { brokerOffset, consumerOffset, lastTimestamp },
      ]);
    }
    consumeTps += offsets.consumeTps(group, topic);
  }
  const body = `{"consumeTps":${JSON.stringify(consumeTps)},"offsetTable":${encodeObjectKeyMap(entries)}}`;
  return ok(request, undefined, Buffer.from(body, "utf8"));
}

/** QUERY_TOPIC_CONSUME_BY_WHO (300), spec §6.8: online subscribers ∪ groups with offsets. */
export function queryTopicConsumeByWho(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(
    QueryTopicConsumeByWhoRequestHeader,
    request.extFields,
    "QUERY_TOPIC_CONSUME_BY_WHO",
  );
  const groups = new Set<string>();
  for (const g of deps.consumers.groups()) if (g.subscriptions.has(h.topic)) groups.add(g.group);
  for (const g of deps.offsets.groupsOfTopic(h.topic)) groups.add(g);
  return ok(request, undefined, encodeJson({ groupList: [...groups].sort() }));
}

/**
 * INVOKE_BROKER_TO_RESET_OFFSET (222), spec §6.7. With consumers online the broker
 * tells each of them (RESET_CONSUMER_CLIENT_OFFSET) and the consumers commit, as in
 * RocketMQ. Unlike RocketMQ, with no consumer online the broker writes the new offsets
 * itself and answers SUCCESS instead of CONSUMER_NOT_ONLINE, so the reset is not lost
 * whatever tool sent it; the group's consumers start from there when they come back.
 */
export async function invokeBrokerToResetOffset(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(ResetOffsetRequestHeader, request.extFields, "INVOKE_BROKER_TO_RESET_OFFSET");
  const { ctx, offsets, consumers } = deps;
  const tc = ctx.topics.get(h.topic);
  if (!tc) {
    fail(
      ResponseCode.SYSTEM_ERROR,
      `[reset-offset] reset offset failed, no topic in this broker. topic=${h.topic}`,
    );
  }
  const single = h.queueId !== undefined && h.queueId >= 0;
  const queueIds = single ? [h.queueId!] : [...Array(tc.writeQueueNums).keys()];
  const table: Array<[MessageQueue, number]> = [];
  for (const queueId of queueIds) {
    const committed = offsets.query(h.group, h.topic, queueId);
    if (committed < 0) fail(ResponseCode.SYSTEM_ERROR, `THe consumer group <${h.group}> not exist`);
    let target: number;
    if (single && h.offset !== undefined) target = h.offset;
    else if (h.timestamp === -1) target = ctx.store.getMaxOffsetInQueue(h.topic, queueId);
    else target = await ctx.store.getOffsetInQueueByTime(h.topic, queueId, h.timestamp);
    if (target < 0) target = 0;
    const next = h.isForce || target < committed ? target : committed;
    table.push([{ brokerName: ctx.config.brokerName, queueId, topic: h.topic }, next]);
  }
  const body = Buffer.from(`{"offsetTable":${encodeObjectKeyMap(table)}}`, "utf8");
  const channels = [...(consumers.getGroup(h.group)?.channels ?? [])].filter(([conn]) => !conn.closed);
  if (channels.length === 0) {
    for (const [mq, offset] of table) offsets.commit(h.group, mq.topic, mq.queueId, offset);
    await offsets.persist();
    ctx.logger.info(
      `reset offsets of ${h.group} on ${h.topic} with no consumer online: written by the broker`,
      { group: h.group, topic: h.topic },
    );
    return ok(request, undefined, body);
  }
  const old = channels.find(([, info]) => info.version < VERSION_V3_0_7_SNAPSHOT);
  if (old) {
    fail(
      ResponseCode.SYSTEM_ERROR,
      `the client does not support this feature. version=${old[1].version} client=${old[1].clientId}`,
    );
  }
  const notice = createRequest(
    RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
    { topic: h.topic, group: h.group, timestamp: h.timestamp, isForce: false },
    body,
    { oneway: true },
  );
  for (const [conn, info] of channels) {
    conn.invokeOneway(notice).catch((err: Error) => {
      ctx.logger.warn(`reset offset notice to ${info.clientId} failed: ${err.message}`);
    });
  }
  return ok(request, undefined, body);
}

/** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body = SubscriptionGroupConfig. */
export async function updateAndCreateSubscriptionGroup(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  refuseMetadataChangeOnSlave(deps.ctx.config, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP");
  const config = normalizeSubscriptionGroupConfig(
    decodeJsonBody<unknown>(request.body, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body"),
  );
  await deps.groups.upsert(config);
  deps.ctx.logger.info(`subscription group ${config.groupName} updated: ${JSON.stringify(config)}`);
  return ok(request);
}

/** GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): `{"subscriptionGroupTable":{…},"dataVersion":{…}}`. */
export function getAllSubscriptionGroupConfig(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  return ok(request, undefined, Buffer.from(deps.groups.encode(), "utf8"));
}

/** DELETE_SUBSCRIPTIONGROUP (207); `cleanOffset` (5.x) also drops the group's offsets. */
export async function deleteSubscriptionGroup(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  refuseMetadataChangeOnSlave(deps.ctx.config, "DELETE_SUBSCRIPTIONGROUP");
  const h = decodeHeader(DeleteSubscriptionGroupRequestHeader, request.extFields, "DELETE_SUBSCRIPTIONGROUP");
  await deps.groups.delete(h.groupName, h.cleanOffset === true);
  if (h.cleanOffset) {
    deps.offsets.removeGroup(h.groupName);
    await deps.offsets.persist();
  }
  deps.ctx.logger.info(
    `subscription group ${h.groupName} deleted${h.cleanOffset ? " with its offsets" : ""}`,
  );
  return ok(request);
}
