import {
  createRequest,
  createResponse,
  decodeOffsetMsgId,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { type Connection, RemotingTimeoutError } from "@tidemq/remoting";
import { fail } from "../responses.js";
import type { ClientProcessorDeps } from "./common.js";

/** How long the broker waits for the client's answer (Java: 10 s for both requests). */
export const RELAY_TIMEOUT_MS = 10_000;

function channelOf(deps: ClientProcessorDeps, group: string, clientId: string): Connection {
  const state = deps.consumers.getGroup(group);
  for (const [conn, info] of state?.channels ?? []) {
    if (info.clientId === clientId && !conn.closed) return conn;
  }
  fail(ResponseCode.SYSTEM_ERROR, `The Consumer <${group}> <${clientId}> not online`);
}

/**
 * GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) from an admin (spec §5.4):
 * forwarded under the same code, with the same ext fields, to the named client's connection;
 * the client's answer is returned as the broker's own. For 309 the broker first reads the
 * stored message named by `msgId` (an offset message id of this broker) and sends it as the
 * body. A client that does not answer within 10 s (ali-ons never does) is CONSUME_MSG_TIMEOUT.
 */
export async function relayToConsumer(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const ext = request.extFields ?? {};
  const group = ext.consumerGroup;
  const clientId = ext.clientId;
  if (!group || !clientId) fail(ResponseCode.SYSTEM_ERROR, "consumerGroup and clientId are required");
  const conn = channelOf(deps, group, clientId);
  let body = request.body;
  if (request.code === RequestCode.CONSUME_MESSAGE_DIRECTLY) {
    const msgId = ext.msgId ?? "";
    let offset: number;
    try {
      offset = Number(decodeOffsetMsgId(msgId).commitLogOffset);
    } catch (err) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `msgId "${msgId}" is not an offset message id: ${(err as Error).message}`,
      );
    }
    const record = await deps.ctx.store.lookMessageByOffset(offset);
    if (!record) fail(ResponseCode.SYSTEM_ERROR, `can not find message by the offset, ${offset}`);
    body = record;
  }
  const forward = createRequest(request.code, { ...ext }, body);
  let answer: RemotingCommand;
  try {
    answer = await conn.invoke(forward, RELAY_TIMEOUT_MS);
  } catch (err) {
    if (err instanceof RemotingTimeoutError) {
      return createResponse(
        request,
        ResponseCode.CONSUME_MSG_TIMEOUT,
        `consumer <${group}> <${clientId}> did not answer within ${RELAY_TIMEOUT_MS} ms`,
      );
    }
    fail(ResponseCode.SYSTEM_ERROR, `consumer <${group}> <${clientId}>: ${(err as Error).message}`);
  }
  return createResponse(request, answer.code, answer.remark, answer.extFields, answer.body);
}
