export { type AppendLog, CommitLog, type Reservation, type ScannedRecord } from "./CommitLog.js";
export type { FlushDiskType, MessageStoreConfig } from "./config.js";
export type { Logger } from "./Logger.js";
export { createStderrLogger } from "./Logger.js";
export {
  type GetMessageResult,
  type GetMessageStatus,
  type MessageInput,
  MessageStore,
  type PutResult,
  type StoreStats,
} from "./MessageStore.js";
export { retentionDecision, segmentExpired } from "./Retention.js";
export { StoreCorruptionError, StoreError } from "./StoreError.js";
export { StoreLockedError } from "./StoreLock.js";
