import {
  createResponse,
  decodeHeader,
  QueryMessageRequestHeader,
  type RemotingCommand,
  ResponseCode,
  ViewMessageRequestHeader,
} from "@tidemq/protocol";
import { fail } from "../responses.js";
import { type ClientProcessorDeps, ok } from "./common.js";

export const QUERY_MESSAGE_NOT_FOUND_REMARK = "can not find message, maybe time range not correct";

/** VIEW_MESSAGE_BY_ID (33), spec §4.15: the stored record at a commit-log offset. */
export async function viewMessageById(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(ViewMessageRequestHeader, request.extFields, "VIEW_MESSAGE_BY_ID");
  const record = h.offset >= 0 ? await deps.ctx.store.lookMessageByOffset(h.offset) : undefined;
  if (!record) fail(ResponseCode.SYSTEM_ERROR, `can not find message by the offset, ${h.offset}`);
  return ok(request, undefined, record);
}

/**
 * QUERY_MESSAGE (12), spec §4.16: messages indexed under `topic#key` stored within
 * [begin, end]. At most `maxMsgsNumBatch` results, and `defaultQueryMaxNum` for a
 * unique-key lookup (RocketMQ's caps; a cut result is not flagged by the protocol).
 */
export async function queryMessage(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(QueryMessageRequestHeader, request.extFields, "QUERY_MESSAGE");
  const { config, store } = deps.ctx;
  const cap = Math.max(1, config.maxMsgsNumBatch);
  const wanted = h._UNIQUE_KEY_QUERY ? config.defaultQueryMaxNum : h.maxNum;
  const maxNum = Math.min(wanted > 0 ? wanted : cap, cap);
  const result = await store.queryMessage(h.topic, h.key, maxNum, h.beginTimestamp, h.endTimestamp);
  const header = {
    indexLastUpdateTimestamp: result.indexLastUpdateTimestamp,
    indexLastUpdatePhyoffset: result.indexLastUpdatePhyoffset,
  };
  if (result.messages.length === 0) {
    return createResponse(request, ResponseCode.QUERY_NOT_FOUND, QUERY_MESSAGE_NOT_FOUND_REMARK, header);
  }
  return ok(request, header, Buffer.concat(result.messages.slice(0, maxNum)));
}
