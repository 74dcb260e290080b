import {
  type HalfBatchEntry,
  MAX_PROPERTIES_BYTES,
  MessageConst,
  MessageSysFlag,
  transactionType,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { hashRange, NO_PROPERTIES, withoutDropped } from "../processors/sendProperties.js";
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
  /** Per queue id, the stored suffixes of its halves and their copies (built on first use). */
  suffixes: Array<HalfSuffixes | undefined>;
  /** The CLUSTER pair `suffixes` were built with. */
  cluster: Buffer | undefined;
}

/**
 * What is stored after a half's own pairs when the producer named its group (PGROUP), the
 * same for every half of one topic and queue: REAL_TOPIC, REAL_QID, CLUSTER (`half`: the
 * producer's TRAN_MSG=true stays where it sent it), or REAL_TOPIC, REAL_QID, TRAN_MSG=true,
 * CLUSTER (`halfTran`: its last TRAN_MSG is not "true"), as the full path appends them; and
 * after its copies' pairs: a commit's CLUSTER, a discard's REAL_TOPIC, REAL_QID, CLUSTER.
 */
interface HalfSuffixes {
  half: Buffer;
  halfTran: Buffer;
  commit: Buffer;
  discard: Buffer;
}

function suffixesOf(topic: HalfTopic, queueId: number, cluster: Buffer): HalfSuffixes {
  if (topic.cluster !== cluster) {
    topic.suffixes = [];
    topic.cluster = cluster;
  }
  let out = topic.suffixes[queueId];
  if (out === undefined) {
    const real = Buffer.from(
      `${MessageConst.REAL_TOPIC}\u0001${topic.topicName}\u0002${MessageConst.REAL_QUEUE_ID}\u0001${queueId}\u0002`,
      "utf8",
    );
    const tran = Buffer.from(`${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`, "latin1");
    out = {
      half: Buffer.concat([real, cluster]),
      halfTran: Buffer.concat([real, tran, cluster]),
      commit: cluster,
      discard: Buffer.concat([real, cluster]),
    };
    topic.suffixes[queueId] = out;
  }
  return out;
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
  const prepared = transactionType(e.sysFlag) === MessageSysFlag.TRANSACTION_PREPARED_TYPE;
  // The full path's text, TRAN_MSG where the producer put it. With PGROUP sent (our producer
  // and Java's send it), every pair the broker adds is the same for the topic and queue:
  // stored as a cached suffix after the producer's pairs, which are then its properties text
  // itself when it holds no WAIT or CLUSTER pair (no string built per half).
  const s = scan(text, base.producerGroup);
  if (!prepared && !s.prepared) return undefined;
  let pairs = s.pairs;
  let suffix: Buffer;
  let sx: HalfSuffixes | undefined;
  if (s.group !== undefined) {
    sx = suffixesOf(topic, queueId, base.cluster);
    suffix = s.prepared ? sx.half : sx.halfTran;
  } else {
    // No PGROUP (a raw client): what the broker adds goes into the pairs.
    pairs += `${MessageConst.REAL_TOPIC}\u0001${topic.topicName}\u0002${MessageConst.REAL_QUEUE_ID}\u0001${queueId}\u0002${MessageConst.PRODUCER_GROUP}\u0001${base.producerGroup}\u0002`;
    if (!s.prepared) pairs += `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`;
    suffix = base.cluster;
  }
  // The one pair a commit copy cuts from the stored pairs, found by the scan: known only when
  // the pairs are the text as sent (nothing cut or added), with no REAL_* pair and at most
  // one TRAN_MSG pair; otherwise the copy searches (keptRanges).
  const known = sx !== undefined && pairs === text && !s.real && s.trans <= 1;
  // At most 3 UTF-8 bytes a UTF-16 unit: anything that could come near the limit is counted
  // (and refused, if it must be) by the full path.
  if (3 * pairs.length + suffix.length > MAX_PROPERTIES_BYTES) return undefined;
  facts[at] = {
    realTopic: topic.topicName,
    realQueueId: queueId,
    group: s.group ?? base.producerGroup,
    immunity: s.immunity,
    commitSuffix: sx?.commit,
    discardSuffix: sx?.discard,
    cutFrom: known ? (s.trans === 1 ? s.tranFrom : 0) : -1,
    cutTo: known ? (s.trans === 1 ? s.tranTo : 0) : -1,
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
    encodedProperties: pairs,
    encodedPropertiesSuffix: suffix,
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
  /** The last TRAN_MSG value is "true". */
  prepared: boolean;
  group: string | undefined;
  immunity: string | undefined;
  /** A REAL_TOPIC or REAL_QID pair was sent (a commit copy cuts it). */
  real: boolean;
  /** TRAN_MSG pairs sent, and [tranFrom, tranTo) the text of the last (its \u0002 included). */
  trans: number;
  tranFrom: number;
  tranTo: number;
}

/** Reused by scan (one half at a time; its fields are copied out before the next). */
const scanned: Scanned = {
  pairs: "",
  tagsCode: 0,
  keys: undefined,
  uniqKey: undefined,
  prepared: false,
  group: undefined,
  immunity: undefined,
  real: false,
  trans: 0,
  tranFrom: 0,
  tranTo: 0,
};

/** Start and end of each pair cut out of the stored text (reused; more than 8 rebuild the text). */
const cutAt = new Int32Array(16);

/**
 * scanSendProperties (the stored pairs; TAGS, KEYS, UNIQ_KEY) and scanHalfPairs (TRAN_MSG,
 * PGROUP, CHECK_IMMUNITY_TIME_IN_SECONDS) in one pass, with their rules: a pair's name is the
 * text before its first \u0001; the last value of a name wins; WAIT and CLUSTER pairs are not
 * stored. A PGROUP equal to `group` is given as that string.
 */
function scan(text: string, group: string): Scanned {
  const out = scanned;
  out.tagsCode = 0;
  out.keys = undefined;
  out.uniqKey = undefined;
  out.prepared = false;
  out.group = undefined;
  out.immunity = undefined;
  out.real = false;
  out.trans = 0;
  const len = text.length;
  let cuts = 0;
  for (let start = 0; start < len; ) {
    let end = text.indexOf("\u0002", start);
    if (end < 0) end = len;
    const nv = text.indexOf("\u0001", start);
    let cut = false;
    if (nv > start && nv < end) {
      const v = nv + 1;
      switch (nv - start) {
        case 4:
          if (text.startsWith("TAGS", start)) out.tagsCode = hashRange(text, v, end);
          else if (text.startsWith("KEYS", start)) out.keys = text.slice(v, end);
          else cut = text.startsWith("WAIT", start);
          break;
        case 6:
          // Usually the request's own group: that string, not a copy of it.
          if (text.startsWith(PGROUP, start))
            out.group = end - v === group.length && text.startsWith(group, v) ? group : text.slice(v, end);
          break;
        case 7:
          cut = text.startsWith("CLUSTER", start);
          break;
        case 8:
          if (text.startsWith("UNIQ_KEY", start)) out.uniqKey = text.slice(v, end);
          else if (text.startsWith(TRAN_MSG, start)) {
            out.prepared = end - v === 4 && text.startsWith("true", v);
            out.trans++;
            out.tranFrom = start;
            out.tranTo = Math.min(end + 1, len);
          } else if (text.startsWith(REAL_QID, start)) out.real = true;
          break;
        case REAL_TOPIC.length:
          if (text.startsWith(REAL_TOPIC, start)) out.real = true;
          break;
        case IMMUNITY.length:
          if (text.startsWith(IMMUNITY, start)) out.immunity = text.slice(v, end);
          break;
      }
    }
    if (cut) {
      if (cuts < 8) {
        cutAt[2 * cuts] = start;
        cutAt[2 * cuts + 1] = Math.min(end + 1, len);
      }
      cuts++;
    }
    start = end + 1;
  }
  let pairs = text;
  if (cuts > 8) pairs = withoutDropped(text);
  else if (cuts > 0) {
    pairs = text.slice(0, cutAt[0]);
    for (let c = 0; c < cuts; c++)
      pairs += text.slice(cutAt[2 * c + 1], c + 1 < cuts ? cutAt[2 * c + 2] : len);
  }
  if (pairs.length > 0 && pairs.charCodeAt(pairs.length - 1) !== 2) pairs += "\u0002";
  out.pairs = pairs;
  return out;
}

const PGROUP = MessageConst.PRODUCER_GROUP;
const TRAN_MSG = MessageConst.TRANSACTION_PREPARED;
const IMMUNITY = MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS;
const REAL_TOPIC = MessageConst.REAL_TOPIC;
const REAL_QID = MessageConst.REAL_QUEUE_ID;
