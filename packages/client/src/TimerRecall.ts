import { RequestCode } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import type { SendCore } from "./SendCore.js";

/**
 * RECALL_MESSAGE (RocketMQ 5.3) to the broker the handle names: the pending timer message
 * is never delivered. Resolves to its message id; a handle of a message already delivered
 * or unknown is refused by the broker (BrokerError, ILLEGAL_OPERATION 604).
 */
export async function recallTimerMessage(
  core: SendCore,
  topic: string,
  recallHandle: string,
): Promise<string> {
  if (typeof recallHandle !== "string" || recallHandle === "") {
    throw new ClientError("recallMessage needs the recallHandle a timer message's send returned");
  }
  const items = Buffer.from(recallHandle, "base64url").toString("utf8").split(" ");
  if (items[0] !== "v1" || items.length < 5) throw new ClientError(`not a recall handle: ${recallHandle}`);
  const brokerName = items[2]!;
  await core.publishQueues(topic);
  const addr = core.brokerAddr({ topic, brokerName, queueId: 0 });
  const res = await core.instance.api.call(
    addr,
    RequestCode.RECALL_MESSAGE,
    { producerGroup: core.options.group, topic, recallHandle },
    undefined,
    { timeoutMs: core.options.sendMsgTimeout, what: `recall of a timer message on ${topic}` },
  );
  return String(res.extFields?.msgId ?? items[4]);
}
