import { bodyCrc, MAGIC_BLANK, MAGIC_V1, RecordLayout, writeLong } from "@tidemq/protocol";

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

/** Writes one record at `pos`; returns the position after it. */
export function writeRecord(buf: Buffer, pos: number, r: PreparedRecord, f: RecordFields): number {
  buf.writeInt32BE(r.size, pos);
  buf.writeInt32BE(MAGIC_V1, pos + 4);
  buf.writeInt32BE(bodyCrc(f.body), pos + 8);
  buf.writeInt32BE(f.queueId, pos + 12);
  buf.writeInt32BE(f.flag | 0, pos + 16);
  writeLong(buf, f.queueOffset, pos + 20);
  writeLong(buf, f.physicalOffset, pos + 28);
  // TideMQ stores IPv4 hosts only (ali-ons reads 4-byte hosts), so the V6 bits are cleared.
  buf.writeInt32BE(f.sysFlag & ~0x30, pos + 36);
  writeLong(buf, f.bornTimestamp, pos + 40);
  buf.writeInt32BE(f.bornIp, pos + 48);
  buf.writeInt32BE(f.bornPort | 0, pos + 52);
  writeLong(buf, f.storeTimestamp, pos + 56);
  buf.writeInt32BE(f.storeIp, pos + 64);
  buf.writeInt32BE(f.storePort | 0, pos + 68);
  buf.writeInt32BE(f.reconsumeTimes | 0, pos + 72);
  writeLong(buf, f.preparedTransactionOffset, pos + 76);
  buf.writeInt32BE(f.body.length, pos + 84);
  let p = pos + 88;
  if (f.body.length > 0) p += f.body.copy(buf, p);
  buf[p++] = r.topic.length;
  p += r.topic.copy(buf, p);
  buf.writeInt16BE(r.propsBytes, p);
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
