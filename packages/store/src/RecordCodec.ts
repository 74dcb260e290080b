import { bodyCrc, MAGIC_BLANK, MAGIC_V1, RecordLayout } from "@tidemq/protocol";

/**
 * Builds records of the protocol's stored-message layout (spec §7.1, IPv4 hosts, what
 * encodeMessage produces) straight into the commit log's write block, so an append costs
 * one copy of the body and no intermediate Buffer.
 */
export interface PreparedRecord {
  size: number;
  topic: Buffer;
  props: string;
  propsBytes: number;
}

/** Fixed part of a V1 record with IPv4 hosts: everything but body, topic and properties. */
export const RECORD_FIXED_BYTES = RecordLayout.BODY + 1 + 2;
export const BLANK_HEADER_BYTES = 8;

export function recordSize(bodyBytes: number, topicBytes: number, propsBytes: number): number {
  return RECORD_FIXED_BYTES + bodyBytes + topicBytes + propsBytes;
}

export interface RecordFields {
  queueId: number;
  flag: number;
  queueOffset: number;
  physicalOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  /** IPv4 as an int (network order) and port. */
  bornIp: number;
  bornPort: number;
  storeTimestamp: number;
  storeIp: number;
  storePort: number;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Buffer;
}

const TWO_32 = 4294967296;

function setLong(v: DataView, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  v.setInt32(pos, hi);
  v.setUint32(pos + 4, value - hi * TWO_32);
}

/**
 * Writes one record at `pos` (`view` is a DataView over `buf`: its setters are cheaper than
 * Buffer's checked writeInt32BE on this hot path); returns the position after it.
 */
export function writeRecord(
  buf: Buffer,
  view: DataView,
  pos: number,
  r: PreparedRecord,
  f: RecordFields,
): number {
  view.setInt32(pos, r.size);
  view.setInt32(pos + 4, MAGIC_V1);
  view.setInt32(pos + 8, bodyCrc(f.body));
  view.setInt32(pos + 12, f.queueId);
  view.setInt32(pos + 16, f.flag | 0);
  setLong(view, pos + 20, f.queueOffset);
  setLong(view, pos + 28, f.physicalOffset);
  // TideMQ stores IPv4 hosts only (ali-ons reads 4-byte hosts), so the V6 bits are cleared.
  view.setInt32(pos + 36, f.sysFlag & ~0x30);
  setLong(view, pos + 40, f.bornTimestamp);
  view.setInt32(pos + 48, f.bornIp);
  view.setInt32(pos + 52, f.bornPort | 0);
  setLong(view, pos + 56, f.storeTimestamp);
  view.setInt32(pos + 64, f.storeIp);
  view.setInt32(pos + 68, f.storePort | 0);
  view.setInt32(pos + 72, f.reconsumeTimes | 0);
  setLong(view, pos + 76, f.preparedTransactionOffset);
  view.setInt32(pos + 84, f.body.length);
  let p = pos + 88;
  if (f.body.length > 0) {
    buf.set(f.body, p);
    p += f.body.length;
  }
  buf[p++] = r.topic.length;
  buf.set(r.topic, p);
  p += r.topic.length;
  view.setInt16(p, r.propsBytes);
  p += 2;
  if (r.propsBytes > 0) p += buf.write(r.props, p, r.propsBytes, "utf8");
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
