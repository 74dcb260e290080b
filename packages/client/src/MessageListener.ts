import type { MessageExt } from "@tidemq/protocol";
import { ConsumeResult } from "./ConsumeResult.js";
import type { ConsumeMessageDirectlyResult, DirectConsumeResult } from "./directConsume.js";
import { MessageView } from "./MessageView.js";

/** The push consumer's callback (rocketmq-client-nodejs' MessageListener). */
export interface MessageListener {
  /**
   * Handles one message. Return ConsumeResult.SUCCESS (or nothing) when done, FAILURE to have
   * it redelivered later; a throw counts as FAILURE.
   */
  consume(messageView: MessageView): ConsumeResult | undefined | Promise<ConsumeResult | undefined>;
}

/** What a listener call answered (a throw aside). */
export type ListenerOutcome = ConsumeResult | undefined;

/** The listener answered with a promise (or another thenable), not synchronously. */
export function isThenable(x: unknown): x is PromiseLike<ListenerOutcome> {
  return typeof (x as { then?: unknown } | null | undefined)?.then === "function";
}

/** SUCCESS, nothing, or another copy of ConsumeResult's SUCCESS (e.g. rocketmq-client-nodejs', compared by name). */
export function succeeded(r: ListenerOutcome): boolean {
  return (
    r === undefined ||
    r === ConsumeResult.SUCCESS ||
    (r as { name?: unknown } | null | undefined)?.name === "SUCCESS"
  );
}

/**
 * CONSUME_MESSAGE_DIRECTLY (mqadmin consumeMessageDirectly): the listener's answer for a stored
 * message an operator names, in Java's CMResult terms (an orderly listener's success is
 * CR_COMMIT). Outside the queues: the caller moves no offset and sends nothing back.
 */
export async function consumeDirectly(
  listener: MessageListener,
  msg: MessageExt,
  brokerName: string,
  orderly: boolean,
): Promise<ConsumeMessageDirectlyResult> {
  const view = new MessageView(msg, { topic: msg.topic, brokerName, queueId: msg.queueId });
  const t0 = Date.now();
  let consumeResult: DirectConsumeResult;
  let remark: string | undefined;
  try {
    const r = await listener.consume(view);
    consumeResult = succeeded(r) ? (orderly ? "CR_COMMIT" : "CR_SUCCESS") : "CR_LATER";
  } catch (err) {
    consumeResult = "CR_THROW_EXCEPTION";
    remark = (err as Error)?.stack ?? String(err);
  }
  return { order: orderly, autoCommit: true, consumeResult, remark, spentTimeMills: Date.now() - t0 };
}
