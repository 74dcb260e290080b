import {
  batchEntryBounds,
  MAX_PROPERTIES_BYTES,
  type RawBuffer,
  ResponseCode,
  readInt32,
  tagsHashCode,
} from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { fail } from "./responses.js";

/**
 * The properties of a send as the commit log stores them, worked out by scanning the
 * request's text or bytes once instead of parsing them into an object and encoding that
 * again (the broker's hottest path). Only the properties the broker acts on are picked out.
 */
export interface SendProperties {
  /**
   * The request's pairs as stored, each ended by \u0002, without WAIT and CLUSTER: the
   * broker's own CLUSTER pair is stored after them.
   */
  pairs: string;
  /** tagsHashCode of TAGS, hashed in place (no string made); undefined without TAGS. */
  tagsCode: number | undefined;
  keys: string | undefined;
  uniqKey: string | undefined;
  delay: string | undefined;
  transactionPrepared: string | undefined;
  startDeliverTime: string | undefined;
  timerDeliverMs: string | undefined;
  timerDelaySec: string | undefined;
  timerDelayMs: string | undefined;
}

const NV = 1; // \u0001 between name and value
const PS = 2; // \u0002 after each pair

/**
 * Scans a SEND_MESSAGE(_V2) properties string. The stored pairs are the text itself (ended
 * by \u0002) less any WAIT and CLUSTER pair: the usual text, with one WAIT, costs two
 * slices. Other pairs are stored as they came, as RocketMQ stores them: a pair without a
 * name is skipped by every reader, and of a name seen twice readers (and the picked fields
 * here) keep the last value.
 */
export function scanSendProperties(text: string | undefined): SendProperties {
  const out: SendProperties = {
    pairs: "",
    tagsCode: undefined,
    keys: undefined,
    uniqKey: undefined,
    delay: undefined,
    transactionPrepared: undefined,
    startDeliverTime: undefined,
    timerDeliverMs: undefined,
    timerDelaySec: undefined,
    timerDelayMs: undefined,
  };
  if (!text) return out;
  const len = text.length;
  let cuts = 0;
  let cutFrom = 0;
  let cutTo = 0;
  for (let start = 0; start < len; ) {
    let end = text.indexOf("\u0002", start);
    if (end < 0) end = len;
    if (!pickPair(text, start, end, out) && cuts++ === 0) {
      cutFrom = start;
      cutTo = Math.min(end + 1, len);
    }
    start = end + 1;
  }
  let pairs = text;
  if (cuts === 1) pairs = text.slice(0, cutFrom) + text.slice(cutTo);
  else if (cuts > 1) pairs = withoutDropped(text);
  if (pairs.length > 0 && pairs.charCodeAt(pairs.length - 1) !== PS) pairs += "\u0002";
  out.pairs = pairs;
  return out;
}

/**
 * Records a picked-out property of the pair text[start, end); false for a pair the stored
 * form leaves out (WAIT, CLUSTER). A name is recognised by its \u0001 being right after
 * it: the names looked for hold no \u0001, so a match is the pair's name.
 */
function pickPair(text: string, start: number, end: number, out: SendProperties): boolean {
  const n = end - start;
  if (n > 4 && text.charCodeAt(start + 4) === NV) {
    if (text.startsWith("TAGS", start)) out.tagsCode = hashRange(text, start + 5, end);
    else if (text.startsWith("KEYS", start)) out.keys = text.slice(start + 5, end);
    else if (text.startsWith("WAIT", start)) return false;
  } else if (n > 8 && text.charCodeAt(start + 8) === NV) {
    if (text.startsWith("UNIQ_KEY", start)) out.uniqKey = text.slice(start + 9, end);
    else if (text.startsWith("TRAN_MSG", start)) out.transactionPrepared = text.slice(start + 9, end);
  } else if (n > 5 && text.charCodeAt(start + 5) === NV) {
    if (text.startsWith("DELAY", start)) out.delay = text.slice(start + 6, end);
  } else if (n > 7 && text.charCodeAt(start + 7) === NV) {
    if (text.startsWith("CLUSTER", start)) return false;
  } else if (n > 16 && text.charCodeAt(start + 16) === NV) {
    if (text.startsWith("TIMER_DELIVER_MS", start)) out.timerDeliverMs = text.slice(start + 17, end);
  } else if (n > 18 && text.charCodeAt(start + 18) === NV) {
    if (text.startsWith("__STARTDELIVERTIME", start)) out.startDeliverTime = text.slice(start + 19, end);
  } else if (n > 15 && text.charCodeAt(start + 15) === NV) {
    if (text.startsWith("TIMER_DELAY_SEC", start)) out.timerDelaySec = text.slice(start + 16, end);
  } else if (n > 14 && text.charCodeAt(start + 14) === NV) {
    if (text.startsWith("TIMER_DELAY_MS", start)) out.timerDelayMs = text.slice(start + 15, end);
  }
  return true;
}

/** `text` without its WAIT and CLUSTER pairs (what a stored record never carries). */
export function withoutDropped(text: string): string {
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
export function hashRange(text: string, from: number, to: number): number {
  let h = 0;
  for (let k = from; k < to; k++) h = (Math.imul(h, 31) + text.charCodeAt(k)) | 0;
  return h;
}

/** What every entry of one batch request shares. */
export type BatchBase = Pick<
  MessageInput,
  "topic" | "queueId" | "sysFlag" | "bornTimestamp" | "bornHost" | "reconsumeTimes"
>;

/**
 * Splits a batch body (per entry: size · magic · crc · flag · bodyLength · body ·
 * propertiesLength · properties, spec §4.2) into store inputs, checked as decodeBatchBody
 * checks it. An entry's stored properties are its own pairs (a view into the body, not a
 * copy, unless a WAIT pair has to be cut out), then `suffix` (the request's encoded
 * properties): stored last, the request's values win for readers, as in RocketMQ's
 * MessageExtBatch encoding. `tagsCode`, `keys` and `uniqKey` are the entry's own.
 */
export function scanBatchBody(
  buf: Buffer,
  suffix: Buffer,
  maxEntries: number,
  base: BatchBase,
): MessageInput[] {
  const bounds = entryBounds(buf, maxEntries);
  const n = bounds.length / 2;
  const out: MessageInput[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const p = bounds[2 * k]!;
    const end = p + bounds[2 * k + 1]!;
    const bodyEnd = p + 20 + readInt32(buf, p + 16);
    // The same literal shape as every other MessageInput (the store reads them in a hot loop).
    const m: MessageInput = {
      topic: base.topic,
      queueId: base.queueId,
      flag: readInt32(buf, p + 12),
      body: buf.subarray(p + 20, bodyEnd),
      properties: NO_PROPERTIES,
      sysFlag: base.sysFlag,
      bornTimestamp: base.bornTimestamp,
      bornHost: base.bornHost,
      reconsumeTimes: base.reconsumeTimes,
      preparedTransactionOffset: 0,
      tagsCode: 0,
      encodedProperties: EMPTY,
      encodedPropertiesSuffix: suffix,
      keys: undefined,
      uniqKey: undefined,
    };
    const from = bodyEnd + 2;
    if (scanEntryProperties(buf, from, end, m)) m.encodedProperties = buf.subarray(from, end);
    else {
      m.encodedProperties = joinedProperties(buf, from, end, suffix);
      m.encodedPropertiesSuffix = undefined;
    }
    const total = m.encodedProperties.length + (m.encodedPropertiesSuffix?.length ?? 0);
    if (total > MAX_PROPERTIES_BYTES) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `the message properties take ${total} bytes; at most ${MAX_PROPERTIES_BYTES}`,
      );
    }
    out[k] = m;
  }
  return out;
}

/** `properties` of inputs whose stored properties are given pre-encoded (never read). */
export const NO_PROPERTIES: Record<string, string> = Object.freeze({}) as Record<string, string>;
const EMPTY = Buffer.alloc(0);

/** Start and size of every entry (batchEntryBounds), and the broker's count limits. */
function entryBounds(buf: Buffer, maxEntries: number): number[] {
  const bounds = batchEntryBounds(buf);
  const n = bounds.length / 2;
  if (n === 0) fail(ResponseCode.MESSAGE_ILLEGAL, "the batch is empty");
  if (n > maxEntries) {
    fail(ResponseCode.MESSAGE_ILLEGAL, `the batch has ${n} messages; at most ${maxEntries}`);
  }
  return bounds;
}

/**
 * Picks TAGS, KEYS and UNIQ_KEY of buf[from, to) into `view` and refuses a DELAY above 0
 * (a batch cannot be delayed); true when the bytes can be stored as they are (no WAIT,
 * ended by \u0002 or empty). A pair without a name is stored as it came, as RocketMQ does:
 * every reader skips it. \u0001 and \u0002 never occur inside a UTF-8 multi-byte
 * sequence, so a byte scan finds the pairs a parse of the text finds; names are recognised
 * by where their \u0001 is, so only the pair ends are searched for.
 */
function scanEntryProperties(buf: Buffer, from: number, to: number, view: MessageInput): boolean {
  let clean = from === to || buf[to - 1] === PS;
  let start = from;
  while (start < to) {
    let end = buf.indexOf(PS, start);
    if (end < 0 || end > to) end = to;
    if (!pickEntryPair(buf, start, end, view)) clean = false;
    start = end + 1;
  }
  return clean;
}

/** The pairs of buf[from, to) other than WAIT, each ended by \u0002, then `suffix`. */
function joinedProperties(buf: Buffer, from: number, to: number, suffix: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = from;
  while (start < to) {
    let end = buf.indexOf(PS, start);
    if (end < 0 || end > to) end = to;
    const wait =
      end - start > 4 && buf[start + 4] === NV && buf[start] === 0x57 && isName(buf, start, "WAIT");
    if (end > start && !wait) parts.push(buf.subarray(start, end), SEPARATOR);
    start = end + 1;
  }
  parts.push(suffix);
  return Buffer.concat(parts);
}

const SEPARATOR = Buffer.from([PS]);

/** Picks TAGS / KEYS / UNIQ_KEY of the pair buf[start, end), checks DELAY; false for WAIT (not stored). */
function pickEntryPair(buf: Buffer, start: number, end: number, view: MessageInput): boolean {
  const c0 = buf[start];
  if (start + 4 < end && buf[start + 4] === NV) {
    if (c0 === 0x54 && isName(buf, start, "TAGS")) view.tagsCode = tagsHashCodeOf(buf, start + 5, end);
    else if (c0 === 0x4b && isName(buf, start, "KEYS"))
      view.keys = (buf as RawBuffer).utf8Slice(start + 5, end);
    else if (c0 === 0x57 && isName(buf, start, "WAIT")) return false;
  } else if (start + 8 < end && buf[start + 8] === NV) {
    if (c0 === 0x55 && isName(buf, start, "UNIQ_KEY"))
      view.uniqKey = (buf as RawBuffer).utf8Slice(start + 9, end);
  } else if (start + 5 < end && buf[start + 5] === NV && c0 === 0x44 && isName(buf, start, "DELAY")) {
    if (Number(buf.toString("utf8", start + 6, end)) > 0) {
      fail(ResponseCode.MESSAGE_ILLEGAL, "a batch message cannot carry a delay level");
    }
  } else if (c0 === 0x54 || c0 === 0x5f) {
    refuseBatchTimer(buf, start, end);
  }
  return true;
}

/** A batch entry with a timer property (TIMER_* / __STARTDELIVERTIME) is refused: timers are per message. */
function refuseBatchTimer(buf: Buffer, start: number, end: number): void {
  for (const name of BATCH_TIMER_NAMES) {
    const n = name.length;
    if (
      start + n < end &&
      buf[start + n] === NV &&
      isName(buf, start, name) &&
      buf[start] === name.charCodeAt(0)
    ) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `a batch message cannot carry a delivery time (${name}): send timer messages one by one`,
      );
    }
  }
}

const BATCH_TIMER_NAMES = ["TIMER_DELIVER_MS", "TIMER_DELAY_SEC", "TIMER_DELAY_MS", "__STARTDELIVERTIME"];

/**
 * tagsHashCode of the text buf[from, to): Java's String#hashCode runs over UTF-16 units,
 * which for ASCII are the bytes themselves, so only other text is decoded first.
 */
function tagsHashCodeOf(buf: Buffer, from: number, to: number): number {
  let h = 0;
  for (let k = from; k < to; k++) {
    const c = buf[k]!;
    if (c >= 0x80) return tagsHashCode(buf.toString("utf8", from, to));
    h = (Math.imul(h, 31) + c) | 0;
  }
  return h;
}

function isName(buf: Buffer, start: number, name: string): boolean {
  for (let k = 1; k < name.length; k++) if (buf[start + k] !== name.charCodeAt(k)) return false;
  return true;
}
