/**
 * Finding messages in `tidemq admin`: queryMsgById, queryMsgByKey and queryMsgByOffset, and the
 * detail they print for one message (its properties, which groups consumed it, its transaction).
 */
import type { Admin, MessageQueue } from "@tidemq/client";
import { decodeOffsetMsgId, formatHostPort, type MessageExt } from "@tidemq/protocol";
import { intOption, nameOption, parseTimestamp, queueIdOption } from "./args.js";
import { AdminCallError, MAX_WALK } from "./calls.js";
import type { Handler, Output } from "./handlers.js";
import { messageDetail, messageJson } from "./messageView.js";
import { formatTable, formatTime, sortBy } from "./table.js";
import { TOOLS_CONSUMER, withPullConsumer } from "./toolClients.js";
import { findHalfById, transactionSection } from "./transactionHandlers.js";

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

export const queryMsgById: Handler = async ({ admin, values }) => {
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

export const queryMsgByKey: Handler = async ({ admin, values }) => {
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

export const queryMsgByOffset: Handler = async (ctx) => {
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
