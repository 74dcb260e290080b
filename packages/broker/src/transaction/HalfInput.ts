import {
  type HalfBatchEntry,
  MAX_PROPERTIES_BYTES,
  MessageConst,
  MessageSysFlag,
  transactionType,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { TRANS_HALF_TOPIC } from "../TopicValidator.js";
import { HALF_QUEUE_ID, type HalfFacts } from "./HalfMessage.js";

/**
 * A SEND_HALF_BATCH entry made into its half record's store input in ONE pass over its
 * properties text: the same input (field for field) and the same HalfFacts that
 * SendInputBuilder.single followed by halfMessage's toHalf build for that half, without the
 * header, request, Prepared and scan objects in between (a transaction used to make each of
 * them once per half).
 *
 * Only the common case is built: undefined whenever the full send path must decide — not a
 * half, a queue id out of range, a body over maxMessageSize, any DELAY / TIMER_ / __START
 * text (a delayed half is refused there), properties near the size limit. The caller then
 * sends that entry the full way, which refuses it or stores it exactly as before.
 */
export interface HalfTopic {
  /** The topic's name as its config gives it (the real topic the commit goes to). */
  topicName: string;
  /** max(readQueueNums, writeQueueNums): queue ids below it are accepted. */
  queueMax: number;
  /** topicFilterType MULTI_TAG: stored sysFlag gets MULTI_TAGS. */
  multiTag: boolean;
}

export interface HalfSendBase {
  producerGroup: string;
  bornHost: { host: string; port: number };
  /** This broker's CLUSTER pair (SendInputBuilder's), stored after the half's own pairs. */
  cluster: Buffer;
  maxMessageSize: number;
}

/** The input, or undefined for the full path; `facts[at]` gets what toHalf would note. */
export function halfInputOf(
  e: HalfBatchEntry,
  topic: HalfTopic,
  base: HalfSendBase,
  facts: Array<HalfFacts | undefined>,
  at: number,
): MessageInput | undefined {
  const queueId = e.queueId;
  if (!(queueId >= 0 && queueId < topic.queueMax)) return undefined;
  if (e.body.length > base.maxMessageSize) return undefined;
  const text = e.properties;
  // Every delay or timer property's name holds one of these (halfMessage's delayOf refuses them).
  if (text.includes("DELAY") || text.includes("TIMER_") || text.includes("__START")) return undefined;
  const s = scan(text);
  const prepared = transactionType(e.sysFlag) === MessageSysFlag.TRANSACTION_PREPARED_TYPE;
  if (!prepared && s.prepared !== "true") return undefined;
  let joined = `${s.pairs}${MessageConst.REAL_TOPIC}\u0001${topic.topicName}\u0002${MessageConst.REAL_QUEUE_ID}\u0001${queueId}\u0002`;
  if (s.group === undefined) joined += `${MessageConst.PRODUCER_GROUP}\u0001${base.producerGroup}\u0002`;
  if (s.prepared !== "true") joined += `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`;
  // At most 3 UTF-8 bytes a UTF-16 unit: anything that could come near the limit is counted
  // (and refused, if it must be) by the full path.
  if (3 * joined.length + base.cluster.length > MAX_PROPERTIES_BYTES) return undefined;
  facts[at] = {
    realTopic: topic.topicName,
    realQueueId: queueId,
    group: s.group ?? base.producerGroup,
    immunity: s.immunity,
  };
  // One literal shape for every MessageInput (SendInputBuilder.single's: the store reads them in a hot loop).
  return {
    topic: TRANS_HALF_TOPIC,
    queueId: HALF_QUEUE_ID,
    flag: e.flag,
    body: e.body,
    properties: NO_PROPERTIES,
    sysFlag:
      (e.sysFlag | (topic.multiTag ? MessageSysFlag.MULTI_TAGS : 0)) &
      ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE,
    bornTimestamp: e.bornTimestamp,
    bornHost: base.bornHost,
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    tagsCode: s.tagsCode,
    encodedProperties: joined,
    encodedPropertiesSuffix: base.cluster,
    keys: s.keys,
    uniqKey: s.uniqKey,
  };
}

interface Scanned {
  /** The pairs as stored: the text without WAIT and CLUSTER pairs, ended by \u0002. */
  pairs: string;
  tagsCode: number;
  keys: string | undefined;
  uniqKey: string | undefined;
  prepared: string | undefined;
  group: string | undefined;
  immunity: string | undefined;
}

/** Reused by scan (one half at a time; its fields are copied out before the next). */
const scanned: Scanned = {
  pairs: "",
  tagsCode: 0,
  keys: undefined,
  uniqKey: undefined,
  prepared: undefined,
  group: undefined,
  immunity: undefined,
};

/**
 * scanSendProperties (the stored pairs; TAGS, KEYS, UNIQ_KEY) and scanHalfPairs (TRAN_MSG,
 * PGROUP, CHECK_IMMUNITY_TIME_IN_SECONDS) in one pass, with their rules: a pair's name is the
 * text before its first \u0001; the last value of a name wins; WAIT and CLUSTER pairs are not
 * stored (one cut pair costs two slices; more rebuild the text).
 */
function scan(text: string): Scanned {
  const out = scanned;
  out.tagsCode = 0;
  out.keys = undefined;
  out.uniqKey = undefined;
  out.prepared = undefined;
  out.group = undefined;
  out.immunity = undefined;
  const len = text.length;
  let cuts = 0;
  let cutFrom = 0;
  let cutTo = 0;
  for (let start = 0; start < len; ) {
    let end = text.indexOf("\u0002", start);
    if (end < 0) end = len;
    const nv = text.indexOf("\u0001", start);
    if (nv > start && nv < end) {
      const v = nv + 1;
      switch (nv - start) {
        case 4:
          if (text.startsWith("TAGS", start)) out.tagsCode = hashRange(text, v, end);
          else if (text.startsWith("KEYS", start)) out.keys = text.slice(v, end);
          else if (text.startsWith("WAIT", start) && cuts++ === 0) {
            cutFrom = start;
            cutTo = Math.min(end + 1, len);
          }
          break;
        case 6:
          if (text.startsWith(PGROUP, start)) out.group = text.slice(v, end);
          break;
        case 7:
          if (text.startsWith("CLUSTER", start) && cuts++ === 0) {
            cutFrom = start;
            cutTo = Math.min(end + 1, len);
          }
          break;
        case 8:
          if (text.startsWith("UNIQ_KEY", start)) out.uniqKey = text.slice(v, end);
          else if (text.startsWith(TRAN_MSG, start)) out.prepared = text.slice(v, end);
          break;
        case IMMUNITY.length:
          if (text.startsWith(IMMUNITY, start)) out.immunity = text.slice(v, end);
          break;
      }
    }
    start = end + 1;
  }
  let pairs = text;
  if (cuts === 1) pairs = text.slice(0, cutFrom) + text.slice(cutTo);
  else if (cuts > 1) pairs = withoutDropped(text);
  if (pairs.length > 0 && pairs.charCodeAt(pairs.length - 1) !== 2) pairs += "\u0002";
  out.pairs = pairs;
  return out;
}

const PGROUP = MessageConst.PRODUCER_GROUP;
const TRAN_MSG = MessageConst.TRANSACTION_PREPARED;
const IMMUNITY = MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS;

/** `text` without its WAIT and CLUSTER pairs (sendProperties' rule). */
function withoutDropped(text: string): string {
  let s = "";
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\u0002", start);
    if (end < 0) end = text.length;
    const pair = text.slice(start, end + 1);
    if (!pair.startsWith("WAIT\u0001") && !pair.startsWith("CLUSTER\u0001")) s += pair;
    start = end + 1;
  }
  return s;
}

/** javaStringHashCode(text.slice(from, to)) without the slice (tagsHashCode of TAGS). */
function hashRange(text: string, from: number, to: number): number {
  let h = 0;
  for (let k = from; k < to; k++) h = (Math.imul(h, 31) + text.charCodeAt(k)) | 0;
  return h;
}

const NO_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>;
