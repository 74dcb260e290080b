import { crc32, deflateSync, inflateSync } from "node:zlib";
import { MessageFormatError } from "./errors.js";
import { type HostPort, hostByteLength, readHostBytes, writeHostBytes } from "./host.js";
import { readLong, writeLong } from "./long.js";
import { encodeProperties, type Properties, parseProperties } from "./properties.js";

/** Magic codes (spec §7.1). */
export const MAGIC_V1 = 0xdaa320a7 | 0;
export const MAGIC_V2 = 0xdaa320ab | 0;
/** Magic of the commit-log end-of-file filler record. */
export const MAGIC_BLANK = 0xcbd43194 | 0;

/** Message sysFlag bits (spec §7.3). */
export const MessageSysFlag = {
  COMPRESSED: 0x1,
  MULTI_TAGS: 0x2,
  TRANSACTION_NOT_TYPE: 0x0,
  TRANSACTION_PREPARED_TYPE: 0x4,
  TRANSACTION_COMMIT_TYPE: 0x8,
  TRANSACTION_ROLLBACK_TYPE: 0xc,
  BORNHOST_V6: 0x10,
  STOREHOSTADDRESS_V6: 0x20,
  COMPRESSION_TYPE_MASK: 0x700,
  COMPRESSION_LZ4: 0x100,
  COMPRESSION_ZSTD: 0x200,
  COMPRESSION_ZLIB: 0x300,
} as const;

export function transactionType(sysFlag: number): number {
  return sysFlag & 0xc;
}

/**
 * Field offsets of a V1 record whose hosts are both IPv4 (what TideMQ always stores,
 * spec §7.1). The store patches queue offset, physical offset and store time in place.
 */
export const RecordLayout = {
  TOTAL_SIZE: 0,
  MAGIC: 4,
  BODY_CRC: 8,
  QUEUE_ID: 12,
  FLAG: 16,
  QUEUE_OFFSET: 20,
  PHYSICAL_OFFSET: 28,
  SYS_FLAG: 36,
  BORN_TIMESTAMP: 40,
  BORN_HOST: 48,
  STORE_TIMESTAMP: 56,
  STORE_HOST: 64,
  RECONSUME_TIMES: 72,
  PREPARED_TRANSACTION_OFFSET: 76,
  BODY_LENGTH: 84,
  BODY: 88,
} as const;

/** A stored message as pulled, viewed or queried (RocketMQ's MessageExt). */
export interface MessageExt {
  storeSize: number;
  bodyCRC: number;
  queueId: number;
  flag: number;
  queueOffset: number;
  commitLogOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: HostPort;
  storeTimestamp: number;
  storeHost: HostPort;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Buffer;
  topic: string;
  properties: Properties;
  /** offsetMsgId: store host + port + commit-log offset, uppercase hex (spec §7.6). */
  msgId: string;
}

/** What a record is built from; size, CRC and msgId are derived. */
export type MessageRecordInput = Omit<MessageExt, "storeSize" | "bodyCRC" | "msgId" | "properties"> & {
  properties?: Properties;
  /** Already-encoded properties string, used instead of `properties` when given. */
  propertiesString?: string;
};

/** CRC-32 of the body as stored, masked to 31 bits like Java's UtilAll.crc32. */
export function bodyCrc(body: Buffer): number {
  return crc32(body) & 0x7fffffff;
}

export const MAX_PROPERTIES_BYTES = 32767;
export const MAX_TOPIC_BYTES = 127;

/**
 * Encodes one record in the stored-message layout (spec §7.1), always magic V1. The
 * IPv6 sysFlag bits are derived from the hosts (callers that serve ali-ons must pass IPv4
 * hosts, see toStorableIPv4). Bad input (topic > 127 bytes, properties > 32767 bytes, a
 * host that is not an IP address, a number that does not fit its field) throws
 * MessageFormatError.
 */
export function encodeMessage(m: MessageRecordInput): Buffer {
  try {
    return encodeRecord(m);
  } catch (err) {
    if (err instanceof MessageFormatError) throw err;
    throw new MessageFormatError(`message cannot be encoded: ${(err as Error).message}`);
  }
}

function encodeRecord(m: MessageRecordInput): Buffer {
  const topic = Buffer.from(m.topic, "utf8");
  const props = Buffer.from(m.propertiesString ?? encodeProperties(m.properties), "utf8");
  if (topic.length > MAX_TOPIC_BYTES)
    throw new MessageFormatError(`topic of ${topic.length} bytes exceeds 127`);
  if (props.length > MAX_PROPERTIES_BYTES) {
    throw new MessageFormatError(`properties of ${props.length} bytes exceed ${MAX_PROPERTIES_BYTES}`);
  }
  const bornLen = hostByteLength(m.bornHost.host);
  const storeLen = hostByteLength(m.storeHost.host);
  let sysFlag = m.sysFlag & ~(MessageSysFlag.BORNHOST_V6 | MessageSysFlag.STOREHOSTADDRESS_V6);
  if (bornLen === 16) sysFlag |= MessageSysFlag.BORNHOST_V6;
  if (storeLen === 16) sysFlag |= MessageSysFlag.STOREHOSTADDRESS_V6;
  const size = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + bornLen + 4 + 8 + storeLen + 4 + 4 + 8 + 4 + m.body.length;
  const total = size + 1 + topic.length + 2 + props.length;
  const buf = Buffer.allocUnsafe(total);
  let p = buf.writeInt32BE(total, 0);
  p = buf.writeInt32BE(MAGIC_V1, p);
  p = buf.writeInt32BE(bodyCrc(m.body), p);
  p = buf.writeInt32BE(m.queueId, p);
  p = buf.writeInt32BE(m.flag | 0, p);
  p = writeLong(buf, m.queueOffset, p);
  p = writeLong(buf, m.commitLogOffset, p);
  p = buf.writeInt32BE(sysFlag, p);
  p = writeLong(buf, m.bornTimestamp, p);
  p = writeHostBytes(buf, p, m.bornHost.host);
  p = buf.writeInt32BE(m.bornHost.port, p);
  p = writeLong(buf, m.storeTimestamp, p);
  p = writeHostBytes(buf, p, m.storeHost.host);
  p = buf.writeInt32BE(m.storeHost.port, p);
  p = buf.writeInt32BE(m.reconsumeTimes, p);
  p = writeLong(buf, m.preparedTransactionOffset, p);
  p = buf.writeInt32BE(m.body.length, p);
  p += m.body.copy(buf, p);
  p = buf.writeUInt8(topic.length, p);
  p += topic.copy(buf, p);
  p = buf.writeInt16BE(props.length, p);
  props.copy(buf, p);
  return buf;
}

export interface DecodeOptions {
  /** Inflate a compressed body (sysFlag bit 0). Default false: the body stays as stored. */
  decompressBody?: boolean;
  /** Verify BODYCRC against the body; a mismatch throws. Default false. */
  verifyCrc?: boolean;
  /** Skip parsing body and properties (faster scans). */
  headersOnly?: boolean;
  /** Limit for an inflated body (decompressBody); default MAX_INFLATED_BODY_BYTES. */
  maxInflatedBytes?: number;
}

/** Default cap on an inflated body, so a small zlib bomb cannot exhaust memory. */
export const MAX_INFLATED_BODY_BYTES = 128 * 1024 * 1024;

/** Smallest possible record: IPv4 hosts, empty body, 1-byte topic, no properties. */
export const MIN_RECORD_BYTES = 91 + 1;

/**
 * Decodes the record at `pos`. Throws MessageFormatError for anything inconsistent:
 * a size that is out of range, an unknown magic, lengths that overrun the record.
 */
export function decodeMessage(buf: Buffer, pos = 0, options: DecodeOptions = {}): MessageExt {
  const m = new StoredMessage(buf, pos, options);
  return {
    storeSize: m.storeSize,
    bodyCRC: m.bodyCRC,
    queueId: m.queueId,
    flag: m.flag,
    queueOffset: m.queueOffset,
    commitLogOffset: m.commitLogOffset,
    sysFlag: m.sysFlag,
    bornTimestamp: m.bornTimestamp,
    bornHost: m.bornHost,
    storeTimestamp: m.storeTimestamp,
    storeHost: m.storeHost,
    reconsumeTimes: m.reconsumeTimes,
    preparedTransactionOffset: m.preparedTransactionOffset,
    body: m.body,
    topic: m.topic,
    properties: options.headersOnly ? {} : m.properties,
    msgId: m.msgId,
  };
}

/** Decodes a concatenation of records (a pull, query or view body). */
export function decodeMessages(buf: Buffer, options: DecodeOptions = {}): MessageExt[] {
  const out: MessageExt[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const m = decodeMessage(buf, pos, options);
    out.push(m);
    pos += m.storeSize;
  }
  return out;
}

/**
 * Like decodeMessages, for consumers: every record is checked as strictly (and a
 * compressed body inflated with `decompressBody`), but topic, properties, hosts and msgId
 * are decoded only when first read, and bodies are views into `buf` (no copy).
 */
export function decodeMessagesLazy(buf: Buffer, options: DecodeOptions = {}): StoredMessage[] {
  const out: StoredMessage[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const m = new StoredMessage(buf, pos, options);
    out.push(m);
    pos += m.storeSize;
  }
  return out;
}

/** Throws unless `n` bytes at `p` lie inside the record [pos, end). */
function fits(p: number, n: number, end: number, pos: number): void {
  if (p + n > end)
    throw new MessageFormatError(`record at ${pos} is inconsistent: a field overruns its size`);
}

/**
 * A stored record read in place (a MessageExt). The constructor validates the whole layout
 * and reads the numeric fields; the strings (topic, properties, hosts, msgId) are decoded
 * from the record bytes on first access and kept, since most consumers read few of them.
 */
export class StoredMessage implements MessageExt {
  readonly storeSize: number;
  readonly queueOffset: number;
  readonly sysFlag: number;
  private readonly buf: Buffer;
  private readonly pos: number;
  private readonly bodyLength: number;
  /** The inflated body when decompressBody applied, else undefined (the body is read in place). */
  private readonly inflated: Buffer | undefined;
  private readonly topicAt: number;
  private readonly topicLength: number;
  private topicText: string | undefined;
  private props: Properties | undefined;
  private id: string | undefined;

  constructor(buf: Buffer, pos = 0, options: DecodeOptions = {}) {
    const remaining = buf.length - pos;
    if (remaining < 8) throw new MessageFormatError(`record at ${pos} is truncated (${remaining} bytes)`);
    const size = buf.readInt32BE(pos);
    const magic = buf.readInt32BE(pos + 4);
    if (magic !== MAGIC_V1 && magic !== MAGIC_V2) {
      throw new MessageFormatError(`record at ${pos} has unknown magic 0x${(magic >>> 0).toString(16)}`);
    }
    if (size < MIN_RECORD_BYTES - 1 || size > remaining) {
      throw new MessageFormatError(`record at ${pos} has size ${size}, ${remaining} bytes available`);
    }
    const end = pos + size;
    this.buf = buf;
    this.pos = pos;
    this.storeSize = size;
    this.queueOffset = readLong(buf, pos + RecordLayout.QUEUE_OFFSET);
    const sysFlag = buf.readInt32BE(pos + RecordLayout.SYS_FLAG);
    this.sysFlag = sysFlag;
    let p = pos + RecordLayout.BORN_HOST;
    fits(p, this.bornHostBytes + 4 + 8, end, pos);
    p = this.storeHostAt;
    fits(p, this.storeHostBytes + 4 + 4 + 8 + 4, end, pos);
    p += this.storeHostBytes + 4 + 4 + 8;
    const bodyLength = buf.readInt32BE(p);
    p += 4;
    if (bodyLength < 0) throw new MessageFormatError(`record at ${pos} has a negative body length`);
    fits(p, bodyLength, end, pos);
    this.bodyLength = bodyLength;
    p += bodyLength;
    // V1: 1-byte topic length; V2 (5.x, topics over 127 bytes): 2 bytes.
    const topicLengthBytes = magic === MAGIC_V2 ? 2 : 1;
    fits(p, topicLengthBytes, end, pos);
    this.topicLength = topicLengthBytes === 2 ? buf.readUInt16BE(p) : buf.readUInt8(p);
    p += topicLengthBytes;
    fits(p, this.topicLength + 2, end, pos);
    this.topicAt = p;
    p += this.topicLength;
    const propsLength = buf.readInt16BE(p);
    p += 2;
    if (propsLength < 0) throw new MessageFormatError(`record at ${pos} has a negative properties length`);
    fits(p, propsLength, end, pos);
    if (p + propsLength !== end)
      throw new MessageFormatError(`record at ${pos} has ${end - p - propsLength} stray bytes`);
    this.inflated = undefined;
    if (options.verifyCrc && bodyCrc(this.storedBody()) !== this.bodyCRC) {
      throw new MessageFormatError(`record at ${pos} fails its body CRC`);
    }
    if (options.decompressBody && (sysFlag & MessageSysFlag.COMPRESSED) !== 0) {
      this.inflated = decompressBody(sysFlag, this.storedBody(), options.maxInflatedBytes);
    }
  }

  /**
   * The body as stored (a view into the record), or inflated when decompressBody was asked.
   * A new view per read: a consumer holding thousands of pulled records then holds no
   * Buffer object per record until its body is read (MessageView keeps the one it reads).
   */
  get body(): Buffer {
    return this.inflated ?? this.storedBody();
  }

  /** body.length without materialising the body. */
  get bodySize(): number {
    return this.inflated?.length ?? this.bodyLength;
  }

  private storedBody(): Buffer {
    const at = this.topicAt - this.topicLengthBytes - this.bodyLength;
    return this.buf.subarray(at, at + this.bodyLength);
  }

  private get topicLengthBytes(): number {
    return this.buf.readInt32BE(this.pos + 4) === MAGIC_V2 ? 2 : 1;
  }

  private get propsAt(): number {
    return this.topicAt + this.topicLength + 2;
  }

  /** Where the properties text starts in the buffer (it ends with the record): for readers that scan it in place. */
  get propertiesStart(): number {
    return this.propsAt;
  }

  // Fixed-position fields are read from the record when asked (fewer fields per object).
  get bodyCRC(): number {
    return this.buf.readInt32BE(this.pos + RecordLayout.BODY_CRC);
  }
  get queueId(): number {
    return this.buf.readInt32BE(this.pos + RecordLayout.QUEUE_ID);
  }
  get flag(): number {
    return this.buf.readInt32BE(this.pos + RecordLayout.FLAG);
  }
  get commitLogOffset(): number {
    return readLong(this.buf, this.pos + RecordLayout.PHYSICAL_OFFSET);
  }
  get bornTimestamp(): number {
    return readLong(this.buf, this.pos + RecordLayout.BORN_TIMESTAMP);
  }
  get storeTimestamp(): number {
    return readLong(this.buf, this.storeHostAt - 8);
  }
  get reconsumeTimes(): number {
    return this.buf.readInt32BE(this.storeHostAt + this.storeHostBytes + 4);
  }
  get preparedTransactionOffset(): number {
    return readLong(this.buf, this.storeHostAt + this.storeHostBytes + 8);
  }

  private get bornHostBytes(): number {
    return (this.sysFlag & MessageSysFlag.BORNHOST_V6) !== 0 ? 16 : 4;
  }
  private get storeHostBytes(): number {
    return (this.sysFlag & MessageSysFlag.STOREHOSTADDRESS_V6) !== 0 ? 16 : 4;
  }
  /** After born host, born port and store timestamp. */
  private get storeHostAt(): number {
    return this.pos + RecordLayout.BORN_HOST + this.bornHostBytes + 4 + 8;
  }

  get topic(): string {
    this.topicText ??= this.buf.toString("utf8", this.topicAt, this.topicAt + this.topicLength);
    return this.topicText;
  }

  get properties(): Properties {
    const end = this.pos + this.storeSize;
    this.props ??= this.propsAt === end ? {} : parseProperties(this.buf.toString("utf8", this.propsAt, end));
    return this.props;
  }

  /** offsetMsgId straight from the record bytes: store host, port, physical offset (spec §7.6). */
  get msgId(): string {
    const at = this.storeHostAt;
    this.id ??= (
      this.buf.toString("hex", at, at + this.storeHostBytes + 4) +
      this.buf.toString("hex", this.pos + 28, this.pos + 36)
    ).toUpperCase();
    return this.id;
  }

  get bornHost(): HostPort {
    const at = this.pos + RecordLayout.BORN_HOST;
    const n = this.bornHostBytes;
    return { host: readHostBytes(this.buf, at, n === 16), port: this.buf.readInt32BE(at + n) };
  }

  get storeHost(): HostPort {
    const at = this.storeHostAt;
    const n = this.storeHostBytes;
    return { host: readHostBytes(this.buf, at, n === 16), port: this.buf.readInt32BE(at + n) };
  }
}

/** Compresses a body with zlib (RFC 1950), returning the sysFlag bits to add (bit 0 + type ZLIB). */
export function compressBody(body: Buffer, level = 5): { body: Buffer; sysFlagBits: number } {
  return {
    body: deflateSync(body, { level }),
    sysFlagBits: MessageSysFlag.COMPRESSED | MessageSysFlag.COMPRESSION_ZLIB,
  };
}

/**
 * Inflates a body whose sysFlag says it is compressed; only zlib is supported (type 0,
 * as ali-ons and pre-4.9.4 Java write it, or type ZLIB). Throws MessageFormatError for
 * LZ4/ZSTD, a corrupt stream, or output beyond `maxBytes`.
 */
export function decompressBody(
  sysFlag: number,
  body: Buffer,
  maxBytes: number = MAX_INFLATED_BODY_BYTES,
): Buffer {
  if ((sysFlag & MessageSysFlag.COMPRESSED) === 0) return body;
  const type = sysFlag & MessageSysFlag.COMPRESSION_TYPE_MASK;
  if (type !== 0 && type !== MessageSysFlag.COMPRESSION_ZLIB) {
    throw new MessageFormatError(`compression type 0x${type.toString(16)} (LZ4/ZSTD) is not supported`);
  }
  try {
    return inflateSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    throw new MessageFormatError(`compressed body does not inflate: ${(err as Error).message}`);
  }
}
