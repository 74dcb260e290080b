import {
  createResponse,
  decodeMessage,
  type MessageExt,
  type RemotingCommand,
  ResponseCode,
} from "@tidemq/protocol";

/** Java's CMResult names (ConsumeMessageDirectlyResult.consumeResult). */
export type DirectConsumeResult =
  | "CR_SUCCESS"
  | "CR_LATER"
  | "CR_ROLLBACK"
  | "CR_COMMIT"
  | "CR_THROW_EXCEPTION"
  | "CR_RETURN_NULL";

/** ConsumeMessageDirectlyResult, as Java serializes it. */
export interface ConsumeMessageDirectlyResult {
  order: boolean;
  autoCommit: boolean;
  consumeResult: DirectConsumeResult;
  remark?: string;
  spentTimeMills: number;
}

/** A consumer that can run its listener on a message an operator names (push consumers). */
export interface DirectConsumer {
  consumeMessageDirectly?(msg: MessageExt, brokerName: string): Promise<ConsumeMessageDirectlyResult>;
}

/**
 * CONSUME_MESSAGE_DIRECTLY (309) relayed by a broker: decode the stored message in the body,
 * run the consumer's listener on it (no offset is committed, nothing is sent back), answer the
 * result as JSON. A consumer without a listener, or a body that is not a message, is a
 * SYSTEM_ERROR with the reason.
 */
export async function answerConsumeMessageDirectly(
  req: RemotingCommand,
  consumer: DirectConsumer | undefined,
): Promise<RemotingCommand> {
  const group = req.extFields?.consumerGroup;
  if (!consumer) return createResponse(req, ResponseCode.SYSTEM_ERROR, `no consumer of group ${group} here`);
  if (!consumer.consumeMessageDirectly) {
    return createResponse(
      req,
      ResponseCode.SYSTEM_ERROR,
      `the consumer of group ${group} has no message listener (a pull or simple consumer)`,
    );
  }
  let msg: MessageExt;
  try {
    if (!req.body || req.body.length === 0) throw new Error("no message in the request body");
    msg = decodeMessage(req.body, 0, { decompressBody: true });
  } catch (err) {
    return createResponse(req, ResponseCode.SYSTEM_ERROR, `unreadable message: ${(err as Error).message}`);
  }
  const result = await consumer.consumeMessageDirectly(msg, req.extFields?.brokerName ?? "");
  return createResponse(
    req,
    ResponseCode.SUCCESS,
    undefined,
    undefined,
    Buffer.from(JSON.stringify(result), "utf8"),
  );
}
