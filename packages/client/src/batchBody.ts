import { encodeProperties, MessageConst, type Properties } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import type { PreparedMessage } from "./Message.js";

/** Fixed bytes of a batch entry: size, magic, crc, flag, body length (ints) and properties length (short). */
const ENTRY_OVERHEAD = 22;
/** The properties length of a batch entry is a signed short. */
const MAX_ENTRY_PROPERTIES = 32767;
/** Batch entries leave WAIT out: the request's own properties carry it. */
const OMIT = MessageConst.WAIT_STORE_MSG_OK;

/** Own-property test for the for-in loops below (see Message.ts: V8 makes it a map check). */
const hasOwn = Object.prototype.hasOwnProperty;

/** One message of a SEND_BATCH_MESSAGE body, its properties measured. */
export interface BatchItem {
  flag: number;
  body: Buffer;
  /** The message's properties; written without WAIT. */
  properties: Properties;
  /**
   * The encoded properties when they are not plain ASCII (or contain a separator-like control
   * character); undefined when they are written straight from `properties`.
   */
  text: string | undefined;
  propsBytes: number;
  /** Bytes this entry takes in the batch body. */
  size: number;
}

/**
 * A message as a batch entry, or undefined when its properties do not fit the entry's short
 * length field. The byte size is exact before the message joins a batch. Properties are
 * almost always ASCII: then prepareMessage has measured them and they are written straight
 * into the batch body, with no intermediate string (this runs once per message).
 */
export function tryBatchItem(m: PreparedMessage): BatchItem | undefined {
  let text: string | undefined;
  let propsBytes = m.asciiPropertiesBytes ?? -1;
  if (propsBytes < 0) {
    text = encodeProperties(m.properties, OMIT);
    propsBytes = Buffer.byteLength(text, "utf8");
  }
  if (propsBytes > MAX_ENTRY_PROPERTIES) return undefined;
  return {
    flag: m.flag,
    body: m.body,
    properties: m.properties,
    text,
    propsBytes,
    size: ENTRY_OVERHEAD + m.body.length + propsBytes,
  };
}

/** tryBatchItem for an explicit sendBatch, where an entry that does not fit is the caller's error. */
export function batchItem(m: PreparedMessage): BatchItem {
  const item = tryBatchItem(m);
  if (!item) throw new ClientError(`batch entry properties exceed ${MAX_ENTRY_PROPERTIES} bytes`);
  return item;
}

/** Whether `k` is a property encodeProperties(props, OMIT) writes. */
function written(props: Properties, k: string): boolean {
  return hasOwn.call(props, k) && k.length > 0 && k !== OMIT && typeof props[k] === "string";
}

/**
 * The batch body (spec §4.2; Java's MessageDecoder.encodeMessages): per entry size · magic 0 ·
 * crc 0 · flag · body length · body · properties length (short) · properties. One buffer,
 * written in place (`totalBytes` = the sum of the items' sizes), into the start of `target`
 * when given.
 */
export function encodeBatchItems(
  items: readonly BatchItem[],
  totalBytes: number,
  target: Buffer = Buffer.allocUnsafe(totalBytes),
): Buffer {
  const out = target.length === totalBytes ? target : target.subarray(0, totalBytes);
  // DataView stores are V8 builtins: cheaper per field than Buffer's checked write methods.
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p = 0;
  for (let i = 0; i < items.length; i++) {
    const e = items[i]!;
    view.setInt32(p, e.size);
    view.setInt32(p + 4, 0);
    view.setInt32(p + 8, 0);
    view.setInt32(p + 12, e.flag | 0);
    view.setInt32(p + 16, e.body.length);
    out.set(e.body, p + 20);
    p += 20 + e.body.length;
    view.setInt16(p, e.propsBytes);
    p += 2;
    const end = p + e.propsBytes;
    if (e.text === undefined) p = writeAsciiProperties(out, p, e.properties);
    else if (e.propsBytes > 0) p += out.write(e.text, p, e.propsBytes, "utf8");
    if (p !== end) throw new ClientError(`batch entry ${i} changed while it was being encoded`);
  }
  return out;
}

/** Writes ASCII properties (measured by prepareMessage) as encodeProperties would. */
function writeAsciiProperties(out: Buffer, p: number, props: Properties): number {
  for (const k in props) {
    if (!written(props, k)) continue;
    p = writeAscii(out, p, k);
    out[p++] = 1;
    p = writeAscii(out, p, props[k]!);
    out[p++] = 2;
  }
  return p;
}

function writeAscii(out: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/** Sum of the items' entry sizes. */
export function batchBytes(items: readonly BatchItem[]): number {
  let n = 0;
  for (let i = 0; i < items.length; i++) n += items[i]!.size;
  return n;
}

/** What SEND_BATCH_MESSAGE needs of its messages: some, one topic, no delay, one messageGroup. */
export function checkBatchMessages(msgs: readonly PreparedMessage[]): void {
  if (msgs.length === 0) throw new ClientError("sendBatch needs at least one message");
  const topic = msgs[0]!.topic;
  const shardingKey = msgs[0]!.shardingKey;
  for (const m of msgs) {
    if (m.topic !== topic) throw new ClientError("all messages of a batch must have the same topic");
    // prepareMessage marks a message with a delay unbatchable: only those need the lookups.
    if (
      (m.unbatchable ?? true) &&
      (m.properties[MessageConst.DELAY_TIME_LEVEL] || m.properties[MessageConst.TIMER_DELIVER_MS])
    ) {
      throw new ClientError("batch messages cannot be delayed");
    }
    if (m.shardingKey !== shardingKey)
      throw new ClientError("all messages of a batch must have the same messageGroup (or none)");
  }
  if (topic.startsWith("%RETRY%")) throw new ClientError("batch messages cannot go to a retry topic");
}
