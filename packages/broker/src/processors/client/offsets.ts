import {
  createResponse,
  decodeHeader,
  GetEarliestMsgStoretimeRequestHeader,
  GetMaxOffsetRequestHeader,
  GetMinOffsetRequestHeader,
  QueryConsumerOffsetRequestHeader,
  type RemotingCommand,
  ResponseCode,
  SearchOffsetRequestHeader,
  UpdateConsumerOffsetRequestHeader,
} from "@tidemq/protocol";
import { type ClientProcessorDeps, checkQueueId, ok } from "./common.js";

/** The Java broker's remark, kept word for word: clients and operators search for it. */
export const QUERY_OFFSET_NOT_FOUND_REMARK =
  "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first";

/**
 * QUERY_CONSUMER_OFFSET (14), spec §4.7. Nothing committed (or −1) and the queue's min
 * offset is 0 → SUCCESS 0, so a new group on a young topic reads from the beginning
 * (what 4.9 does and ali-ons' tests rely on); otherwise QUERY_NOT_FOUND, after which the
 * client applies its consumeFromWhere.
 */
export function queryConsumerOffset(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(QueryConsumerOffsetRequestHeader, request.extFields, "QUERY_CONSUMER_OFFSET");
  checkQueueId(h.queueId);
  const offset = deps.offsets.query(h.consumerGroup, h.topic, h.queueId);
  if (offset >= 0) return ok(request, { offset });
  // 5.x clients may ask for a plain "not found" (setZeroIfNotFound=false).
  if (h.setZeroIfNotFound !== false && deps.ctx.store.getMinOffsetInQueue(h.topic, h.queueId) <= 0) {
    return ok(request, { offset: 0 });
  }
  return createResponse(request, ResponseCode.QUERY_NOT_FOUND, QUERY_OFFSET_NOT_FOUND_REMARK);
}

/** UPDATE_CONSUMER_OFFSET (15), spec §4.8: stores whatever arrives, −1 included; answered unless oneway. */
export function updateConsumerOffset(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(UpdateConsumerOffsetRequestHeader, request.extFields, "UPDATE_CONSUMER_OFFSET");
  checkQueueId(h.queueId);
  deps.offsets.commit(h.consumerGroup, h.topic, h.queueId, h.commitOffset);
  return ok(request);
}

/** GET_MAX_OFFSET (30): next offset to write; 0 for an unknown queue. */
export function getMaxOffset(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(GetMaxOffsetRequestHeader, request.extFields, "GET_MAX_OFFSET");
  checkQueueId(h.queueId);
  return ok(request, { offset: deps.ctx.store.getMaxOffsetInQueue(h.topic, h.queueId) });
}

/** GET_MIN_OFFSET (31). */
export function getMinOffset(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): RemotingCommand | undefined {
  const h = decodeHeader(GetMinOffsetRequestHeader, request.extFields, "GET_MIN_OFFSET");
  checkQueueId(h.queueId);
  return ok(request, { offset: deps.ctx.store.getMinOffsetInQueue(h.topic, h.queueId) });
}

/** GET_EARLIEST_MSG_STORETIME (32): store time of the message at min offset, −1 if none. */
export async function getEarliestMsgStoretime(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(
    GetEarliestMsgStoretimeRequestHeader,
    request.extFields,
    "GET_EARLIEST_MSG_STORETIME",
  );
  checkQueueId(h.queueId);
  return ok(request, { timestamp: await deps.ctx.store.getEarliestMessageTime(h.topic, h.queueId) });
}

/**
 * SEARCH_OFFSET_BY_TIMESTAMP (29), spec §4.10: 5.x LOWER semantics whatever
 * `boundaryType` says — the first message stored at or after the timestamp, max offset
 * if none, 0 for an empty queue.
 */
export async function searchOffsetByTimestamp(
  deps: ClientProcessorDeps,
  request: RemotingCommand,
): Promise<RemotingCommand | undefined> {
  const h = decodeHeader(SearchOffsetRequestHeader, request.extFields, "SEARCH_OFFSET_BY_TIMESTAMP");
  checkQueueId(h.queueId);
  return ok(request, {
    offset: await deps.ctx.store.getOffsetInQueueByTime(h.topic, h.queueId, h.timestamp),
  });
}
