/**
 * The `tidemq admin` registry: one handler per subcommand, and the types they share. A handler
 * asks the cluster (what spec §6.9 says mqadmin sends) and returns both the text table and the
 * JSON document; the caller prints one. The handlers live in files named after what they
 * administer:
 *   clusterHandlers (clusterList, transferLeader), dledgerMembership (add/removeDLedgerPeer),
 *   brokerHandlers (brokerStatus, get/updateBrokerConfig), topicHandlers (topic*, update/deleteTopic),
 *   subscriptionGroupHandlers (update/deleteSubGroup), consumerProgressHandlers (consumerProgress),
 *   connectionHandlers (consumer/producerConnection), resetOffsetHandlers (resetOffsetByTime),
 *   messageQueryHandlers (queryMsgById/ByKey/ByOffset), sendConsumeHandlers (send/consumeMessage),
 *   scheduleCommands (scheduleStatus, deadLetter*), timer (timerStatus),
 *   transactionHandlers (transactionStatus), traceHandlers (queryMsgTraceById),
 *   consumerStatusHandlers (consumerStatus, consumeMessageDirectly).
 * Their options and help are in specs.ts; shared helpers in args.ts (options), calls.ts (cluster
 * calls), table.ts (text), views.ts (broker rows), messageView.ts (one message), toolClients.ts
 * (the admin's own clients).
 */
import type { Admin } from "@tidemq/client";
import type { Logger } from "@tidemq/remoting";
import { brokerStatus, getBrokerConfigCmd, updateBrokerConfigCmd } from "./brokerHandlers.js";
import { clusterList, transferLeader } from "./clusterHandlers.js";
import { consumerConnection, producerConnection } from "./connectionHandlers.js";
import { consumerProgress } from "./consumerProgressHandlers.js";
import { consumeMessageDirectly, consumerStatus } from "./consumerStatusHandlers.js";
import { DLEDGER_MEMBERSHIP_HANDLERS } from "./dledgerMembership.js";
import { queryMsgById, queryMsgByKey, queryMsgByOffset } from "./messageQueryHandlers.js";
import { resetOffsetByTimeCmd } from "./resetOffsetHandlers.js";
import { SCHEDULE_HANDLERS } from "./scheduleCommands.js";
import { consumeMessage, sendMessage } from "./sendConsumeHandlers.js";
import { deleteSubGroup, updateSubGroup } from "./subscriptionGroupHandlers.js";
import { timerStatus } from "./timer.js";
import { deleteTopic, topicList, topicRoute, topicStatus, updateTopic } from "./topicHandlers.js";
import { queryMsgTraceById } from "./traceHandlers.js";
import { transactionStatusCmd } from "./transactionHandlers.js";

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
