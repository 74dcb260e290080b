/**
 * Sending and reading messages from `tidemq admin`: sendMessage (one message through the tools'
 * producer) and consumeMessage (pull and print messages of a topic, by queue, offset or time).
 */
import { compareQueues, type MessageView, Producer } from "@tidemq/client";
import { intOption, nameOption, optionalInt, parseTimestamp, queueIdOption, UsageError } from "./args.js";
import { AdminCallError } from "./calls.js";
import type { Handler } from "./handlers.js";
import { bodyForDisplay, formatTable, formatTime } from "./table.js";
import { TOOLS_CONSUMER, TOOLS_PRODUCER, withPullConsumer } from "./toolClients.js";

export const sendMessage: Handler = async ({ nameServers, values, logger }) => {
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

export const consumeMessage: Handler = async (ctx) => {
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
