/**
 * SEND_HALF_BATCH (TideMQ's request 9111, see TransactionRequestCode): the transaction half
 * messages a producer sends in one event-loop turn to one broker, in one request. RocketMQ has
 * no such request (it refuses a MessageBatch of halves); each half here is still its own send —
 * its own topic, queue, properties and result — only the request is shared.
 *
 * Request: ext fields `producerGroup`, `defaultTopic`, `defaultTopicQueueNums`; body = entries,
 * each: u16 topic length, topic (UTF-8), i32 queueId, i32 sysFlag, i64 bornTimestamp, i32 flag,
 * i32 properties length, properties (UTF-8 name\u0001value\u0002 text), i32 body length, body.
 * Answer body = `encodeHalfBatchResults`: one result per entry, in order.
 */

import { readLong, writeLong } from "./long.js";

/** One half of a SEND_HALF_BATCH: the SEND_MESSAGE_V2 header fields that differ per message. */
export interface HalfBatchEntry {
  topic: string;
  queueId: number;
  sysFlag: number;
  bornTimestamp: number;
  flag: number;
  /** Encoded properties text ("" for none). */
  properties: string;
  body: Buffer;
}

/** One entry's answer: a send response's code, remark and (when stored) msgId, queueId, queueOffset. */
export interface HalfBatchResult {
  code: number;
  remark?: string;
  msgId?: string;
  queueId?: number;
  queueOffset?: number;
}

/** Most entries in one SEND_HALF_BATCH (a bound for the broker, not a protocol limit). */
export const MAX_HALF_BATCH = 1024;

/** Bytes of an entry besides its topic, properties and body. */
const FIXED_BYTES = 2 + 4 + 4 + 8 + 4 + 4 + 4;

/** Encoded size of one entry (topic and properties counted as UTF-8). */
export function halfBatchEntryBytes(e: HalfBatchEntry): number {
  return (
    FIXED_BYTES + Buffer.byteLength(e.topic, "utf8") + Buffer.byteLength(e.properties, "utf8") + e.body.length
  );
}

export function encodeHalfBatch(entries: readonly HalfBatchEntry[]): Buffer {
  let total = 0;
  for (const e of entries) total += halfBatchEntryBytes(e);
  const buf = Buffer.allocUnsafe(total);
  let p = 0;
  for (const e of entries) {
    const topicLen = buf.write(e.topic, p + 2, "utf8");
    if (topicLen > 0xffff) throw new RangeError(`topic of ${topicLen} bytes cannot be encoded`);
    buf.writeUInt16BE(topicLen, p);
    p += 2 + topicLen;
    buf.writeInt32BE(e.queueId, p);
    buf.writeInt32BE(e.sysFlag, p + 4);
    writeLong(buf, e.bornTimestamp, p + 8);
    buf.writeInt32BE(e.flag, p + 16);
    const propsLen = e.properties.length === 0 ? 0 : buf.write(e.properties, p + 24, "utf8");
    buf.writeInt32BE(propsLen, p + 20);
    p += 24 + propsLen;
    buf.writeInt32BE(e.body.length, p);
    e.body.copy(buf, p + 4);
    p += 4 + e.body.length;
  }
  return buf;
}

/**
 * The entries of a SEND_HALF_BATCH body (bodies are views of `body`, not copies). Throws on a
 * body that is not whole entries or holds more than MAX_HALF_BATCH: nothing of such a request
 * can be trusted, so it is refused as a whole.
 */
export function decodeHalfBatch(body: Buffer | undefined): HalfBatchEntry[] {
  if (!body || body.length === 0) throw new Error("SEND_HALF_BATCH without entries");
  const out: HalfBatchEntry[] = [];
  let p = 0;
  // Entries of one batch mostly name one topic: its bytes are decoded once.
  let lastTopic = "";
  let lastTopicAt = -1;
  let lastTopicLen = -1;
  const need = (n: number, what: string): void => {
    if (n < 0 || p + n > body.length) {
      throw new Error(
        `SEND_HALF_BATCH body is cut short: entry ${out.length} needs ${n} bytes of ${what} at byte ${p}, the body has ${body.length}`,
      );
    }
  };
  while (p < body.length) {
    if (out.length >= MAX_HALF_BATCH) {
      throw new Error(`SEND_HALF_BATCH holds more than ${MAX_HALF_BATCH} entries`);
    }
    need(2, "topic length");
    const topicLen = body.readUInt16BE(p);
    p += 2;
    need(topicLen + 24, "topic and fixed fields");
    let topic = lastTopic;
    if (topicLen !== lastTopicLen || !sameBytes(body, lastTopicAt, p, topicLen)) {
      topic = body.toString("utf8", p, p + topicLen);
      lastTopic = topic;
      lastTopicAt = p;
      lastTopicLen = topicLen;
    }
    p += topicLen;
    const queueId = body.readInt32BE(p);
    const sysFlag = body.readInt32BE(p + 4);
    const bornTimestamp = readLong(body, p + 8);
    const flag = body.readInt32BE(p + 16);
    const propsLen = body.readInt32BE(p + 20);
    p += 24;
    need(propsLen, "properties");
    const properties = propsLen === 0 ? "" : body.toString("utf8", p, p + propsLen);
    p += propsLen;
    need(4, "body length");
    const bodyLen = body.readInt32BE(p);
    p += 4;
    need(bodyLen, "message body");
    out.push({
      topic,
      queueId,
      sysFlag,
      bornTimestamp,
      flag,
      properties,
      body: body.subarray(p, p + bodyLen),
    });
    p += bodyLen;
  }
  return out;
}

/** Whether `buf` holds the same `len` bytes at `a` and at `b`. */
function sameBytes(buf: Buffer, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/**
 * JSON array: [code, remark, msgId, queueId, queueOffset] for a stored half, [code, remark]
 * otherwise — the bytes JSON.stringify gives for those arrays. The usual answer (integers,
 * no remark, ids of plain ASCII) is written straight into its buffer: no array or string
 * per result (a broker answers one per half).
 */
export function encodeHalfBatchResults(results: readonly HalfBatchResult[]): Buffer {
  let size = 2 + Math.max(0, results.length - 1);
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    const n = r === undefined ? -1 : plainSize(r);
    if (n < 0) return encodeResultsText(results);
    size += n;
  }
  const buf = Buffer.allocUnsafe(size);
  let p = 0;
  buf[p++] = 0x5b; // [
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (i > 0) buf[p++] = 0x2c; // ,
    buf[p++] = 0x5b;
    p = writeInteger(buf, p, r.code);
    buf[p++] = 0x2c;
    buf[p++] = 0x22; // "" (no remark)
    buf[p++] = 0x22;
    if (r.msgId !== undefined) {
      buf[p++] = 0x2c;
      buf[p++] = 0x22;
      p += buf.write(r.msgId, p, "latin1");
      buf[p++] = 0x22;
      buf[p++] = 0x2c;
      p = writeInteger(buf, p, r.queueId ?? -1);
      buf[p++] = 0x2c;
      p = writeInteger(buf, p, r.queueOffset ?? -1);
    }
    buf[p++] = 0x5d; // ]
  }
  buf[p++] = 0x5d;
  return p === size ? buf : buf.subarray(0, p);
}

/**
 * The answer when every half of the request was stored in one append (the usual case): the
 * bytes encodeHalfBatchResults gives for results [SUCCESS, "", msgId k, queueIds[k],
 * firstQueueOffset + k], where msgId k is the offset message id `idPrefix` (the store's host
 * and port in hex) + the 16 uppercase hex digits of `offsets[k]` (the record's commit-log
 * offset) — written from the numbers: no id string and no result object per half.
 * Undefined when the prefix would need escaping or a number is out of range (the caller then
 * builds the results).
 */
export function encodeStoredHalfResults(
  idPrefix: string,
  offsets: readonly number[],
  queueIds: readonly number[],
  firstQueueOffset: number,
): Buffer | undefined {
  const n = offsets.length;
  if (queueIds.length !== n || !Number.isSafeInteger(firstQueueOffset + n)) return undefined;
  for (let i = 0; i < idPrefix.length; i++) {
    const c = idPrefix.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return undefined;
  }
  // [0,"","id",q,o] per half: 11 fixed characters with "0", the commas between, the brackets.
  let size = 2 + Math.max(0, n - 1) + (11 + idPrefix.length + 16) * n;
  for (let k = 0; k < n; k++) {
    const q = queueIds[k]!;
    const o = offsets[k]!;
    if (!Number.isSafeInteger(q) || !Number.isSafeInteger(o) || o < 0) return undefined;
    size += digits(q) + digits(firstQueueOffset + k);
  }
  const buf = Buffer.allocUnsafe(size);
  let p = 0;
  buf[p++] = 0x5b; // [
  for (let k = 0; k < n; k++) {
    if (k > 0) buf[p++] = 0x2c;
    buf[p++] = 0x5b; // [0,"","
    buf[p++] = 0x30;
    buf[p++] = 0x2c;
    buf[p++] = 0x22;
    buf[p++] = 0x22;
    buf[p++] = 0x2c;
    buf[p++] = 0x22;
    for (let i = 0; i < idPrefix.length; i++) buf[p++] = idPrefix.charCodeAt(i);
    const o = offsets[k]!;
    p = writeHex8(buf, p, Math.floor(o / 4294967296));
    p = writeHex8(buf, p, o >>> 0);
    buf[p++] = 0x22;
    buf[p++] = 0x2c;
    p = writeInteger(buf, p, queueIds[k]!);
    buf[p++] = 0x2c;
    p = writeInteger(buf, p, firstQueueOffset + k);
    buf[p++] = 0x5d; // ]
  }
  buf[p++] = 0x5d;
  return buf;
}

/** Uppercase hex digits, as bytes. */
const HEX_DIGITS = Buffer.from("0123456789ABCDEF", "latin1");

/** The 8 uppercase hex digits of an unsigned 32-bit word at `p`; returns the position after. */
function writeHex8(buf: Buffer, p: number, w: number): number {
  for (let shift = 28; shift >= 0; shift -= 4) buf[p++] = HEX_DIGITS[(w >>> shift) & 15]!;
  return p;
}

/** Bytes of a result written straight, or -1 if it needs the text path (a remark, an id to escape, a non-integer). */
function plainSize(r: HalfBatchResult): number {
  if ((r.remark !== undefined && r.remark !== "") || !Number.isSafeInteger(r.code)) return -1;
  let n = 6 + digits(r.code); // [code,""]
  if (r.msgId === undefined) return n;
  const q = r.queueId ?? -1;
  const o = r.queueOffset ?? -1;
  if (!Number.isSafeInteger(q) || !Number.isSafeInteger(o)) return -1;
  const id = r.msgId;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return -1;
  }
  n += 5 + id.length + digits(q) + digits(o); // ,"id",q,o
  return n;
}

/** Characters of a safe integer in decimal (with its sign; -0 is "0"). */
function digits(v: number): number {
  let n = v < 0 ? 2 : 1;
  for (let a = Math.abs(v); a >= 10; a = Math.floor(a / 10)) n++;
  return n;
}

function writeInteger(buf: Buffer, p: number, v: number): number {
  if (v < 0) {
    buf[p++] = 0x2d;
    v = -v;
  }
  const end = p + digits(v);
  let q = end;
  do {
    const d = v % 10;
    buf[--q] = 0x30 + d;
    v = (v - d) / 10;
  } while (v > 0);
  return end;
}

/** The same text, built as a string (any result with a remark or an id to escape). */
function encodeResultsText(results: readonly HalfBatchResult[]): Buffer {
  let s = "[";
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    if (i > 0) s += ",";
    if (r === undefined) {
      s += "null";
      continue;
    }
    s += `[${jsonNumber(r.code)},${jsonString(r.remark ?? "")}`;
    if (r.msgId !== undefined) {
      s += `,${jsonString(r.msgId)},${jsonNumber(r.queueId ?? -1)},${jsonNumber(r.queueOffset ?? -1)}`;
    }
    s += "]";
  }
  return Buffer.from(`${s}]`, "utf8");
}

/** JSON.stringify of a number. */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/** JSON.stringify of a string: quoted as is when nothing in it needs escaping (ids, empty remarks). */
function jsonString(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(v);
  }
  return `"${v}"`;
}

/**
 * One result as the answer carries it: [code, remark] or, for a stored half,
 * [code, remark, msgId, queueId, queueOffset].
 */
export type HalfBatchResultTuple = [number, string] | [number, string, string, number, number];

/**
 * The answer's results as they are on the wire (no object per result), each checked; throws
 * unless it holds exactly `expected` well-formed ones (then none may be used).
 */
export function readHalfBatchResults(body: Buffer | undefined, expected: number): HalfBatchResultTuple[] {
  const raw: unknown = JSON.parse(body?.toString("utf8") ?? "null");
  if (!Array.isArray(raw) || raw.length !== expected) {
    throw new Error(`SEND_HALF_BATCH answer does not hold ${expected} results`);
  }
  for (const r of raw) {
    if (
      !Array.isArray(r) ||
      typeof r[0] !== "number" ||
      typeof r[1] !== "string" ||
      (r.length >= 5 &&
        (typeof r[2] !== "string" || !Number.isSafeInteger(r[3]) || !Number.isSafeInteger(r[4])))
    ) {
      throw new Error(`SEND_HALF_BATCH answer holds a malformed result ${JSON.stringify(r)}`);
    }
  }
  return raw as HalfBatchResultTuple[];
}

/** The answer's results; throws unless it holds exactly `expected` well-formed ones. */
export function decodeHalfBatchResults(body: Buffer | undefined, expected: number): HalfBatchResult[] {
  return readHalfBatchResults(body, expected).map((r): HalfBatchResult => {
    const out: HalfBatchResult = { code: r[0] };
    if (r[1] !== "") out.remark = r[1];
    if (r.length >= 5) {
      out.msgId = r[2];
      out.queueId = r[3];
      out.queueOffset = r[4];
    }
    return out;
  });
}
