import { MAGIC_V1, RecordLayout } from "@tidemq/protocol";
import type { MessageInput } from "./StoreTypes.js";

/**
 * A record stored again from one still in the commit log's in-memory tail (a transaction
 * commit's copy of its half message), for putMessagesBatch: the source's flag, body, body
 * CRC, born time and host and reconsume times are copied as bytes, under a new topic, queue,
 * sysFlag and preparedTransactionOffset, with the source's properties minus some byte ranges.
 * No CRC over the body again and no properties text to encode: one splice of stored bytes.
 *
 * When the source is not in the tail any more (or is not the record described), the store
 * stores `fallback()` instead, an ordinary input for the same record; so whoever makes a
 * copy must make the two agree (the broker's tests compare them byte for byte).
 */
export abstract class RecordCopy {
  constructor(
    /** Commit-log offset of the record copied. */
    readonly sourceOffset: number,
    /** Its queue offset, as its record holds it (checked). */
    readonly sourceQueueOffset: number,
    /** Its body's and properties' byte lengths, as its record holds them (checked too). */
    readonly sourceBodyBytes: number,
    readonly sourcePropsBytes: number,
    /**
     * The byte ranges of the source's properties the copy keeps, [from, to) pairs within
     * [0, sourcePropsBytes), ascending and apart; the copy's properties are their concatenation.
     */
    readonly keep: readonly number[],
    readonly topic: string,
    readonly queueId: number,
    readonly sysFlag: number,
    readonly preparedTransactionOffset: number,
    /** For the consume queue and the index, as an input's (the copy's properties must agree). */
    readonly tagsCode: number,
    readonly keys: string | undefined,
    readonly uniqKey: string | undefined,
  ) {}

  /** The same record as an ordinary input (the source is not at hand). */
  abstract fallback(): MessageInput;
}

/**
 * The source record of `c` in `rec` (a view of exactly one record, its first 4 bytes its
 * size), checked against what `c` says of it; the byte length of the copy's properties, or -1
 * when `rec` is not that record (then the fallback is stored).
 */
export function copyPropsBytes(c: RecordCopy, rec: Buffer, view: DataView, at: number): number {
  const size = view.getInt32(at);
  if (view.getInt32(at + RecordLayout.MAGIC) !== MAGIC_V1) return -1;
  // Only records with IPv4 hosts (what this store writes) have the layout copyRecordBytes assumes.
  if ((view.getInt32(at + RecordLayout.SYS_FLAG) & 0x30) !== 0) return -1;
  if (readLong(view, at + RecordLayout.QUEUE_OFFSET) !== c.sourceQueueOffset) return -1;
  const bodyLen = view.getInt32(at + RecordLayout.BODY_LENGTH);
  const topicAt = at + RecordLayout.BODY + bodyLen;
  if (bodyLen !== c.sourceBodyBytes || topicAt + 3 > at + size) return -1;
  const propsAt = topicAt + 1 + rec[topicAt]!;
  if (propsAt + 2 > at + size) return -1;
  const propsBytes = view.getInt16(propsAt);
  if (propsBytes !== c.sourcePropsBytes || propsAt + 2 + propsBytes !== at + size) return -1;
  const keep = c.keep;
  let n = 0;
  let last = 0;
  for (let i = 0; i + 1 < keep.length; i += 2) {
    const from = keep[i]!;
    const to = keep[i + 1]!;
    if (!(from >= last && to >= from && to <= propsBytes)) return -1;
    n += to - from;
    last = to;
  }
  return keep.length % 2 === 0 ? n : -1;
}

/**
 * Writes the copy of the record at `src[at…]` (checked by copyPropsBytes) at `pos` of `buf`:
 * the source's header and body as they are, then the fields that differ, then the topic and
 * the kept property ranges. Returns the position after it.
 */
export function writeCopy(
  buf: Buffer,
  view: DataView,
  pos: number,
  size: number,
  c: RecordCopy,
  src: Buffer,
  srcView: DataView,
  at: number,
  queueId: number,
  topic: Buffer,
  propsBytes: number,
  queueOffset: number,
  physicalOffset: number,
  storeTimestamp: number,
  storeIp: number,
  storePort: number,
): number {
  const bodyLen = srcView.getInt32(at + RecordLayout.BODY_LENGTH);
  // Header and body in one copy: magic, body CRC, flag, born time and host, reconsume times
  // and body length stay the source's; the rest is set below.
  copyBytes(src, at, at + RecordLayout.BODY + bodyLen, buf, pos);
  view.setInt32(pos, size);
  view.setInt32(pos + RecordLayout.QUEUE_ID, queueId);
  setLong(view, pos + RecordLayout.QUEUE_OFFSET, queueOffset);
  setLong(view, pos + RecordLayout.PHYSICAL_OFFSET, physicalOffset);
  view.setInt32(pos + RecordLayout.SYS_FLAG, c.sysFlag & ~0x30);
  setLong(view, pos + RecordLayout.STORE_TIMESTAMP, storeTimestamp);
  view.setInt32(pos + RecordLayout.STORE_HOST, storeIp);
  view.setInt32(pos + RecordLayout.STORE_HOST + 4, storePort | 0);
  setLong(view, pos + RecordLayout.PREPARED_TRANSACTION_OFFSET, c.preparedTransactionOffset);
  let p = pos + RecordLayout.BODY + bodyLen;
  const tlen = topic.length;
  buf[p++] = tlen;
  for (let i = 0; i < tlen; i++) buf[p + i] = topic[i]!;
  p += tlen;
  view.setInt16(p, propsBytes);
  p += 2;
  const topicAt = at + RecordLayout.BODY + bodyLen;
  const srcProps = topicAt + 1 + src[topicAt]! + 2;
  const keep = c.keep;
  for (let i = 0; i + 1 < keep.length; i += 2) {
    const from = srcProps + keep[i]!;
    const n = keep[i + 1]! - keep[i]!;
    if (n > 32) copyBytes(src, from, from + n, buf, p);
    else for (let k = 0; k < n; k++) buf[p + k] = src[from + k]!;
    p += n;
  }
  return p;
}

/**
 * src[from, to) to buf at `at`. Usually the source is in the block the copy goes to: then a
 * copyWithin (no view object made per copy, as Buffer.copy of part of a buffer makes).
 */
function copyBytes(src: Buffer, from: number, to: number, buf: Buffer, at: number): void {
  if (src === buf) buf.copyWithin(at, from, to);
  else src.copy(buf, at, from, to);
}

const TWO_32 = 4294967296;

function setLong(v: DataView, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  v.setInt32(pos, hi);
  v.setUint32(pos + 4, value - hi * TWO_32);
}

function readLong(v: DataView, pos: number): number {
  return v.getInt32(pos) * TWO_32 + v.getUint32(pos + 4);
}
