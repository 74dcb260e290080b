import { type RemotingCommand, RequestCode } from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { ClientProcessorDeps } from "./common.js";
import {
  deleteSubscriptionGroup,
  getAllSubscriptionGroupConfig,
  getConsumerConnectionList,
  getConsumeStats,
  getProducerConnectionList,
  invokeBrokerToResetOffset,
  queryTopicConsumeByWho,
  updateAndCreateSubscriptionGroup,
} from "./consumerAdmin.js";
import { relayToConsumer } from "./consumerStatus.js";
import { checkClientConfig, getConsumerListByGroup, heartBeat, unregisterClient } from "./heartbeat.js";
import {
  getEarliestMsgStoretime,
  getMaxOffset,
  getMinOffset,
  queryConsumerOffset,
  searchOffsetByTimestamp,
  updateConsumerOffset,
} from "./offsets.js";
import { queryMessage, viewMessageById } from "./queries.js";
import { lockBatchMq, unlockBatchMq } from "./queueLocks.js";
import { consumerSendMsgBack } from "./sendBack.js";

export type { ClientProcessorDeps } from "./common.js";

type ClientHandler = (
  deps: ClientProcessorDeps,
  request: RemotingCommand,
  conn: Connection,
) => RemotingCommand | undefined | Promise<RemotingCommand | undefined>;

/** Request code → handler, for every code the client services answer. */
const CLIENT_HANDLERS: ReadonlyArray<readonly [number, ClientHandler]> = [
  [RequestCode.HEART_BEAT, heartBeat],
  [RequestCode.UNREGISTER_CLIENT, unregisterClient],
  [RequestCode.GET_CONSUMER_LIST_BY_GROUP, getConsumerListByGroup],
  [RequestCode.CHECK_CLIENT_CONFIG, checkClientConfig],
  [RequestCode.QUERY_CONSUMER_OFFSET, queryConsumerOffset],
  [RequestCode.UPDATE_CONSUMER_OFFSET, updateConsumerOffset],
  [RequestCode.GET_MAX_OFFSET, getMaxOffset],
  [RequestCode.GET_MIN_OFFSET, getMinOffset],
  [RequestCode.GET_EARLIEST_MSG_STORETIME, getEarliestMsgStoretime],
  [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, searchOffsetByTimestamp],
  [RequestCode.VIEW_MESSAGE_BY_ID, viewMessageById],
  [RequestCode.QUERY_MESSAGE, queryMessage],
  [RequestCode.CONSUMER_SEND_MSG_BACK, consumerSendMsgBack],
  [RequestCode.GET_CONSUME_STATS, getConsumeStats],
  [RequestCode.GET_CONSUMER_CONNECTION_LIST, getConsumerConnectionList],
  [RequestCode.GET_PRODUCER_CONNECTION_LIST, getProducerConnectionList],
  [RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, updateAndCreateSubscriptionGroup],
  [RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, getAllSubscriptionGroupConfig],
  [RequestCode.DELETE_SUBSCRIPTIONGROUP, deleteSubscriptionGroup],
  [RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, queryTopicConsumeByWho],
  [RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, invokeBrokerToResetOffset],
  [RequestCode.LOCK_BATCH_MQ, lockBatchMq],
  [RequestCode.UNLOCK_BATCH_MQ, unlockBatchMq],
  [RequestCode.GET_CONSUMER_RUNNING_INFO, relayToConsumer],
  [RequestCode.CONSUME_MESSAGE_DIRECTLY, relayToConsumer],
];

/** Registers every client/query/admin handler on the broker's server. */
export function registerClientProcessors(deps: ClientProcessorDeps): void {
  for (const [code, handler] of CLIENT_HANDLERS) {
    deps.ctx.server.registerHandler(code, (request, conn) => handler(deps, request, conn));
  }
}
