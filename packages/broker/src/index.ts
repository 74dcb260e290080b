export { type BrokerConfig, DEFAULT_BROKER_CONFIG } from "./BrokerConfig.js";
export { BrokerController, type BrokerControllerOptions } from "./BrokerController.js";
export { BrokerStatsImpl, SlidingCounter } from "./BrokerStats.js";
export type * from "./context.js";
export { parseDLedgerPeers } from "./dledger/DLedgerPeers.js";
export { sqlMatchIndexOf } from "./filter/SqlMatchIndex.js";
export {
  BrokerConfigError,
  brokerConfigToProperties,
  type LoadBrokerConfigOptions,
  type LoadedBrokerConfig,
  loadBrokerConfig,
  parsePropertiesText,
} from "./loadBrokerConfig.js";
export { PullRequestHoldService } from "./PullRequestHoldService.js";
export { RequestQueue } from "./RequestQueue.js";
export { ResettingBroker } from "./ResettingBroker.js";
export { TopicConfigManager } from "./TopicConfigManager.js";
export * from "./TopicValidator.js";
