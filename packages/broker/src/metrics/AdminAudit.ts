import { RequestCode } from "@tidemq/protocol";
import { installAdminAudit as installAudit, type Logger, type RemotingServer } from "@tidemq/remoting";

export { describeAdminRequest } from "@tidemq/remoting";

/**
 * Requests that change the broker's state on an operator's behalf (mqadmin / console
 * writes). Client traffic (sends, pulls, offset commits, heartbeats) is not audited.
 * Codes without a handler yet are skipped at install time, so a feature that lands later
 * is audited as soon as it registers one of these codes before installAdminAudit runs.
 */
export const ADMIN_WRITE_CODES: readonly number[] = [
  RequestCode.UPDATE_AND_CREATE_TOPIC,
  RequestCode.DELETE_TOPIC_IN_BROKER,
  RequestCode.UPDATE_BROKER_CONFIG,
  RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
  RequestCode.DELETE_SUBSCRIPTIONGROUP,
  RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
  RequestCode.RESET_CONSUMER_OFFSET_IN_BROKER,
  RequestCode.CLONE_GROUP_OFFSET,
  RequestCode.CONSUME_MESSAGE_DIRECTLY,
  RequestCode.CLEAN_EXPIRED_CONSUMEQUEUE,
  RequestCode.CLEAN_UNUSED_TOPIC,
  RequestCode.DELETE_EXPIRED_COMMITLOG,
  RequestCode.UPDATE_AND_CREATE_ACL_CONFIG,
  RequestCode.DELETE_ACL_CONFIG,
  RequestCode.RESUME_CHECK_HALF_MESSAGE,
  RequestCode.WIPE_WRITE_PERM_OF_BROKER,
  RequestCode.ADD_WRITE_PERM_OF_BROKER,
];

/** Audits the broker's admin writes (see installAdminAudit in @tidemq/remoting). */
export function installAdminAudit(server: RemotingServer, logger: Logger): void {
  installAudit(server, logger, ADMIN_WRITE_CODES);
}
