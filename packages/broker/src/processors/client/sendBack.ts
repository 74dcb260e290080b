import {
  ConsumerSendMsgBackRequestHeader,
  decodeHeader,
  decodeMessage,
  isWriteable,
  MessageConst,
  type MessageExt,
  type RemotingCommand,
  ResponseCode,
  toStorableIPv4,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { maxReconsumeTimes } from "../../SubscriptionGroupManager.js";
import { dlqTopic, retryTopic } from "../../TopicValidator.js";
import { fail } from "../responses.js";
import { type ClientProcessorDeps, ok } from "./common.js";
import { DeadLetterLog } from "./DeadLetterLog.js";

/** One dead-letter log per broker (keyed by its logger): a line a minute with counts, not one per message. */
const deadLetterLogs = new WeakMap<object, DeadLetterLog>();
function deadLetterLog(logger: ClientProcessorDeps["ctx"]["logger"]): DeadLetterLog {
  let l = deadLetterLogs.get(logger);
  if (!l) {
    l = new DeadLetterLog(logger);
    deadLetterLogs.set(logger, l);
  }
  return l;
}

export type SendBackTarget =
  | { kind: "DLQ"; topic: string }
  | { kind: "RETRY"; topic: string; delayLevel: number };

/**
 * Where a failed message goes (spec §4.11 step 5): to the group's DLQ when it was
 * reconsumed `maxReconsumeTimes` times already or the client asks for it (delayLevel < 0);
 * else back to the retry topic with delay level `delayLevel`, or 3 + reconsumeTimes when
 * the client leaves it to the broker (0), clamped to the highest configured level.
 */
export function sendBackTarget(
  group: string,
  reconsumeTimes: number,
  requestedDelayLevel: number,
  maxReconsumeTimes: number,
  delayLevelCount: number,
): SendBackTarget {
  if (reconsumeTimes >= maxReconsumeTimes || requestedDelayLevel < 0)
    return { kind: "DLQ", topic: dlqTopic(group) };
  const level = requestedDelayLevel === 0 ? 3 + reconsumeTimes : requestedDelayLevel;
  return {
    kind: "RETRY",
    topic: retryTopic(group),
    delayLevel: Math.max(1, Math.min(level, delayLevelCount)),
  };
}

/** Properties of the copy (spec §4.11 step 6). */
export function sendBackProperties(old: MessageExt, target: SendBackTarget): Record<string, string> {
  const props: Record<string, string> = { ...old.properties };
  if (!props[MessageConst.RETRY_TOPIC]) props[MessageConst.RETRY_TOPIC] = old.topic;
  props[MessageConst.WAIT_STORE_MSG_OK] = "false";
  if (!props[MessageConst.ORIGIN_MESSAGE_ID]) props[MessageConst.ORIGIN_MESSAGE_ID] = old.msgId;
  if (target.kind === "RETRY") props[MessageConst.DELAY_TIME_LEVEL] = String(target.delayLevel);
  // A DLQ copy is parked at once: drop a DELAY left over from an earlier retry.
  else delete props[MessageConst.DELAY_TIME_LEVEL];
  return props;
}

/**
 * CONSUMER_SEND_MSG_BACK (36), spec §4.11. The copy is stored straight into
 * `%RETRY%<group>` (or `%DLQ%<group>`) with the DELAY property set, parked in
 * SCHEDULE_TOPIC_XXXX until that level's delay has passed (schedule/DelayLevelRouter).
 */
export async function consumerSendMsgBack(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(ConsumerSendMsgBackRequestHeader, request.extFields, "CONSUMER_SEND_MSG_BACK");
  const { ctx } = deps;
  const group = deps.groups.findOrCreate(h.group);
  if (!group) {
    fail(
      ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
      `subscription group not exist, ${h.group} (autoCreateSubscriptionGroup is off: create it first)`,
    );
  }
  if (!isWriteable(ctx.config.brokerPermission)) {
    fail(ResponseCode.NO_PERMISSION, `the broker[${ctx.config.brokerIP1}] sending message is forbidden`);
  }
  if (group.retryQueueNums <= 0) return ok(request);

  const record = h.offset >= 0 ? await ctx.store.lookMessageByOffset(h.offset) : undefined;
  if (!record) fail(ResponseCode.SYSTEM_ERROR, `look message by offset failed, ${h.offset}`);
  const old = decodeMessage(record);

  const levels =
    ctx.schedule?.router.levelCount ??
    ctx.config.messageDelayLevel.split(/\s+/).filter((s) => s.length > 0).length;
  const target = sendBackTarget(
    h.group,
    old.reconsumeTimes,
    h.delayLevel,
    maxReconsumeTimes(request.version, h.maxReconsumeTimes, group),
    Math.max(1, levels),
  );
  const queueNums = target.kind === "DLQ" ? 1 : group.retryQueueNums;
  const topicConfig = await ctx.topics.ensureSystemTopic(target.topic, queueNums, 6);
  if (!isWriteable(topicConfig.perm)) {
    fail(ResponseCode.NO_PERMISSION, `the topic[${target.topic}] sending message is forbidden`);
  }
  const queueId = Math.floor(Math.random() * Math.max(1, Math.min(queueNums, topicConfig.writeQueueNums)));
  const properties = sendBackProperties(old, target);
  const input: MessageInput = {
    topic: target.topic,
    queueId,
    flag: old.flag,
    body: old.body,
    properties,
    sysFlag: old.sysFlag,
    bornTimestamp: old.bornTimestamp,
    bornHost: { host: toStorableIPv4(old.bornHost.host), port: old.bornHost.port },
    reconsumeTimes: old.reconsumeTimes + 1,
    preparedTransactionOffset: old.preparedTransactionOffset,
  };
  // The retry copy waits its back-off level in SCHEDULE_TOPIC_XXXX; a DLQ copy is stored as is.
  if (target.kind === "RETRY") ctx.schedule?.router.routeRetry(input);
  const result = await ctx.store.putMessage(input);
  ctx.stats.recordPut(1);
  ctx.traffic?.recordIn(target.topic, 1, old.body.length);
  if (target.kind === "DLQ") {
    deadLetterLog(ctx.logger).moved(old.msgId, h.group, target.topic, old.reconsumeTimes);
  }
  // Java answers anything but PUT_OK with the status name (the copy may still be stored).
  if (result.status !== "PUT_OK") fail(ResponseCode.SYSTEM_ERROR, result.status);
  return ok(request);
}
