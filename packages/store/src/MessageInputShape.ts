import type { MessageInput } from "./StoreTypes.js";

/**
 * Built once when the store is loaded, before any send: a MessageInput in the one field order
 * every producer of inputs writes (SendInputBuilder, scanBatchBody, HalfInput, the commit copy,
 * timers, delay levels; shorter ones are prefixes of it), whose every field holds a string.
 *
 * Why: V8 gives all object literals with the same field order one chain of hidden classes and
 * keeps a field's representation in it (small integer, double, any value). The first number that
 * does not fit the one seen so far — a commit-log offset or a bornTimestamp in a field that held
 * 0, a TAGS hash beyond ±2^30 — makes a new hidden class and retires the old one; literal sites
 * that already ran may keep making objects of the retired class, and each such object is then
 * migrated (JSObject::MigrateToMap) at its first property read. That cost a plain message
 * 0.4 µs in PutCoalescer's first read once transaction halves and copies had been stored in the
 * same process (tx-inproc, perf). With every field already "any value" here, nothing later can
 * widen a field, so no class is ever retired. Numbers are then stored as they come (a small
 * integer in place, a double as a pointer to its number object, not a fresh box per object).
 */
const ANY = "any value" as unknown as never;
export const MESSAGE_INPUT_SHAPE: MessageInput = {
  topic: ANY,
  queueId: ANY,
  flag: ANY,
  body: ANY,
  properties: ANY,
  sysFlag: ANY,
  bornTimestamp: ANY,
  bornHost: ANY,
  reconsumeTimes: ANY,
  preparedTransactionOffset: ANY,
  tagsCode: ANY,
  encodedProperties: ANY,
  encodedPropertiesSuffix: ANY,
  keys: ANY,
  uniqKey: ANY,
};
