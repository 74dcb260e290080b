/**
 * One handler per `tidemq admin` subcommand: asks the cluster (what spec §6.9 says mqadmin
 * sends) and returns both the text table and the JSON document; the caller prints one.
 */
import {
  type Admin,
  compareQueues,
  type MessageQueue,
  type MessageView,
  Producer,
  PullConsumer,
} from "@tidemq/client";
import { decodeOffsetMsgId, formatHostPort, type MessageExt } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { intOption, nameOption, optionalInt, parseTimestamp, UsageError } from "./args.js";
import { brokerStatus, getBrokerConfigCmd, updateBrokerConfigCmd } from "./brokerHandlers.js";
import { AdminCallError, MAX_WALK } from "./calls.js";
import { clusterList, transferLeader } from "./clusterHandlers.js";
import { consumerConnection, producerConnection } from "./connectionHandlers.js";
import { consumerProgress } from "./consumerProgressHandlers.js";
import { consumeMessageDirectly, consumerStatus } from "./consumerStatusHandlers.js";
import { DLEDGER_MEMBERSHIP_HANDLERS } from "./dledgerMembership.js";
import { resetOffsetByTimeCmd } from "./resetOffsetHandlers.js";
import { SCHEDULE_HANDLERS } from "./scheduleCommands.js";
import { deleteSubGroup, updateSubGroup } from "./subscriptionGroupHandlers.js";
import { bodyForDisplay, formatTable, formatTime, sortBy } from "./table.js";
import { timerStatus } from "./timer.js";
import { deleteTopic, topicList, topicRoute, topicStatus, updateTopic } from "./topicHandlers.js";
import { queryMsgTraceById } from "./traceHandlers.js";
import { findHalfById, transactionSection, transactionStatusCmd } from "./transactionHandlers.js";
import { messageDetail, messageJson } from "./views.js";

export interface AdminContext {
  admin: Admin;
  /** The NameServer addresses of -n, as a list. */
  nameServers: string[];
  /** Option values by short flag. */
  values: Record<string, string>;
  /** Logger handed to the clients this command starts (silent unless --debug). */
  logger: Logger;
}

export interface Output {
  text: string;
  json: unknown;
}

export type Handler = (ctx: AdminContext) => Promise<Output>;

const TOOLS_PRODUCER = "TOOLS_PRODUCER";
const TOOLS_CONSUMER = "TOOLS_CONSUMER";

function queueIdOption(values: Record<string, string>): number | undefined {
  if (values.i !== undefined && values.q !== undefined) throw new UsageError("give -i or -q, not both");
  return optionalInt(values, values.i !== undefined ? "i" : "q", 0, 65535);
}

// ---------------------------------------------------------------- messages

/** Which groups consumed a message, from its store broker (mqadmin's "message track"). */
async function messageTrack(
  admin: Admin,
  m: MessageExt,
): Promise<Array<{ consumerGroup: string; trackType: string }>> {
  const addr = formatHostPort(m.storeHost);
  const out: Array<{ consumerGroup: string; trackType: string }> = [];
  for (const g of (await admin.queryTopicConsumeByWho(addr, m.topic)).slice(0, MAX_WALK)) {
    const stats = await admin.getConsumeStatsOnBroker(addr, g, m.topic);
    const committed = stats.queues.find((q) => q.mq.queueId === m.queueId)?.consumerOffset;
    const trackType =
      committed === undefined ? "UNKNOWN" : committed > m.queueOffset ? "CONSUMED" : "NOT_CONSUME_YET";
    out.push({ consumerGroup: g, trackType });
  }
  return out;
}

async function showMessage(admin: Admin, m: MessageExt): Promise<Output> {
  const json = messageJson(m);
  let trackText: string;
  let track: Array<{ consumerGroup: string; trackType: string }> | { error: string };
  try {
    const t = await messageTrack(admin, m);
    track = t;
    trackText =
      t.length === 0
        ? "WARN: No Consumer"
        : formatTable(
            ["#ConsumerGroup", "#TrackType"],
            t.map((x) => [x.consumerGroup, x.trackType]),
          );
  } catch (err) {
    // As mqadmin: the track is extra; its failure is printed, not fatal.
    track = { error: (err as Error).message };
    trackText = `track unavailable: ${(err as Error).message}`;
  }
  let text = `${messageDetail(json)}\n\n${trackText}`;
  const extra: Record<string, unknown> = {};
  const tx = await transactionSection(admin, m);
  if (tx) {
    text += `\n${tx.text}`;
    extra.transaction = tx.json;
  }
  return { text, json: { ...json, track, ...extra } };
}

const queryMsgById: Handler = async ({ admin, values }) => {
  const id = values.i!.trim();
  const topic = values.t === undefined ? undefined : nameOption(values, "t", "topic");
  let offsetIdError: Error | undefined;
  try {
    decodeOffsetMsgId(id);
    return await showMessage(admin, await admin.viewMessage(id));
  } catch (err) {
    offsetIdError = err as Error;
  }
  // RocketMQ 5 behaviour: with -t, an id that is not an offset id (or is unknown) is a client id.
  if (topic) {
    const found = await admin.queryMessage(topic, id, { uniqueKey: true, maxNum: 32 });
    if (found.length > 0) return showMessage(admin, found[0]!);
    const half = await findHalfById(admin, topic, id);
    if (half) return showMessage(admin, half);
    throw new AdminCallError(`no message with id ${id} in topic ${topic}`);
  }
  throw new AdminCallError(
    `${offsetIdError.message}; for a client message id (UNIQ_KEY) also pass -t <topic>`,
  );
};

const queryMsgByKey: Handler = async ({ admin, values }) => {
  const topic = nameOption(values, "t", "topic");
  const key = values.k!;
  const begin = values.b === undefined ? 0 : parseTimestamp(values.b);
  const end = values.e === undefined ? Number.MAX_SAFE_INTEGER : parseTimestamp(values.e);
  const found = await admin.queryMessage(topic, key, { begin, end, maxNum: 64 });
  const rows = sortBy(found.map(messageJson), (m) => m.storeTimestamp);
  return {
    text: formatTable(
      ["#Message ID", "#QID", "#Offset", "#Offset Msg ID", "#Store Time"],
      rows.map((m) => [m.msgId, m.queueId, m.queueOffset, m.offsetMsgId, formatTime(m.storeTimestamp)]),
      [1, 2],
    ),
    json: rows,
  };
};

async function withPullConsumer<T>(
  ctx: AdminContext,
  group: string,
  f: (c: PullConsumer) => Promise<T>,
): Promise<T> {
  const consumer = new PullConsumer({
    namesrvAddr: ctx.nameServers,
    consumerGroup: group,
    logger: ctx.logger,
  });
  await consumer.startup();
  try {
    return await f(consumer);
  } finally {
    await consumer.shutdown();
  }
}

function pickQueue(queues: MessageQueue[], topic: string, brokerName: string, queueId: number): MessageQueue {
  const mq = queues.find((q) => q.brokerName === brokerName && q.queueId === queueId);
  if (!mq) {
    const known = queues.map((q) => `${q.brokerName}:${q.queueId}`).join(", ") || "none";
    throw new AdminCallError(
      `topic ${topic} has no readable queue ${brokerName}:${queueId} (queues: ${known})`,
    );
  }
  return mq;
}

const queryMsgByOffset: Handler = async (ctx) => {
  const { admin, values } = ctx;
  const topic = nameOption(values, "t", "topic");
  const brokerName = values.b!;
  const queueId = queueIdOption(values)!;
  const offset = intOption(values, "o", 0, 0, Number.MAX_SAFE_INTEGER);
  const view = await withPullConsumer(ctx, TOOLS_CONSUMER, async (c) => {
    const mq = pickQueue(await c.fetchQueues(topic), topic, brokerName, queueId);
    const r = await c.pull(mq, offset, 1);
    const first = r.messages[0];
    if (!first || first.queueOffset !== offset) {
      throw new AdminCallError(
        `no message at offset ${offset} of ${topic} ${brokerName}:${queueId} (the queue holds ${r.minOffset}…${r.maxOffset - 1})`,
      );
    }
    return first;
  });
  return showMessage(admin, await admin.viewMessage(view.offsetMessageId));
};

const sendMessage: Handler = async ({ nameServers, values, logger }) => {
  const topic = nameOption(values, "t", "topic");
  const queueId = queueIdOption(values);
  if ((values.b === undefined) !== (queueId === undefined)) {
    throw new UsageError("give -b <broker name> and -i <queue id> together, or neither");
  }
  const producer = new Producer({ namesrvAddr: nameServers, producerGroup: TOOLS_PRODUCER, logger });
  await producer.startup();
  try {
    const receipt = await producer.send(
      { topic, body: values.p!, keys: values.k?.split(/\s+/).filter(Boolean), tag: values.c },
      queueId === undefined ? undefined : { queue: { topic, brokerName: values.b!, queueId } },
    );
    const json = {
      brokerName: receipt.messageQueue.brokerName,
      queueId: receipt.messageQueue.queueId,
      sendStatus: receipt.sendStatus,
      msgId: receipt.messageId,
      offsetMsgId: receipt.offsetMessageId,
      queueOffset: receipt.queueOffset,
      brokerAddr: receipt.brokerAddr,
    };
    return {
      text: formatTable(
        ["#Broker Name", "#QID", "#Send Result", "#MsgId", "#Offset Msg ID", "#Queue Offset"],
        [[json.brokerName, json.queueId, json.sendStatus, json.msgId, json.offsetMsgId, json.queueOffset]],
      ),
      json,
    };
  } finally {
    await producer.shutdown();
  }
};

const consumeMessage: Handler = async (ctx) => {
  const { values } = ctx;
  const topic = nameOption(values, "t", "topic");
  const queueId = queueIdOption(values);
  const startOffset = optionalInt(values, "o", 0, Number.MAX_SAFE_INTEGER);
  const begin = values.s === undefined ? undefined : parseTimestamp(values.s);
  const end = values.e === undefined ? undefined : parseTimestamp(values.e);
  const limit = intOption(values, "c", 128, 1, 100_000);
  const group = values.g === undefined ? TOOLS_CONSUMER : nameOption(values, "g", "group");
  const deadline = Date.now() + 60_000;
  const got: MessageView[] = [];
  await withPullConsumer(ctx, group, async (c) => {
    const queues = (await c.fetchQueues(topic))
      .filter((q) => values.b === undefined || q.brokerName === values.b)
      .filter((q) => queueId === undefined || q.queueId === queueId)
      .sort(compareQueues);
    if (queues.length === 0)
      throw new AdminCallError(`topic ${topic} has no readable queue matching -b / -i`);
    for (const mq of queues) {
      let offset =
        startOffset ?? (begin !== undefined ? await c.searchOffset(mq, begin) : await c.minOffset(mq));
      const max = await c.maxOffset(mq);
      // Each pull advances the offset or ends the loop; the count and the deadline bound it too.
      while (offset < max && got.length < limit && Date.now() < deadline) {
        const r = await c.pull(mq, offset, Math.min(32, limit - got.length));
        for (const m of r.messages) {
          if (end !== undefined && m.storeTimestamp.getTime() > end) break;
          got.push(m);
        }
        if (end !== undefined && r.messages.some((m) => m.storeTimestamp.getTime() > end)) break;
        if (r.nextBeginOffset <= offset) break;
        offset = r.nextBeginOffset;
      }
      if (got.length >= limit) break;
    }
  });
  const json = got.slice(0, limit).map((m) => {
    const body = bodyForDisplay(m.body);
    return {
      brokerName: m.messageQueue.brokerName,
      queueId: m.queueId,
      queueOffset: m.queueOffset,
      msgId: m.messageId,
      offsetMsgId: m.offsetMessageId,
      tag: m.tag ?? null,
      keys: m.keys,
      storeTimestamp: m.storeTimestamp.getTime(),
      bornTimestamp: m.bornTimestamp.getTime(),
      body: body.text,
      bodyEncoding: body.encoding,
    };
  });
  return {
    text: formatTable(
      ["#Broker Name", "#QID", "#Offset", "#MsgId", "#Tag", "#Keys", "#Store Time", "#Body"],
      json.map((m) => [
        m.brokerName,
        m.queueId,
        m.queueOffset,
        m.msgId,
        m.tag ?? "",
        m.keys.join(" "),
        formatTime(m.storeTimestamp),
        m.bodyEncoding === "utf8" ? m.body : `base64:${m.body}`,
      ]),
      [1, 2],
    ),
    json,
  };
};

export const HANDLERS: Record<string, Handler> = {
  clusterList,
  transferLeader,
  ...DLEDGER_MEMBERSHIP_HANDLERS,
  topicList,
  topicRoute,
  topicStatus,
  updateTopic,
  deleteTopic,
  updateSubGroup,
  deleteSubGroup,
  consumerProgress,
  consumerConnection,
  producerConnection,
  queryMsgById,
  queryMsgByKey,
  queryMsgByOffset,
  resetOffsetByTime: resetOffsetByTimeCmd,
  sendMessage,
  consumeMessage,
  brokerStatus,
  getBrokerConfig: getBrokerConfigCmd,
  updateBrokerConfig: updateBrokerConfigCmd,
  ...SCHEDULE_HANDLERS,
  timerStatus,
  transactionStatus: transactionStatusCmd,
  queryMsgTraceById,
  consumerStatus,
  consumeMessageDirectly,
};
