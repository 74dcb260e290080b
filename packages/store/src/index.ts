export { type AppendLog, CommitLog, type Reservation, type ScannedRecord } from "./CommitLog.js";
export type { FlushDiskType, MessageStoreConfig } from "./config.js";
export type { DispatchFields } from "./DispatchFields.js";
export { DurationBuckets } from "./DurationBuckets.js";
export type { Logger } from "./Logger.js";
export { createStderrLogger } from "./Logger.js";
// Loaded with the store, before any input is built (see the file).
export { MESSAGE_INPUT_SHAPE } from "./MessageInputShape.js";
export {
  type GetMessageResult,
  type GetMessageStatus,
  type MessageInput,
  MessageStore,
  type PutOptions,
  type PutResult,
  type StoreStats,
} from "./MessageStore.js";
export { RecordCopy } from "./RecordCopy.js";
export { retentionDecision, segmentExpired } from "./Retention.js";
export { StoreCorruptionError, StoreError } from "./StoreError.js";
export { StoreLockedError } from "./StoreLock.js";
export { ENTRY_BYTES, type TimerEntry, TimerKind } from "./timer/TimerLog.js";
export * as TimerSlots from "./timer/TimerSlots.js";
export { DEFAULT_WHEEL_SLOTS, TimerStore, type TimerStoreOptions } from "./timer/TimerStore.js";
