import {
  MAX_PROPERTIES_BYTES,
  MessageConst,
  MessageSysFlag,
  ResponseCode,
  type SendMessageRequestHeader,
  transactionType,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import { TRANS_HALF_TOPIC } from "../TopicValidator.js";

/** Half messages live in queue 0 of RMQ_SYS_TRANS_HALF_TOPIC (RocketMQ's TransactionalMessageUtil). */
export const HALF_QUEUE_ID = 0;

/**
 * Whether a send is a transaction half message: the TRAN_MSG=true property (what RocketMQ's
 * broker looks at) or the PREPARED transaction bits of the sysFlag (what a raw client may
 * set alone). Either way the message must not be delivered before END_TRANSACTION.
 */
export function isHalfSend(header: SendMessageRequestHeader): boolean {
  if (transactionType(header.sysFlag) === MessageSysFlag.TRANSACTION_PREPARED_TYPE) return true;
  const p = header.properties;
  return p !== undefined && pairValue(p, MessageConst.TRANSACTION_PREPARED) === "true";
}

/** The value of the last pair named `name` in name\u0001value\u0002 text, or undefined. */
export function pairValue(pairs: string, name: string): string | undefined {
  let found: string | undefined;
  const head = `${name}\u0001`;
  let at = pairs.startsWith(head) ? 0 : -1;
  if (at < 0) {
    at = pairs.indexOf(`\u0002${head}`);
    if (at >= 0) at += 1;
  }
  while (at >= 0) {
    const from = at + head.length;
    let end = pairs.indexOf("\u0002", from);
    if (end < 0) end = pairs.length;
    found = pairs.slice(from, end);
    at = pairs.indexOf(`\u0002${head}`, end - 1);
    if (at >= 0) at += 1;
  }
  return found;
}

/** name\u0001value\u0002 text without any pair named `name` (the rest byte for byte as it was). */
export function withoutPair(pairs: string, name: string): string {
  const head = `${name}\u0001`;
  let at = 0;
  if (!pairs.startsWith(head)) {
    at = pairs.indexOf(`\u0002${head}`);
    if (at < 0) return pairs;
    at += 1;
  }
  // The usual case (a commit copy's TRAN_MSG): one such pair, cut out with two slices.
  const stop = pairs.indexOf("\u0002", at);
  if (stop < 0) return pairs.slice(0, at);
  if (!pairs.includes(`\u0002${head}`, stop)) return pairs.slice(0, at) + pairs.slice(stop + 1);
  let out = "";
  let start = 0;
  while (start < pairs.length) {
    let end = pairs.indexOf("\u0002", start);
    if (end < 0) end = pairs.length;
    if (!pairs.startsWith(head, start)) out += pairs.slice(start, Math.min(end + 1, pairs.length));
    start = end + 1;
  }
  return out;
}

/**
 * The send path's transaction branch (spec §8.8 step 1): for a half message, the single
 * message `build` makes is re-addressed to the half topic, queue 0, transaction bits NOT (so
 * the store gives it a queue entry there), REAL_TOPIC / REAL_QID keep where it goes on
 * commit, and PGROUP / TRAN_MSG are added when the producer left them out (the check-back
 * needs the group). Undefined for any other send. A batch cannot hold halves: refused.
 */
export function halfMessage<P extends { inputs: MessageInput[]; halfFacts?: HalfFacts }>(
  header: SendMessageRequestHeader,
  batch: boolean,
  build: () => P,
): P | undefined {
  if (!isHalfSend(header)) return undefined;
  if (batch) {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      "a batch cannot carry transaction half messages (TRAN_MSG / PREPARED sysFlag); send each half alone",
    );
  }
  const delayed = delayOf(header.properties);
  if (delayed) {
    // On commit the copy would be delivered at once: refused rather than silently undelayed
    // (Java's TransactionMQProducer clears DELAY itself; RocketMQ 5 keeps the two types apart).
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `a transaction half message cannot also be delayed (it carries ${delayed}); send it without a delay or delivery time`,
    );
  }
  const prepared = build();
  for (const m of prepared.inputs) prepared.halfFacts = toHalf(m, header.producerGroup);
  return prepared;
}

const DELAY_PROPERTIES = [
  MessageConst.DELAY_TIME_LEVEL,
  MessageConst.TIMER_DELIVER_MS,
  MessageConst.TIMER_DELAY_SEC,
  MessageConst.TIMER_DELAY_MS,
  MessageConst.START_DELIVER_TIME,
];

/** The first delay property set (DELAY above 0, any timer property), as name=value. */
function delayOf(pairs: string | undefined): string | undefined {
  // Every name looked for holds DELAY, TIMER_ or __START: most halves carry none of them.
  if (!pairs || !(pairs.includes("DELAY") || pairs.includes("TIMER_") || pairs.includes("__START")))
    return undefined;
  for (const name of DELAY_PROPERTIES) {
    const v = pairValue(pairs, name);
    if (v === undefined || v === "") continue;
    if (name === MessageConst.DELAY_TIME_LEVEL && !(Number(v) > 0)) continue;
    return `${name}=${v}`;
  }
  return undefined;
}

/**
 * What END_TRANSACTION needs of a half the send path built from encoded text, worked out while
 * toHalf reads that text anyway (handed to RecentHalves with the put, so it needs no second
 * look; not kept in a WeakMap by input: an entry per half made every scavenge walk ephemerons).
 */
export interface HalfFacts {
  realTopic: string;
  realQueueId: number;
  group: string;
  /** CHECK_IMMUNITY_TIME_IN_SECONDS as sent, if any. */
  immunity: string | undefined;
  /**
   * Set when HalfInput stored what the broker adds to a half (REAL_TOPIC, REAL_QID,
   * TRAN_MSG=true, CLUSTER) as a suffix cached per topic and queue: a copy stores the half's
   * pairs, then its own cached suffix — a commit's CLUSTER alone (RocketMQ's copy clears
   * REAL_TOPIC and REAL_QID), a discard's REAL_TOPIC, REAL_QID, CLUSTER — the same bytes as
   * cutting those pairs out of the half's text, with no string built.
   */
  commitSuffix: Buffer | undefined;
  discardSuffix: Buffer | undefined;
  /**
   * Where the half's own pairs (what is stored before the suffix) hold the only pair a commit
   * copy cuts from them, as string indices [cutFrom, cutTo) (equal: none): HalfInput saw every
   * pair and no REAL_TOPIC, REAL_QID or second TRAN_MSG. The copy then needs no search for
   * pairs to cut (keptRanges). -1 when not known.
   */
  cutFrom: number;
  cutTo: number;
}

/** Re-addresses `m` as a half; returns what it noted of an encoded half's pairs. */
function toHalf(m: MessageInput, producerGroup: string): HalfFacts | undefined {
  let facts: HalfFacts | undefined;
  let extra = `${MessageConst.REAL_TOPIC}\u0001${m.topic}\u0002${MessageConst.REAL_QUEUE_ID}\u0001${m.queueId}\u0002`;
  if (m.encodedProperties !== undefined) {
    const pairs =
      typeof m.encodedProperties === "string" ? m.encodedProperties : m.encodedProperties.toString();
    const seen = scanHalfPairs(pairs);
    if (seen.group === undefined) extra += `${MessageConst.PRODUCER_GROUP}\u0001${producerGroup}\u0002`;
    if (seen.prepared !== "true") extra += `${MessageConst.TRANSACTION_PREPARED}\u0001true\u0002`;
    const joined = pairs + extra;
    const suffixBytes = m.encodedPropertiesSuffix?.length ?? 0;
    // At most 3 UTF-8 bytes a UTF-16 unit: count exactly only when even that bound is too big.
    const bytes =
      3 * joined.length + suffixBytes <= MAX_PROPERTIES_BYTES
        ? 0
        : Buffer.byteLength(joined, "utf8") + suffixBytes;
    if (bytes > MAX_PROPERTIES_BYTES) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `the half message's properties take ${bytes} bytes with REAL_TOPIC/REAL_QID; at most ${MAX_PROPERTIES_BYTES}`,
      );
    }
    m.encodedProperties = joined;
    facts = {
      realTopic: m.topic,
      realQueueId: m.queueId,
      group: seen.group ?? producerGroup,
      immunity: seen.immunity,
      commitSuffix: undefined,
      discardSuffix: undefined,
      cutFrom: -1,
      cutTo: -1,
    };
  } else {
    const props = { ...m.properties };
    props[MessageConst.REAL_TOPIC] = m.topic;
    props[MessageConst.REAL_QUEUE_ID] = String(m.queueId);
    props[MessageConst.PRODUCER_GROUP] ??= producerGroup;
    props[MessageConst.TRANSACTION_PREPARED] = "true";
    m.properties = props;
  }
  m.topic = TRANS_HALF_TOPIC;
  m.queueId = HALF_QUEUE_ID;
  m.sysFlag &= ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE;
  return facts;
}

const PGROUP = MessageConst.PRODUCER_GROUP;
const TRAN_MSG = MessageConst.TRANSACTION_PREPARED;
const IMMUNITY = MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS;

/**
 * The last PGROUP, TRAN_MSG and CHECK_IMMUNITY_TIME_IN_SECONDS values of name\u0001value\u0002
 * text, in one pass (what pairValue finds for each).
 */
function scanHalfPairs(text: string): {
  group: string | undefined;
  prepared: string | undefined;
  immunity: string | undefined;
} {
  let group: string | undefined;
  let prepared: string | undefined;
  let immunity: string | undefined;
  const len = text.length;
  for (let start = 0; start < len; ) {
    let end = text.indexOf("\u0002", start);
    if (end < 0) end = len;
    const nv = text.indexOf("\u0001", start);
    if (nv > start && nv < end) {
      const n = nv - start;
      if (n === PGROUP.length && text.startsWith(PGROUP, start)) group = text.slice(nv + 1, end);
      else if (n === TRAN_MSG.length && text.startsWith(TRAN_MSG, start)) prepared = text.slice(nv + 1, end);
      else if (n === IMMUNITY.length && text.startsWith(IMMUNITY, start)) immunity = text.slice(nv + 1, end);
    }
    start = end + 1;
  }
  return { group, prepared, immunity };
}
