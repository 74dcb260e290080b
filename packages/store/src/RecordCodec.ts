import { bodyCrc, MAGIC_BLANK, MAGIC_V1, RecordLayout } from "@tidemq/protocol";

/**
 * Builds records of the protocol's stored-message layout (spec §7.1, IPv4 hosts, what
 * encodeMessage produces) straight into the commit log's write block, so an append costs
 * one copy of the body and no intermediate Buffer.
 */

/** Fixed part of a V1 record with IPv4 hosts: everything but body, topic and properties. */
export const RECORD_FIXED_BYTES = RecordLayout.BODY + 1 + 2;
export const BLANK_HEADER_BYTES = 8;

export function recordSize(bodyBytes: number, topicBytes: number, propsBytes: number): number {
  return RECORD_FIXED_BYTES + bodyBytes + topicBytes + propsBytes;
}

/** The per-message fields a record takes from its input (MessageInput fits). */
export interface RecordSource {
  flag: number;
  body: Buffer;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: { port: number };
  reconsumeTimes: number;
  preparedTransactionOffset: number;
}

/** What is the same for every record of one append. */
export interface RecordContext {
  storeTimestamp: number;
  /** IPv4 as an int (network order) and port. */
  storeIp: number;
  storePort: number;
}

const TWO_32 = 4294967296;

function setLong(v: DataView, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  v.setInt32(pos, hi);
  v.setUint32(pos + 4, value - hi * TWO_32);
}

/**
 * Writes one record of `size` bytes at `pos` (`view` is a DataView over `buf`: its setters
 * are cheaper than Buffer's checked writeInt32BE on this hot path); returns the position
 * after it. The properties are `props` (a string, or its UTF-8 bytes) then `propsSuffix`;
 * `propsBytes` is their total UTF-8 length.
 */
export function writeRecord(
  buf: Buffer,
  view: DataView,
  pos: number,
  size: number,
  m: RecordSource,
  queueId: number,
  topic: Buffer,
  props: string | Buffer,
  propsBytes: number,
  propsSuffix: Buffer | undefined,
  queueOffset: number,
  physicalOffset: number,
  bornIp: number,
  c: RecordContext,
): number {
  const body = m.body;
  const bodyLen = body.length;
  view.setInt32(pos, size);
  view.setInt32(pos + 4, MAGIC_V1);
  view.setInt32(pos + 8, bodyCrc(body));
  view.setInt32(pos + 12, queueId);
  view.setInt32(pos + 16, m.flag | 0);
  setLong(view, pos + 20, queueOffset);
  setLong(view, pos + 28, physicalOffset);
  // TideMQ stores IPv4 hosts only (ali-ons reads 4-byte hosts), so the V6 bits are cleared.
  view.setInt32(pos + 36, m.sysFlag & ~0x30);
  setLong(view, pos + 40, m.bornTimestamp);
  view.setInt32(pos + 48, bornIp);
  view.setInt32(pos + 52, m.bornHost.port | 0);
  setLong(view, pos + 56, c.storeTimestamp);
  view.setInt32(pos + 64, c.storeIp);
  view.setInt32(pos + 68, c.storePort | 0);
  view.setInt32(pos + 72, m.reconsumeTimes | 0);
  setLong(view, pos + 76, m.preparedTransactionOffset);
  view.setInt32(pos + 84, bodyLen);
  let p = pos + 88;
  if (bodyLen > 0) {
    buf.set(body, p);
    p += bodyLen;
  }
  const tlen = topic.length;
  buf[p++] = tlen;
  if (tlen <= 16) for (let i = 0; i < tlen; i++) buf[p + i] = topic[i]!;
  else buf.set(topic, p);
  p += tlen;
  view.setInt16(p, propsBytes);
  p += 2;
  const ownBytes = propsSuffix === undefined ? propsBytes : propsBytes - propsSuffix.length;
  if (ownBytes > 0) {
    if (typeof props === "string") p += buf.write(props, p, ownBytes, "utf8");
    else {
      buf.set(props, p);
      p += ownBytes;
    }
  }
  if (propsSuffix !== undefined && propsSuffix.length > 0) {
    buf.set(propsSuffix, p);
    p += propsSuffix.length;
  }
  return p;
}

export function writeBlank(buf: Buffer, pos: number, totalSize: number): void {
  buf.writeInt32BE(totalSize, pos);
  buf.writeInt32BE(MAGIC_BLANK, pos + 4);
}

/** IPv4 dotted quad as a signed 32-bit int (network byte order). */
export function ipv4Int(host: string): number {
  const p = host.split(".").map(Number);
  return (p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]! | 0;
}

/** IPv4 host + port as the 8 bytes a record holds. */
export function hostBytes(host: string, port: number): Buffer {
  const b = Buffer.alloc(8);
  const parts = host.split(".").map(Number);
  for (let i = 0; i < 4; i++) b[i] = parts[i] ?? 0;
  b.writeInt32BE(port | 0, 4);
  return b;
}
