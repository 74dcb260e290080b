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
    const topic = body.toString("utf8", p, p + topicLen);
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

/** JSON array: [code, remark, msgId, queueId, queueOffset] for a stored half, [code, remark] otherwise. */
export function encodeHalfBatchResults(results: readonly HalfBatchResult[]): Buffer {
  return Buffer.from(
    JSON.stringify(
      results.map((r) =>
        r.msgId === undefined
          ? [r.code, r.remark ?? ""]
          : [r.code, r.remark ?? "", r.msgId, r.queueId ?? -1, r.queueOffset ?? -1],
      ),
    ),
    "utf8",
  );
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
