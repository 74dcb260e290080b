import type { ExtFields } from "./command.js";
import { decodeHeader, F, type HeaderOf, smallInteger } from "./header.js";

/**
 * Custom-header schemas of every operation in the spec (sections 3–6), named after
 * RocketMQ's *RequestHeader / *ResponseHeader classes. Decode with `decodeHeader`.
 */

// ---- NameServer (spec §3) ----
export const RegisterBrokerRequestHeader = {
  brokerName: F.str,
  brokerAddr: F.str,
  clusterName: F.str,
  haServerAddr: F.str,
  brokerId: F.long,
  compressed: F.optBool,
  bodyCrc32: F.optInt,
  heartbeatTimeoutMillis: F.optLong,
  enableActingMaster: F.optBool,
} as const;
export type RegisterBrokerRequestHeader = HeaderOf<typeof RegisterBrokerRequestHeader>;

export const RegisterBrokerResponseHeader = { haServerAddr: F.optStr, masterAddr: F.optStr } as const;

export const UnregisterBrokerRequestHeader = {
  brokerName: F.str,
  brokerAddr: F.str,
  clusterName: F.str,
  brokerId: F.long,
} as const;
export type UnregisterBrokerRequestHeader = HeaderOf<typeof UnregisterBrokerRequestHeader>;

export const QueryDataVersionRequestHeader = UnregisterBrokerRequestHeader;
export const QueryDataVersionResponseHeader = { changed: F.bool } as const;

export const GetRouteInfoRequestHeader = { topic: F.str, acceptStandardJsonOnly: F.optBool } as const;
export type GetRouteInfoRequestHeader = HeaderOf<typeof GetRouteInfoRequestHeader>;

export const DeleteTopicFromNamesrvRequestHeader = { topic: F.str, clusterName: F.optStr } as const;
export const GetTopicsByClusterRequestHeader = { cluster: F.str } as const;
export const PutKVConfigRequestHeader = { namespace: F.str, key: F.str, value: F.str } as const;
export const GetKVConfigRequestHeader = { namespace: F.str, key: F.str } as const;
export const GetKVConfigResponseHeader = { value: F.optStr } as const;
export const DeleteKVConfigRequestHeader = GetKVConfigRequestHeader;
export const GetKVListByNamespaceRequestHeader = { namespace: F.str } as const;
/** ali-ons' code 217 (GET_KV_CONFIG_BY_VALUE): namespace PROJECT_CONFIG, key = client IP (spec §3.8). */
export const GetKVConfigByValueRequestHeader = GetKVConfigRequestHeader;
export const WipeWritePermOfBrokerRequestHeader = { brokerName: F.str } as const;
export const WipeWritePermOfBrokerResponseHeader = { wipeTopicCount: F.int } as const;
export const AddWritePermOfBrokerRequestHeader = { brokerName: F.str } as const;
export const AddWritePermOfBrokerResponseHeader = { addTopicCount: F.int } as const;

// ---- Broker: send and pull (spec §4.1–4.3) ----
/** SEND_MESSAGE (10) and SEND_BATCH_MESSAGE's long-name form. */
export const SendMessageRequestHeader = {
  producerGroup: F.str,
  topic: F.str,
  defaultTopic: F.str,
  defaultTopicQueueNums: F.int,
  queueId: F.int,
  sysFlag: F.int,
  bornTimestamp: F.long,
  flag: F.int,
  properties: F.optStr,
  reconsumeTimes: F.optInt,
  unitMode: F.optBool,
  maxReconsumeTimes: F.optInt,
  batch: F.optBool,
  brokerName: F.optStr,
} as const;
export type SendMessageRequestHeader = HeaderOf<typeof SendMessageRequestHeader>;

/** SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320): one-letter names a…n. */
export const SendMessageRequestHeaderV2 = {
  a: F.str,
  b: F.str,
  c: F.str,
  d: F.int,
  e: F.int,
  f: F.int,
  g: F.long,
  h: F.int,
  i: F.optStr,
  j: F.optInt,
  k: F.optBool,
  l: F.optInt,
  m: F.optBool,
  n: F.optStr,
} as const;
export type SendMessageRequestHeaderV2 = HeaderOf<typeof SendMessageRequestHeaderV2>;

/** The V2 letters in V1 order, so both forms decode to one SendMessageRequestHeader. */
export const SEND_V2_NAMES: Record<
  keyof typeof SendMessageRequestHeaderV2,
  keyof typeof SendMessageRequestHeader
> = {
  a: "producerGroup",
  b: "topic",
  c: "defaultTopic",
  d: "defaultTopicQueueNums",
  e: "queueId",
  f: "sysFlag",
  g: "bornTimestamp",
  h: "flag",
  i: "properties",
  j: "reconsumeTimes",
  k: "unitMode",
  l: "maxReconsumeTimes",
  m: "batch",
  n: "brokerName",
};

/** SEND_V2_NAMES as an array (both conversions run once per message). */
const SEND_V2_PAIRS: ReadonlyArray<readonly [string, string]> = Object.entries(SEND_V2_NAMES);

export function sendHeaderFromV2(v2: SendMessageRequestHeaderV2): SendMessageRequestHeader {
  const out: Record<string, unknown> = {};
  const src = v2 as Record<string, unknown>;
  for (let i = 0; i < SEND_V2_PAIRS.length; i++) {
    const [letter, name] = SEND_V2_PAIRS[i]!;
    const v = src[letter];
    if (v !== undefined) out[name] = v;
  }
  return out as SendMessageRequestHeader;
}

/**
 * SEND_MESSAGE_V2's header decoded straight into the long-name form, for the well-formed
 * header every producer sends (one per message, so it is worth a fixed-shape fast path).
 * Anything unusual — a missing field, a non-string value, a number that needs range
 * checks — goes through decodeHeader, so errors and edge cases are exactly its own.
 */
export function decodeSendMessageHeaderV2(ext: ExtFields | undefined): SendMessageRequestHeader {
  const fast = ext ? sendV2Fast(ext) : undefined;
  return fast ?? sendHeaderFromV2(decodeHeader(SendMessageRequestHeaderV2, ext, "SEND_MESSAGE_V2"));
}

function sendV2Fast(ext: ExtFields): SendMessageRequestHeader | undefined {
  const { a, b, c, i, n } = ext;
  if (typeof a !== "string" || typeof b !== "string" || typeof c !== "string") return undefined;
  if ((i !== undefined && typeof i !== "string") || (n !== undefined && typeof n !== "string"))
    return undefined;
  const d = intOf(ext.d);
  const e = intOf(ext.e);
  const f = intOf(ext.f);
  const g = typeof ext.g === "string" ? smallInteger(ext.g) : undefined;
  const h = intOf(ext.h);
  if (d === undefined || e === undefined || f === undefined || g === undefined || h === undefined)
    return undefined;
  const j = optIntOf(ext.j);
  const l = optIntOf(ext.l);
  const k = optBoolOf(ext.k);
  const m = optBoolOf(ext.m);
  if (j === null || l === null || k === null || m === null) return undefined;
  const out: SendMessageRequestHeader = {
    producerGroup: a,
    topic: b,
    defaultTopic: c,
    defaultTopicQueueNums: d,
    queueId: e,
    sysFlag: f,
    bornTimestamp: g,
    flag: h,
  };
  if (i !== undefined) out.properties = i;
  if (j !== undefined) out.reconsumeTimes = j;
  if (k !== undefined) out.unitMode = k;
  if (l !== undefined) out.maxReconsumeTimes = l;
  if (m !== undefined) out.batch = m;
  if (n !== undefined) out.brokerName = n;
  return out;
}

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/** A clean int, or undefined (missing, malformed or out of range: the slow path decides). */
function intOf(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  const x = smallInteger(v);
  return x !== undefined && x >= INT_MIN && x <= INT_MAX ? x : undefined;
}

/** undefined = absent (as decodeHeader treats a missing or empty field), null = take the slow path. */
function optIntOf(v: unknown): number | undefined | null {
  if (v === undefined || v === "") return undefined;
  return intOf(v) ?? null;
}

function optBoolOf(v: unknown): boolean | undefined | null {
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string") return null;
  return v === "true" || v.toLowerCase() === "true";
}

export function sendHeaderToV2(h: SendMessageRequestHeader): SendMessageRequestHeaderV2 {
  const out: Record<string, unknown> = {};
  const src = h as Record<string, unknown>;
  for (let i = 0; i < SEND_V2_PAIRS.length; i++) {
    const [letter, name] = SEND_V2_PAIRS[i]!;
    const v = src[name];
    if (v !== undefined) out[letter] = v;
  }
  return out as SendMessageRequestHeaderV2;
}

export const SendMessageResponseHeader = {
  msgId: F.str,
  queueId: F.int,
  queueOffset: F.long,
  transactionId: F.optStr,
  MSG_REGION: F.optStr,
  TRACE_ON: F.optStr,
  batchUniqId: F.optStr,
  recallHandle: F.optStr,
} as const;
export type SendMessageResponseHeader = HeaderOf<typeof SendMessageResponseHeader>;

export const PullMessageRequestHeader = {
  consumerGroup: F.str,
  topic: F.str,
  queueId: F.int,
  queueOffset: F.long,
  maxMsgNums: F.int,
  sysFlag: F.int,
  commitOffset: F.long,
  suspendTimeoutMillis: F.long,
  subscription: F.optStr,
  subVersion: F.long,
  expressionType: F.optStr,
  maxMsgBytes: F.optInt,
  requestSource: F.optInt,
  proxyFrowardClientId: F.optStr,
} as const;
export type PullMessageRequestHeader = HeaderOf<typeof PullMessageRequestHeader>;

export const PullMessageResponseHeader = {
  suggestWhichBrokerId: F.long,
  nextBeginOffset: F.long,
  minOffset: F.long,
  maxOffset: F.long,
  offsetDelta: F.optLong,
  topicSysFlag: F.optInt,
  groupSysFlag: F.optInt,
  forbiddenType: F.optInt,
} as const;
export type PullMessageResponseHeader = HeaderOf<typeof PullMessageResponseHeader>;

/** PullSysFlag bits (spec §4.3). */
export const PullSysFlag = {
  COMMIT_OFFSET: 0x1,
  SUSPEND: 0x2,
  SUBSCRIPTION: 0x4,
  CLASS_FILTER: 0x8,
  LITE_PULL: 0x10,
} as const;

// ---- Broker: clients, offsets, queries (spec §4.4–4.16) ----
export const UnregisterClientRequestHeader = {
  clientID: F.str,
  producerGroup: F.optStr,
  consumerGroup: F.optStr,
} as const;
export const GetConsumerListByGroupRequestHeader = { consumerGroup: F.str } as const;
export const QueryConsumerOffsetRequestHeader = {
  consumerGroup: F.str,
  topic: F.str,
  queueId: F.int,
  setZeroIfNotFound: F.optBool,
} as const;
export const QueryConsumerOffsetResponseHeader = { offset: F.long } as const;
export const UpdateConsumerOffsetRequestHeader = {
  consumerGroup: F.str,
  topic: F.str,
  queueId: F.int,
  commitOffset: F.long,
} as const;
export const GetMaxOffsetRequestHeader = { topic: F.str, queueId: F.int, committed: F.optBool } as const;
export const GetMaxOffsetResponseHeader = { offset: F.long } as const;
export const GetMinOffsetRequestHeader = { topic: F.str, queueId: F.int } as const;
export const GetMinOffsetResponseHeader = { offset: F.long } as const;
export const GetEarliestMsgStoretimeRequestHeader = { topic: F.str, queueId: F.int } as const;
export const GetEarliestMsgStoretimeResponseHeader = { timestamp: F.long } as const;
export const SearchOffsetRequestHeader = {
  topic: F.str,
  queueId: F.int,
  timestamp: F.long,
  boundaryType: F.optStr,
} as const;
export const SearchOffsetResponseHeader = { offset: F.long } as const;
export const ConsumerSendMsgBackRequestHeader = {
  offset: F.long,
  group: F.str,
  delayLevel: F.int,
  originMsgId: F.optStr,
  originTopic: F.optStr,
  unitMode: F.optBool,
  maxReconsumeTimes: F.optInt,
} as const;
export const EndTransactionRequestHeader = {
  producerGroup: F.str,
  tranStateTableOffset: F.long,
  commitLogOffset: F.long,
  commitOrRollback: F.int,
  fromTransactionCheck: F.optBool,
  msgId: F.str,
  transactionId: F.optStr,
  topic: F.optStr,
} as const;
export const ViewMessageRequestHeader = { offset: F.long, topic: F.optStr } as const;
export const QueryMessageRequestHeader = {
  topic: F.str,
  key: F.str,
  maxNum: F.int,
  beginTimestamp: F.long,
  endTimestamp: F.long,
  _UNIQUE_KEY_QUERY: F.optBool,
} as const;
export const QueryMessageResponseHeader = {
  indexLastUpdateTimestamp: F.long,
  indexLastUpdatePhyoffset: F.long,
} as const;

// ---- Broker → client (spec §5) ----
export const NotifyConsumerIdsChangedRequestHeader = { consumerGroup: F.str } as const;
export const CheckTransactionStateRequestHeader = {
  tranStateTableOffset: F.long,
  commitLogOffset: F.long,
  msgId: F.optStr,
  transactionId: F.optStr,
  offsetMsgId: F.optStr,
  topic: F.optStr,
} as const;
/** RESET_CONSUMER_CLIENT_OFFSET (220) and INVOKE_BROKER_TO_RESET_OFFSET (222). */
export const ResetOffsetRequestHeader = {
  topic: F.str,
  group: F.str,
  timestamp: F.long,
  // A primitive boolean in Java: never fails the not-null check, false when absent.
  isForce: F.boolDefaultFalse,
  queueId: F.optInt,
  offset: F.optLong,
} as const;
export const GetConsumerRunningInfoRequestHeader = {
  consumerGroup: F.str,
  clientId: F.str,
  jstackEnable: F.optBool,
} as const;
export const ConsumeMessageDirectlyRequestHeader = {
  consumerGroup: F.str,
  clientId: F.optStr,
  msgId: F.optStr,
  brokerName: F.optStr,
  topic: F.optStr,
  topicSysFlag: F.optInt,
  groupSysFlag: F.optInt,
} as const;
/**
 * GET_CONSUMER_STATUS_FROM_CLIENT (221) and INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223);
 * the spec names the codes without a field table, fields as in Java's GetConsumerStatusRequestHeader.
 */
export const GetConsumerStatusRequestHeader = { topic: F.str, group: F.str, clientAddr: F.optStr } as const;

// ---- Admin on the broker (spec §6) ----
export const CreateTopicRequestHeader = {
  topic: F.str,
  defaultTopic: F.str,
  readQueueNums: F.int,
  writeQueueNums: F.int,
  perm: F.int,
  topicFilterType: F.str,
  topicSysFlag: F.optInt,
  // Spec §6.1: REQ with default false; ali-ons' createTopic may leave it out.
  order: F.boolDefaultFalse,
  attributes: F.optStr,
  force: F.optBool,
} as const;
export type CreateTopicRequestHeader = HeaderOf<typeof CreateTopicRequestHeader>;
export const DeleteTopicRequestHeader = { topic: F.str } as const;
export const GetTopicStatsInfoRequestHeader = { topic: F.str } as const;
export const GetConsumeStatsRequestHeader = {
  consumerGroup: F.str,
  topic: F.optStr,
  topicList: F.optStr,
} as const;
export const GetConsumerConnectionListRequestHeader = { consumerGroup: F.str } as const;
export const GetProducerConnectionListRequestHeader = { producerGroup: F.str } as const;
export const DeleteSubscriptionGroupRequestHeader = { groupName: F.str, cleanOffset: F.optBool } as const;
export const QueryTopicConsumeByWhoRequestHeader = { topic: F.str } as const;
export const QueryConsumeQueueRequestHeader = {
  topic: F.str,
  queueId: F.int,
  index: F.long,
  count: F.int,
  consumerGroup: F.optStr,
} as const;
/** RECALL_MESSAGE (370), RocketMQ 5.3. */
export const RecallMessageRequestHeader = {
  producerGroup: F.optStr,
  topic: F.str,
  recallHandle: F.str,
} as const;
export const RecallMessageResponseHeader = { msgId: F.str } as const;
