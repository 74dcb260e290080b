import {
  encodeProperties,
  MessageConst,
  type MessageExt,
  MessageSysFlag,
  tagsHashCode,
} from "@tidemq/protocol";
import { type MessageInput, RecordCopy } from "@tidemq/store";
import { TRANS_CHECK_MAX_TIME_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import type { Decision } from "./HalfLifecycle.js";
import { HALF_QUEUE_ID, pairValue } from "./HalfMessage.js";
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

/** Makes the object halfInfoOf returns from the half's facts (a HalfInfo, or one that is one). */
export type HalfInfoMaker<T extends HalfInfo> = (
  queueOffset: number,
  commitLogOffset: number,
  storeTimestamp: number,
  group: string,
  realTopic: string,
  realQueueId: number,
  uniqKey: string | undefined,
  immunityMs: number | undefined,
) => T;

function infoLiteral(
  queueOffset: number,
  commitLogOffset: number,
  storeTimestamp: number,
  group: string,
  realTopic: string,
  realQueueId: number,
  uniqKey: string | undefined,
  immunityMs: number | undefined,
): HalfInfo {
  return { queueOffset, commitLogOffset, storeTimestamp, group, realTopic, realQueueId, uniqKey, immunityMs };
}

/**
 * What the service knows of a half record, made by `make` (a plain HalfInfo by default; the
 * half table makes its pending entry directly), or undefined for a record that is no half.
 */
export function halfInfoOf(m: HalfRecord): HalfInfo | undefined;
export function halfInfoOf<T extends HalfInfo>(m: HalfRecord, make: HalfInfoMaker<T>): T | undefined;
export function halfInfoOf(m: HalfRecord, make: HalfInfoMaker<HalfInfo> = infoLiteral): HalfInfo | undefined {
  const f = m.encoded?.facts;
  if (f) {
    // A half the send path just stored: what toHalf found while building it (usually no
    // immunity: no Number() of undefined then).
    const immunity = f.immunity === undefined ? Number.NaN : Number(f.immunity);
    return make(
      m.queueOffset,
      m.commitLogOffset,
      m.storeTimestamp,
      f.group,
      f.realTopic,
      f.realQueueId,
      m.encoded!.uniqKey,
      Number.isFinite(immunity) && immunity > 0 ? immunity * 1000 : undefined,
    );
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
  return make(
    m.queueOffset,
    m.commitLogOffset,
    m.storeTimestamp,
    get(MessageConst.PRODUCER_GROUP) ?? "",
    realTopic,
    realQid,
    get(MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
    Number.isFinite(immunity) && immunity > 0 ? immunity * 1000 : undefined,
  );
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
 * offset, TRAN_MSG, REAL_TOPIC and REAL_QID left out as RocketMQ's EndTransactionProcessor
 * clears them; keys, tags, UNIQ_KEY, PGROUP, body and born fields kept, so the producer's
 * message id finds it); on discard a copy in TRANS_CHECK_MAX_TIME_TOPIC (REAL_TOPIC and
 * REAL_QID kept: they say where it was going).
 */
export function copyRecord(half: HalfRecord, decision: "commit" | "discard"): MessageInput {
  if (half.encoded) return copyOfEncoded(half, half.encoded, decision);
  const props: Record<string, string> = { ...half.properties };
  const commit = decision === "commit";
  const topic = commit ? (props[MessageConst.REAL_TOPIC] ?? "") : TRANS_CHECK_MAX_TIME_TOPIC;
  const queueId = commit ? Number(props[MessageConst.REAL_QUEUE_ID]) : 0;
  for (const name of commit ? COMMIT_DROPS : DISCARD_DROPS) delete props[name];
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

/** Properties a commit's copy leaves out (RocketMQ's EndTransactionProcessor clears them too). */
const COMMIT_DROPS = [
  MessageConst.TRANSACTION_PREPARED,
  MessageConst.REAL_TOPIC,
  MessageConst.REAL_QUEUE_ID,
] as const;
const DISCARD_DROPS = [MessageConst.TRANSACTION_PREPARED] as const;
const COMMIT_CUT = pairCut(COMMIT_DROPS);
const DISCARD_CUT = pairCut(DISCARD_DROPS);

/**
 * The record a commit stores for its half (copyRecord's), as the store can write it fastest:
 * for a half the send path just stored, a RecordCopy — the half's stored record spliced (its
 * body, body CRC and properties copied as bytes, the pairs COMMIT_DROPS names cut out) while
 * it is in the commit log's in-memory tail, else copyRecord's input (its fallback, the same
 * record). A half read back from the log gets copyRecord's input.
 */
export function commitCopyOf(half: HalfRecord): MessageInput | RecordCopy {
  const e = half.encoded;
  if (!e) return copyRecord(half, "commit");
  const suffixBytes = e.suffix?.length ?? 0;
  // The record holds the pairs as UTF-8 then the suffix: its properties are pairs.length +
  // suffix bytes long exactly when the pairs are ASCII, and only then are string indices
  // byte offsets (the store checks that length and stores the fallback otherwise).
  const sourceProps = e.pairs.length + suffixBytes;
  const f = e.facts;
  if (f !== undefined && f.cutFrom >= 0 && f.commitSuffix !== undefined && suffixBytes > 0) {
    // HalfInput noted where the one pair to cut is (the usual half: its TRAN_MSG): no search,
    // and the ranges (the pairs around it, then the suffix's CLUSTER tail, merged where they
    // meet, as the searched ones below) made at their final size.
    const from = sourceProps - f.commitSuffix.length;
    const keep = cutRanges(e.pairs.length, f.cutFrom, f.cutTo, from, sourceProps);
    return new CommitCopy(half, e, keep, sourceProps);
  }
  const keep = keptRanges(e.pairs, COMMIT_CUT);
  if (suffixBytes > 0) {
    // A HalfInput suffix (REAL_TOPIC, REAL_QID, [TRAN_MSG,] CLUSTER) keeps only its CLUSTER tail.
    const from = sourceProps - (e.facts?.commitSuffix?.length ?? suffixBytes);
    if (keep.length > 0 && keep[keep.length - 1] === from) keep[keep.length - 1] = sourceProps;
    else keep.push(from, sourceProps);
  }
  return new CommitCopy(half, e, keep, sourceProps);
}

/**
 * The kept ranges of pairs `len` characters long with [cutFrom, cutTo) cut out, then the
 * suffix range [from, to), joined to the last when it starts where that ends (what
 * keptRanges and commitCopyOf's suffix step give for the same cut).
 */
function cutRanges(len: number, cutFrom: number, cutTo: number, from: number, to: number): number[] {
  const head = cutFrom > 0;
  const tail = len > cutTo;
  const lastEnd = tail ? len : head ? cutFrom : -1;
  const n = (head ? 2 : 0) + (tail ? 2 : 0) + (lastEnd === from ? 0 : 2);
  const keep: number[] = new Array(n);
  let k = 0;
  if (head) {
    keep[k++] = 0;
    keep[k++] = cutFrom;
  }
  if (tail) {
    keep[k++] = cutTo;
    keep[k++] = len;
  }
  if (lastEnd === from) keep[k - 1] = to;
  else {
    keep[k++] = from;
    keep[k++] = to;
  }
  return keep;
}

/** commitCopyOf's RecordCopy: its fallback is copyRecord's input for the half. */
class CommitCopy extends RecordCopy {
  constructor(
    private readonly half: HalfRecord,
    e: EncodedProperties,
    keep: number[],
    sourceProps: number,
  ) {
    const f = e.facts;
    super(
      half.commitLogOffset,
      half.queueOffset,
      half.body.length,
      sourceProps,
      keep,
      f?.realTopic ?? encodedValue(e, MessageConst.REAL_TOPIC) ?? "",
      f?.realQueueId ?? Number(encodedValue(e, MessageConst.REAL_QUEUE_ID)),
      copySysFlag(half.sysFlag, true),
      half.commitLogOffset,
      e.tagsCode,
      e.keys,
      e.uniqKey,
    );
  }

  fallback(): MessageInput {
    return copyRecord(this.half, "commit");
  }
}

/** A copy's sysFlag: transaction bits COMMIT (commit) or NOT (discard), IPv4 hosts. */
function copySysFlag(halfSysFlag: number, commit: boolean): number {
  const sysFlag =
    (halfSysFlag & ~MessageSysFlag.TRANSACTION_ROLLBACK_TYPE) |
    (commit ? MessageSysFlag.TRANSACTION_COMMIT_TYPE : 0);
  return sysFlag & ~(MessageSysFlag.BORNHOST_V6 | MessageSysFlag.STOREHOSTADDRESS_V6);
}

/** Names of pairs to cut out of name\u0001value\u0002 text, with the text looked for (made once). */
export interface PairCut {
  /** name\u0001: a pair at the start. */
  readonly heads: readonly string[];
  /** \u0002name\u0001: a pair after another. */
  readonly inner: readonly string[];
}

export function pairCut(names: readonly string[]): PairCut {
  return { heads: names.map((n) => `${n}\u0001`), inner: names.map((n) => `\u0002${n}\u0001`) };
}

/** keptRanges' scratch: the cuts found, [from, to) pairs in order (no array per call). */
const CUTS = new Int32Array(64);

/**
 * The [from, to) ranges (string indices, ascending, apart) of name\u0001value\u0002 text left
 * when every pair `cut` names is cut out; the rest byte for byte as it was.
 */
export function keptRanges(pairs: string, cut: PairCut): number[] {
  const cuts = CUTS;
  let n = 0;
  for (let c = 0; c < cut.heads.length; c++) {
    const head = cut.heads[c]!;
    const inner = cut.inner[c]!;
    let at = 0;
    if (!pairs.startsWith(head)) {
      at = pairs.indexOf(inner);
      if (at >= 0) at += 1;
    }
    while (at >= 0) {
      // More pairs to cut than the scratch holds (never from our producers): the slow way.
      if (n === cuts.length) return keptRangesByPairs(pairs, cut);
      const end = pairs.indexOf("\u0002", at + head.length);
      const stop = end < 0 ? pairs.length : end + 1;
      // Insert [at, stop) in order (a few cuts at most).
      let k = n;
      n += 2;
      while (k > 0 && cuts[k - 2]! > at) {
        cuts[k] = cuts[k - 2]!;
        cuts[k + 1] = cuts[k - 1]!;
        k -= 2;
      }
      cuts[k] = at;
      cuts[k + 1] = stop;
      at = stop >= pairs.length ? -1 : pairs.indexOf(inner, stop - 1);
      if (at >= 0) at += 1;
    }
  }
  // Cuts are whole pairs, so they never overlap: ranges are the gaps between them.
  let m = 0;
  let from = 0;
  for (let i = 0; i < n; i += 2) {
    if (cuts[i]! > from) m += 2;
    from = cuts[i + 1]!;
  }
  if (pairs.length > from) m += 2;
  const keep: number[] = new Array(m);
  m = 0;
  from = 0;
  for (let i = 0; i < n; i += 2) {
    if (cuts[i]! > from) {
      keep[m++] = from;
      keep[m++] = cuts[i]!;
    }
    from = cuts[i + 1]!;
  }
  if (pairs.length > from) {
    keep[m++] = from;
    keep[m++] = pairs.length;
  }
  return keep;
}

/** keptRanges pair by pair (any number of pairs to cut). */
function keptRangesByPairs(pairs: string, cut: PairCut): number[] {
  const keep: number[] = [];
  for (let start = 0; start < pairs.length; ) {
    let end = pairs.indexOf("\u0002", start);
    end = end < 0 ? pairs.length : end + 1;
    if (!cut.heads.some((h) => pairs.startsWith(h, start))) {
      if (keep.length > 0 && keep[keep.length - 1] === start) keep[keep.length - 1] = end;
      else keep.push(start, end);
    }
    start = end;
  }
  return keep;
}

/** The text of `pairs` in the ranges keptRanges gave. */
function keptText(pairs: string, keep: readonly number[]): string {
  if (keep.length === 2 && keep[0] === 0 && keep[1] === pairs.length) return pairs;
  let out = "";
  for (let i = 0; i + 1 < keep.length; i += 2)
    out += pairs.slice(keep[i], Math.min(keep[i + 1]!, pairs.length));
  return out;
}

/**
 * copyRecord for a half the send path just stored: the same record, its properties built by
 * leaving the dropped pairs out of the half's text instead of parsing and encoding them again.
 */
function copyOfEncoded(half: HalfRecord, e: EncodedProperties, decision: "commit" | "discard"): MessageInput {
  const commit = decision === "commit";
  const f = e.facts;
  const topic = commit
    ? (f?.realTopic ?? encodedValue(e, MessageConst.REAL_TOPIC) ?? "")
    : TRANS_CHECK_MAX_TIME_TOPIC;
  const queueId = commit ? (f?.realQueueId ?? Number(encodedValue(e, MessageConst.REAL_QUEUE_ID))) : 0;
  return {
    topic,
    queueId,
    flag: half.flag,
    body: half.body,
    properties: NO_PROPERTIES,
    sysFlag: copySysFlag(half.sysFlag, commit),
    bornTimestamp: half.bornTimestamp,
    bornHost: half.bornHost,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: half.commitLogOffset,
    tagsCode: e.tagsCode,
    encodedProperties: keptText(e.pairs, keptRanges(e.pairs, commit ? COMMIT_CUT : DISCARD_CUT)),
    // A half HalfInput built holds REAL_TOPIC, REAL_QID and TRAN_MSG in its cached suffix: the
    // copy's own cached suffix stands for it.
    encodedPropertiesSuffix: f?.commitSuffix ? (commit ? f.commitSuffix : f.discardSuffix) : e.suffix,
    keys: e.keys,
    uniqKey: e.uniqKey,
  };
}

const NO_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>;
