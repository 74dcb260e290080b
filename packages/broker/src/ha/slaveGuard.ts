import { ResponseCode } from "@tidemq/protocol";
import type { BrokerConfig } from "../BrokerConfig.js";
import { fail } from "../processors/responses.js";

/**
 * A slave's topics and subscription groups are copies of its master's (SlaveSynchronize):
 * a change made on the slave would be overwritten or would diverge. RocketMQ's answer
 * (AdminBrokerProcessor.validateSlave).
 */
export function refuseMetadataChangeOnSlave(config: BrokerConfig, what: string): void {
  if (config.brokerRole === "SLAVE") {
    fail(
      ResponseCode.SYSTEM_ERROR,
      `Can't modify topic or subscription group from slave broker (${what}), please execute it from master broker.`,
    );
  }
}
