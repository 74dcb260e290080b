export type { FlushDiskType, MessageStoreConfig } from "./config.js";
export type { Logger } from "./Logger.js";
export { createStderrLogger } from "./Logger.js";
export {
  MessageStore,
  type GetMessageResult,
  type GetMessageStatus,
  type MessageInput,
  type PutResult,
  type StoreStats,
} from "./MessageStore.js";
export { StoreCorruptionError, StoreError } from "./StoreError.js";
export { CommitLog, type AppendLog, type Reservation } from "./CommitLog.js";
export { retentionDecision, segmentExpired } from "./Retention.js";
