import {
  MAGIC_V1,
  MAGIC_V2,
  MessageFormatError,
  MessageSysFlag,
  MIN_RECORD_BYTES,
  RecordLayout,
} from "@tidemq/protocol";

const TWO_32 = 0x100000000;
const NV = 1; // \u0001 between a property's name and value
const PS = 2; // \u0002 after each pair
const TAGS = Buffer.from("TAGS");
const KEYS = Buffer.from("KEYS");
const UNIQ = Buffer.from("UNIQ_KEY");

/**
 * Reads, in place, only what dispatch needs of a stored record (queue id and offset, sysFlag,
 * store time, topic, and the TAGS, KEYS and UNIQ_KEY properties) — what a replica does for
 * every record it receives. decodeMessage builds a whole message (hosts as strings, msgId,
 * body view, every property in an object), most of the follower's per-record cost.
 *
 * Checks the layout as strictly as decodeMessage (StoredMessage) does: same magic, size and
 * field-overrun checks, same MessageFormatError. Properties are read as parseProperties
 * reads them: pairs split at \u0002, a name ends at its first \u0001 and must not be empty,
 * the last value of a name given twice wins; byte-wise comparison is exact because \u0001
 * and \u0002 never occur inside a UTF-8 multi-byte sequence.
 *
 * One reader is reused record after record (no object per record); the topic string is kept
 * while consecutive records name the same topic bytes.
 */
export class DispatchFields {
  size = 0;
  queueId = 0;
  queueOffset = 0;
  sysFlag = 0;
  storeTimestamp = 0;
  topic = "";
  tags: string | undefined;
  keys: string | undefined;
  uniq: string | undefined;
  /** True when this record's topic bytes differ from the previous record's. */
  topicChanged = true;
  private buf: Buffer = Buffer.alloc(0);
  private propsAt = 0;
  private end = 0;
  private topicBytes: Buffer = Buffer.alloc(0);

  /** The value of any property of the last record read (undefined when absent). */
  readonly property = (name: string): string | undefined => {
    if (name === "TAGS") return this.tags;
    if (name === "KEYS") return this.keys;
    if (name === "UNIQ_KEY") return this.uniq;
    return this.find(Buffer.from(name, "utf8"));
  };

  /** Reads the record at `pos` of `buf` (it must end by `limit`); throws MessageFormatError. */
  read(buf: Buffer, pos: number, limit = buf.length): void {
    const remaining = limit - pos;
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
    const sysFlag = buf.readInt32BE(pos + RecordLayout.SYS_FLAG);
    const bornHostBytes = (sysFlag & MessageSysFlag.BORNHOST_V6) !== 0 ? 16 : 4;
    const storeHostBytes = (sysFlag & MessageSysFlag.STOREHOSTADDRESS_V6) !== 0 ? 16 : 4;
    let p = pos + RecordLayout.BORN_HOST;
    fits(p, bornHostBytes + 4 + 8, end, pos);
    const storeTsAt = p + bornHostBytes + 4;
    p = storeTsAt + 8;
    fits(p, storeHostBytes + 4 + 4 + 8 + 4, end, pos);
    p += storeHostBytes + 4 + 4 + 8;
    const bodyLength = buf.readInt32BE(p);
    p += 4;
    if (bodyLength < 0) throw new MessageFormatError(`record at ${pos} has a negative body length`);
    fits(p, bodyLength, end, pos);
    p += bodyLength;
    // V1: 1-byte topic length; V2 (5.x, topics over 127 bytes): 2 bytes.
    const topicLengthBytes = magic === MAGIC_V2 ? 2 : 1;
    fits(p, topicLengthBytes, end, pos);
    const topicLength = topicLengthBytes === 2 ? buf.readUInt16BE(p) : buf[p]!;
    p += topicLengthBytes;
    fits(p, topicLength + 2, end, pos);
    const topicAt = p;
    p += topicLength;
    const propsLength = buf.readInt16BE(p);
    p += 2;
    if (propsLength < 0) throw new MessageFormatError(`record at ${pos} has a negative properties length`);
    fits(p, propsLength, end, pos);
    if (p + propsLength !== end)
      throw new MessageFormatError(`record at ${pos} has ${end - p - propsLength} stray bytes`);

    this.size = size;
    this.queueId = buf.readInt32BE(pos + RecordLayout.QUEUE_ID);
    this.queueOffset = long(buf, pos + RecordLayout.QUEUE_OFFSET);
    this.sysFlag = sysFlag;
    this.storeTimestamp = long(buf, storeTsAt);
    this.topicChanged = !sameBytes(this.topicBytes, buf, topicAt, topicLength);
    if (this.topicChanged) {
      this.topicBytes = Buffer.from(buf.subarray(topicAt, topicAt + topicLength));
      this.topic = this.topicBytes.toString("utf8");
    }
    this.buf = buf;
    this.propsAt = p;
    this.end = end;
    this.scanProperties();
  }

  /** One pass over the properties for TAGS, KEYS and UNIQ_KEY. */
  private scanProperties(): void {
    const buf = this.buf;
    const to = this.end;
    let tags = -1;
    let tagsEnd = -1;
    let keys = -1;
    let keysEnd = -1;
    let uniq = -1;
    let uniqEnd = -1;
    let start = this.propsAt;
    while (start < to) {
      let nv = -1;
      let end = start;
      for (; end < to; end++) {
        const c = buf[end];
        if (c === PS) break;
        if (c === NV && nv < 0) nv = end;
      }
      const n = nv - start;
      if (n === 4) {
        if (nameIs(buf, start, TAGS)) {
          tags = nv + 1;
          tagsEnd = end;
        } else if (nameIs(buf, start, KEYS)) {
          keys = nv + 1;
          keysEnd = end;
        }
      } else if (n === 8 && nameIs(buf, start, UNIQ)) {
        uniq = nv + 1;
        uniqEnd = end;
      }
      start = end + 1;
    }
    this.tags = tags < 0 ? undefined : buf.toString("utf8", tags, tagsEnd);
    this.keys = keys < 0 ? undefined : buf.toString("utf8", keys, keysEnd);
    this.uniq = uniq < 0 ? undefined : buf.toString("utf8", uniq, uniqEnd);
  }

  /** The last value of the property named `name` (its UTF-8 bytes), scanning the record. */
  private find(name: Buffer): string | undefined {
    if (name.length === 0) return undefined;
    const buf = this.buf;
    const to = this.end;
    let at = -1;
    let atEnd = -1;
    let start = this.propsAt;
    while (start < to) {
      let nv = -1;
      let end = start;
      for (; end < to; end++) {
        const c = buf[end];
        if (c === PS) break;
        if (c === NV && nv < 0) nv = end;
      }
      if (nv - start === name.length && nameIs(buf, start, name)) {
        at = nv + 1;
        atEnd = end;
      }
      start = end + 1;
    }
    return at < 0 ? undefined : buf.toString("utf8", at, atEnd);
  }
}

function fits(p: number, n: number, end: number, pos: number): void {
  if (p + n > end)
    throw new MessageFormatError(`record at ${pos} is inconsistent: a field overruns its size`);
}

function long(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

function nameIs(buf: Buffer, at: number, name: Buffer): boolean {
  for (let k = 0; k < name.length; k++) if (buf[at + k] !== name[k]) return false;
  return true;
}

function sameBytes(a: Buffer, buf: Buffer, at: number, len: number): boolean {
  if (a.length !== len) return false;
  for (let k = 0; k < len; k++) if (a[k] !== buf[at + k]) return false;
  return true;
}
