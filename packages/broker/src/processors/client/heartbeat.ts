import {
  type ConsumerData,
  decodeHeader,
  encodeJson,
  GetConsumerListByGroupRequestHeader,
  type HeartbeatData,
  type RemotingCommand,
  ResponseCode,
  type SubscriptionData,
  UnregisterClientRequestHeader,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import { MAX_SUBSCRIPTIONS_PER_GROUP } from "../../ConsumerManager.js";
import { sqlFilterOf } from "../../SubscriptionFilter.js";
import { validateGroupName } from "../../SubscriptionGroupManager.js";
import { retryTopic } from "../../TopicValidator.js";
import { fail } from "../responses.js";
import { type ClientProcessorDeps, clientAddr, decodeJsonBody, ok } from "./common.js";

/** Limits on one heartbeat body. */
const MAX_GROUPS_PER_HEARTBEAT = 1_000;
const MAX_CLIENT_ID_LENGTH = 512;
const CONSUME_TYPES = new Set(["CONSUME_PASSIVELY", "CONSUME_ACTIVELY", "CONSUME_POP"]);
const MESSAGE_MODELS = new Set(["CLUSTERING", "BROADCASTING"]);

/** Checks a HeartbeatData body (spec §4.4) and returns it with defaults filled in. */
function parseHeartbeat(body: Buffer | undefined): HeartbeatData {
  const raw = decodeJsonBody<unknown>(body, "HEART_BEAT body");
  if (typeof raw !== "object" || raw === null)
    fail(ResponseCode.SYSTEM_ERROR, "HEART_BEAT body is not an object");
  const r = raw as Record<string, unknown>;
  const clientID = r.clientID;
  if (typeof clientID !== "string" || clientID.length === 0 || clientID.length > MAX_CLIENT_ID_LENGTH) {
    fail(ResponseCode.SYSTEM_ERROR, "HEART_BEAT body: clientID is missing or not a string");
  }
  const producers = arrayField(r.producerDataSet, "producerDataSet");
  const consumers = arrayField(r.consumerDataSet, "consumerDataSet");
  if (producers.length + consumers.length > MAX_GROUPS_PER_HEARTBEAT) {
    fail(ResponseCode.SYSTEM_ERROR, `HEART_BEAT body: more than ${MAX_GROUPS_PER_HEARTBEAT} groups`);
  }
  const producerDataSet = producers.map((p) => {
    const groupName = (p as { groupName?: unknown } | null)?.groupName;
    if (typeof groupName !== "string")
      fail(ResponseCode.SYSTEM_ERROR, "HEART_BEAT body: a producer lacks groupName");
    validateGroupName(groupName);
    return { groupName };
  });
  const consumerDataSet = consumers.map((c) => parseConsumerData(c));
  return { clientID, producerDataSet, consumerDataSet };
}

function arrayField(v: unknown, name: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(ResponseCode.SYSTEM_ERROR, `HEART_BEAT body: ${name} is not an array`);
  return v;
}

function parseConsumerData(raw: unknown): ConsumerData {
  if (typeof raw !== "object" || raw === null)
    fail(ResponseCode.SYSTEM_ERROR, "HEART_BEAT body: bad consumer data");
  const c = raw as Record<string, unknown>;
  if (typeof c.groupName !== "string")
    fail(ResponseCode.SYSTEM_ERROR, "HEART_BEAT body: a consumer lacks groupName");
  validateGroupName(c.groupName);
  const consumeType = CONSUME_TYPES.has(c.consumeType as string)
    ? (c.consumeType as ConsumerData["consumeType"])
    : undefined;
  const messageModel = MESSAGE_MODELS.has(c.messageModel as string)
    ? (c.messageModel as ConsumerData["messageModel"])
    : undefined;
  if (!consumeType || !messageModel) {
    fail(
      ResponseCode.SYSTEM_ERROR,
      `HEART_BEAT body: consumer group ${c.groupName} has a bad consumeType or messageModel`,
    );
  }
  const subs = arrayField(c.subscriptionDataSet, "subscriptionDataSet");
  if (subs.length > MAX_SUBSCRIPTIONS_PER_GROUP) {
    fail(
      ResponseCode.SYSTEM_ERROR,
      `HEART_BEAT body: more than ${MAX_SUBSCRIPTIONS_PER_GROUP} subscriptions`,
    );
  }
  return {
    groupName: c.groupName,
    consumeType,
    messageModel,
    consumeFromWhere:
      typeof c.consumeFromWhere === "string" ? c.consumeFromWhere : "CONSUME_FROM_LAST_OFFSET",
    unitMode: c.unitMode === true,
    subscriptionDataSet: subs.map((s) => parseSubscriptionData(s, c.groupName as string)),
  };
}

function parseSubscriptionData(raw: unknown, group: string): SubscriptionData {
  if (typeof raw !== "object" || raw === null) {
    fail(ResponseCode.SYSTEM_ERROR, `subscription of group ${group} is not an object`);
  }
  const s = raw as Record<string, unknown>;
  if (typeof s.topic !== "string" || s.topic.length === 0) {
    fail(ResponseCode.SYSTEM_ERROR, `a subscription of group ${group} lacks its topic`);
  }
  const subVersion = Number(s.subVersion ?? 0);
  // A malformed SQL92 expression is refused here, with its position, not at every pull.
  if (typeof s.subString === "string") sqlFilterOf(s.subString, s.expressionType as string | undefined);
  return {
    topic: s.topic,
    subString: typeof s.subString === "string" ? s.subString : "*",
    tagsSet: Array.isArray(s.tagsSet) ? s.tagsSet.filter((t): t is string => typeof t === "string") : [],
    codeSet: Array.isArray(s.codeSet) ? s.codeSet.filter((t): t is number => Number.isInteger(t)) : [],
    subVersion: Number.isFinite(subVersion) ? subVersion : 0,
    classFilterMode: s.classFilterMode === true,
    ...(typeof s.expressionType === "string"
      ? { expressionType: s.expressionType as SubscriptionData["expressionType"] }
      : {}),
  };
}

/** HEART_BEAT (34), spec §4.4. */
export async function heartBeat(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
  conn: Connection,
): Promise<RemotingCommand | undefined> {
  const data = parseHeartbeat(request.body);
  const { ctx, consumers, producers } = deps;
  const client = { clientId: data.clientID, language: request.language, version: request.version };
  // Look every group up first, so one bad group rejects the whole heartbeat before any change.
  const consumerGroups = data.consumerDataSet.map((c) => ({
    data: c,
    config: deps.groups.findOrCreate(c.groupName),
  }));
  deps.watchConnection(conn);
  for (const { data: c, config } of consumerGroups) {
    if (config && c.messageModel === "CLUSTERING") {
      // The retry topic must exist for the consumer's route lookup of %RETRY%<group> (spec §12.3).
      try {
        await ctx.topics.ensureSystemTopic(retryTopic(c.groupName), config.retryQueueNums, 6);
      } catch (err) {
        // Registering the consumer matters more than its retry topic: keep going, say why.
        ctx.logger.error(`cannot create ${retryTopic(c.groupName)}: ${(err as Error).message}`);
      }
    }
    const outcome = consumers.register(conn, client, c);
    if (outcome.conflictsChanged) {
      ctx.logger.warn(
        `consumer group ${c.groupName} subscribes inconsistently, messages will be lost until fixed: ` +
          consumers
            .conflicts(c.groupName)
            .map((x) => x.description)
            .join("; "),
      );
    }
    if (outcome.newChannel || outcome.topicsChanged) {
      if (outcome.newChannel) {
        ctx.logger.info(`consumer ${data.clientID} (${clientAddr(conn)}) joined group ${c.groupName}`, {
          group: c.groupName,
        });
      }
      deps.notifyConsumerIdsChanged(c.groupName);
    }
  }
  for (const p of data.producerDataSet) {
    if (producers.register(conn, p.groupName, client)) {
      ctx.logger.debug(`producer ${data.clientID} (${clientAddr(conn)}) joined group ${p.groupName}`);
    }
  }
  // The connection may have closed while we awaited the retry topic: do not keep it.
  if (conn.closed) {
    deps.consumers.removeChannel(conn);
    deps.producers.removeChannel(conn);
  }
  return ok(request);
}

/** UNREGISTER_CLIENT (35), spec §4.5: removes this connection's registration. */
export function unregisterClient(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
  conn: Connection,
): RemotingCommand | undefined {
  const h = decodeHeader(UnregisterClientRequestHeader, request.extFields, "UNREGISTER_CLIENT");
  if (h.producerGroup) deps.producers.unregister(conn, h.producerGroup);
  if (h.consumerGroup && deps.consumers.unregister(conn, h.consumerGroup)) {
    deps.ctx.logger.info(`consumer ${h.clientID} (${clientAddr(conn)}) left group ${h.consumerGroup}`, {
      group: h.consumerGroup,
    });
    deps.notifyConsumerIdsChanged(h.consumerGroup);
  }
  return ok(request);
}

/** GET_CONSUMER_LIST_BY_GROUP (38), spec §4.6. */
export function getConsumerListByGroup(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(
    GetConsumerListByGroupRequestHeader,
    request.extFields,
    "GET_CONSUMER_LIST_BY_GROUP",
  );
  const ids = deps.consumers.clientIds(h.consumerGroup);
  if (ids.length === 0) fail(ResponseCode.SYSTEM_ERROR, `no consumer for this group, ${h.consumerGroup}`);
  return ok(request, undefined, encodeJson({ consumerIdList: ids }));
}

/** CHECK_CLIENT_CONFIG (46), spec §4.14. */
export function checkClientConfig(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const body = decodeJsonBody<{ group?: unknown; subscriptionData?: unknown }>(
    request.body,
    "CHECK_CLIENT_CONFIG body",
  );
  const group = typeof body.group === "string" ? body.group : "";
  const sub = parseSubscriptionData(body.subscriptionData, group);
  const type = sub.expressionType ?? "TAG";
  if (type === "TAG") return ok(request);
  if (type !== "SQL92") {
    fail(
      ResponseCode.SUBSCRIPTION_PARSE_FAILED,
      `unknown expression type ${type} (TAG and SQL92 are supported)`,
    );
  }
  if (!deps.ctx.config.enablePropertyFilter) {
    fail(
      ResponseCode.SYSTEM_ERROR,
      "The broker does not support consumer to filter message by SQL92: set enablePropertyFilter=true in broker.conf",
    );
  }
  sqlFilterOf(sub.subString, type);
  return ok(request);
}
