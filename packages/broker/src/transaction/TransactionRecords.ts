import {
  encodeProperties,
  MessageConst,
  type MessageExt,
  MessageSysFlag,
  tagsHashCode,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { TRANS_CHECK_MAX_TIME_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import type { Decision } from "./HalfLifecycle.js";
import { HALF_QUEUE_ID, pairValue, withoutPair } from "./HalfMessage.js";
import type { EncodedProperties, HalfRecord } from "./RecentHalves.js";

/**
 * The records a transaction decision stores, as store inputs. Op records follow RocketMQ's
 * layout (topic RMQ_SYS_TRANS_OP_HALF_TOPIC, the half's queue id, tag "d", body = the half's
 * queue offset as decimal text) and add TRAN_OP naming the decision, so a restart knows a
 * commit from a rollback without looking anywhere else. A sent check-back is an op record
 * with tag "c" (RocketMQ readers skip tags other than "d").
 */

/** Property of an op record: commit | rollback | discard | check. */
export const TRAN_OP = "TRAN_OP";
export const OP_TAG_RESOLVED = "d";
export const OP_TAG_CHECK = "c";

/** What the service knows of a half it has read. */
export interface HalfInfo {
  queueOffset: number;
  commitLogOffset: number;
  storeTimestamp: number;
  group: string;
  realTopic: string;
  realQueueId: number;
  uniqKey: string | undefined;
  /** ms after its store time before the first check-back (CHECK_IMMUNITY_TIME_IN_SECONDS). */
  immunityMs: number | undefined;
}

export function halfInfoOf(m: HalfRecord): HalfInfo | undefined {
  const f = m.encoded?.facts;
  if (f) {
    // A half the send path just stored: what toHalf found while building it.
    const immunity = Number(f.immunity);
    return {
      queueOffset: m.queueOffset,
      commitLogOffset: m.commitLogOffset,
      storeTimestamp: m.storeTimestamp,
      group: f.group,
      realTopic: f.realTopic,
      realQueueId: f.realQueueId,
      uniqKey: m.encoded!.uniqKey,
      immunityMs: Number.isFinite(immunity) && immunity > 0 ? immunity * 1000 : undefined,
    };
  }
  // A half kept as encoded text without those: its pairs are read where they are, not parsed.
  const e = m.encoded;
  const get: (name: string) => string | undefined = e
    ? (name) => encodedValue(e, name)
    : (name) => m.properties[name];
  const realTopic = get(MessageConst.REAL_TOPIC);
  const realQid = Number(get(MessageConst.REAL_QUEUE_ID));
  if (!realTopic || !Number.isInteger(realQid) || realQid < 0) return undefined;
  const immunity = Number(get(MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS));
  return {
    queueOffset: m.queueOffset,
    commitLogOffset: m.commitLogOffset,
    storeTimestamp: m.storeTimestamp,
    group: get(MessageConst.PRODUCER_GROUP) ?? "",
    realTopic,
    realQueueId: realQid,
    uniqKey: get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
    immunityMs: Number.isFinite(immunity) && immunity > 0 ? immunity * 1000 : undefined,
  };
}

/** The last value of `name` in the stored properties (the suffix's pairs come last). */
function encodedValue(e: EncodedProperties, name: string): string | undefined {
  const inSuffix = e.suffix && e.suffix.length > 0 ? pairValue(suffixText(e.suffix), name) : undefined;
  return inSuffix ?? pairValue(e.pairs, name);
}

/** The suffix as text (the send path passes the same CLUSTER buffer every time: kept). */
let lastSuffix: Buffer | undefined;
let lastSuffixText = "";
function suffixText(b: Buffer): string {
  if (b !== lastSuffix) {
    lastSuffixText = b.toString("utf8");
    lastSuffix = b;
  }
  return lastSuffixText;
}

/** An op record of the given kind for the half at `halfOffset`. */
export function opRecord(
  halfOffset: number,
  op: Decision | "check",
  host: { host: string; port: number },
  now: number,
): MessageInput {
  return opRecordOf(String(halfOffset), op, host, now);
}

/**
 * Bytes of offsets one op record carries at most (RocketMQ 5's `transactionOpMsgMaxSize`
 * default): a turn's decisions of one kind share op records of up to this size.
 */
export const OP_BODY_MAX = 4096;

/**
 * The op records of several halves decided alike: as RocketMQ 5 writes them, the half
 * offsets joined by "," in one body (up to OP_BODY_MAX bytes each), so a turn that decides
 * many halves stores one op record instead of one per half. A single offset is the old
 * one-offset body, byte for byte.
 */
export function opRecords(
  halfOffsets: readonly number[],
  op: Decision | "check",
  host: { host: string; port: number },
  now: number,
): MessageInput[] {
  const out: MessageInput[] = [];
  let body = "";
  for (const o of halfOffsets) {
    const s = String(o);
    if (body.length > 0 && body.length + 1 + s.length > OP_BODY_MAX) {
      out.push(opRecordOf(body, op, host, now));
      body = "";
    }
    body = body.length > 0 ? `${body}${OP_SEPARATOR}${s}` : s;
  }
  if (body.length > 0) out.push(opRecordOf(body, op, host, now));
  return out;
}

/** Separator of half offsets in an op record's body (RocketMQ 5's TransactionalMessageUtil.OFFSET_SEPARATOR). */
const OP_SEPARATOR = ",";

function opRecordOf(
  body: string,
  op: Decision | "check",
  host: { host: string; port: number },
  now: number,
): MessageInput {
  const tag = op === "check" ? OP_TAG_CHECK : OP_TAG_RESOLVED;
  return {
    topic: TRANS_OP_HALF_TOPIC,
    queueId: HALF_QUEUE_ID,
    flag: 0,
    body: Buffer.from(body, "latin1"),
    properties: NO_PROPERTIES,
    sysFlag: 0,
    bornTimestamp: now,
    bornHost: host,
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    tagsCode: tagsHashCode(tag),
    // One per transaction: the same few pairs every time, encoded once here.
    encodedProperties: OP_PAIRS[op],
    keys: undefined,
    uniqKey: undefined,
  };
}

/** An op record's properties: TAGS (d, or c for a check) then TRAN_OP, as encodeProperties writes them. */
const OP_PAIRS: Record<Decision | "check", string> = {
  commit: encodeProperties({ [MessageConst.TAGS]: OP_TAG_RESOLVED, [TRAN_OP]: "commit" }),
  rollback: encodeProperties({ [MessageConst.TAGS]: OP_TAG_RESOLVED, [TRAN_OP]: "rollback" }),
  discard: encodeProperties({ [MessageConst.TAGS]: OP_TAG_RESOLVED, [TRAN_OP]: "discard" }),
  check: encodeProperties({ [MessageConst.TAGS]: OP_TAG_CHECK, [TRAN_OP]: "check" }),
};

/**
 * Reads an op record back: the half offsets it names (one, or several joined by "," as
 * RocketMQ 5 and opRecords write them) and the op, or undefined for a record we did not write.
 */
export function opOf(m: MessageExt): { halves: number[]; op: Decision | "check" } | undefined {
  const halves = offsetsOf(m.body.toString("latin1"));
  if (!halves) return undefined;
  const op = m.properties[TRAN_OP];
  if (op === "commit" || op === "rollback" || op === "discard" || op === "check") return { halves, op };
  // A RocketMQ-style op without TRAN_OP: resolved, the way unknown (treated as a rollback: not delivered by us).
  if (m.properties[MessageConst.TAGS] === OP_TAG_RESOLVED) return { halves, op: "rollback" };
  return undefined;
}

/** "12" or "12,13,17" (RocketMQ 5 also ends each offset with ","): the offsets, or undefined if any is not one. */
function offsetsOf(text: string): number[] | undefined {
  const parts = text.split(OP_SEPARATOR);
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  const out: number[] = new Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const n = p.length > 0 && p.length <= 16 && /^[0-9]+$/.test(p) ? Number(p) : Number.NaN;
    if (!Number.isSafeInteger(n)) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * The record a decision stores beside its op record: on commit the message in its real topic
 * and queue (transaction bits COMMIT, preparedTransactionOffset = the half's commit-log
 * offset, TRAN_MSG cleared; keys, tags, UNIQ_KEY, body and born fields kept, so the
 * producer's message id finds it); on discard a copy in TRANS_CHECK_MAX_TIME_TOPIC.
 */
export function copyRecord(half: HalfRecord, decision: "commit" | "discard"): MessageInput {
  if (half.encoded) return copyOfEncoded(half, half.encoded, decision);
  const props: Record<string, string> = { ...half.properties };
  delete props[MessageConst.TRANSACTION_PREPARED];
  const commit = decision === "commit";
  const topic = commit ? (props[MessageConst.REAL_TOPIC] ?? "") : TRANS_CHECK_MAX_TIME_TOPIC;
  const queueId = commit ? Number(props[MessageConst.REAL_QUEUE_ID]) : 0;
  const sysFlag =
    (half.sysFlag & ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE) |
    (commit ? MessageSysFlag.TRANSACTION_COMMIT_TYPE : 0);
  return {
    topic,
    queueId,
    flag: half.flag,
    body: half.body,
    properties: props,
    sysFlag: sysFlag & ~(MessageSysFlag.BORNHOST_V6 | MessageSysFlag.STOREHOSTADDRESS_V6),
    bornTimestamp: half.bornTimestamp,
    bornHost: half.bornHost,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: half.commitLogOffset,
    tagsCode: tagsHashCode(props[MessageConst.TAGS]),
  };
}

/**
 * copyRecord for a half the send path just stored: the same record, its properties built by
 * leaving the TRAN_MSG pair out of the half's text instead of parsing and encoding them again.
 */
function copyOfEncoded(half: HalfRecord, e: EncodedProperties, decision: "commit" | "discard"): MessageInput {
  const commit = decision === "commit";
  const f = e.facts;
  const topic = commit
    ? (f?.realTopic ?? encodedValue(e, MessageConst.REAL_TOPIC) ?? "")
    : TRANS_CHECK_MAX_TIME_TOPIC;
  const queueId = commit ? (f?.realQueueId ?? Number(encodedValue(e, MessageConst.REAL_QUEUE_ID))) : 0;
  const sysFlag =
    (half.sysFlag & ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE) |
    (commit ? MessageSysFlag.TRANSACTION_COMMIT_TYPE : 0);
  return {
    topic,
    queueId,
    flag: half.flag,
    body: half.body,
    properties: NO_PROPERTIES,
    sysFlag: sysFlag & ~(MessageSysFlag.BORNHOST_V6 | MessageSysFlag.STOREHOSTADDRESS_V6),
    bornTimestamp: half.bornTimestamp,
    bornHost: half.bornHost,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: half.commitLogOffset,
    tagsCode: e.tagsCode,
    // A half HalfInput built keeps TRAN_MSG in its suffix: its pairs are the copy's as they are.
    encodedProperties: f?.copySuffix ? e.pairs : withoutPair(e.pairs, MessageConst.TRANSACTION_PREPARED),
    encodedPropertiesSuffix: f?.copySuffix ?? e.suffix,
    keys: e.keys,
    uniqKey: e.uniqKey,
  };
}

const NO_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>;
