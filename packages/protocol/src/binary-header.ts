import { languageFromByte, languageToByte } from "./codes.js";
import { type ExtFields, type RemotingCommand, SerializeType } from "./command.js";
import { FrameError } from "./errors.js";
import { setOwn } from "./properties.js";
import { type RawBuffer, readInt16, readInt32, writeInt16, writeInt32 } from "./raw-buffer.js";

/**
 * The ROCKETMQ binary header (spec §1.3), encoded straight into the frame and decoded
 * straight from the received chunk. Both run once per frame in every process, so they
 * avoid what costs here: a native call per string (Buffer.write/toString cost ~0.1-0.2 µs
 * each, more than a whole short field), a Buffer per field and a copy of the header.
 */

/** code(2) language(1) version(2) opaque(4) flag(4) remark length(4) ext length(4). */
const FIXED_HEADER_BYTES = 21;

/** ASCII strings up to this long are copied by a JS loop; longer ones by one native latin1 write. */
const JS_COPY_MAX_CHARS = 32;

// Pass 1 of the encoder keeps each field and its byte lengths here for pass 2. Module-level
// so a frame allocates no arrays; safe because encoding is synchronous and runs no caller
// code in between (values that need String() are converted before pass 1, see below).
const fieldKeys: string[] = [];
const fieldValues: string[] = [];
const keyBytes: number[] = [];
const valueBytes: number[] = [];

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * A whole frame with a binary header: length prefix, header word, header and, when
 * `inlineBody`, the body (otherwise the caller writes the body as a separate part; the
 * length prefix counts it either way). One allocation per frame. `check` refuses
 * lengths the frame cannot carry (frame.ts owns those limits).
 */
export function encodeBinaryFrame(
  cmd: RemotingCommand,
  inlineBody: boolean,
  check: (headerLength: number, bodyLength: number) => void,
): Buffer {
  if (cmd.code > 32767 || cmd.code < -32768)
    throw new FrameError(`code ${cmd.code} does not fit a binary header`);
  const remark = cmd.remark ? String(cmd.remark) : "";
  const remarkLength = remark.length === 0 ? 0 : utf8Length(remark);
  const ext = cmd.extFields;
  const fields = ext ? measureFields(ext) : 0;
  // A value that is not a string goes through String(), which may run caller code: such
  // ext fields are converted first, and the converted copy is measured instead.
  if (fields < 0) return encodeBinaryFrame({ ...cmd, extFields: stringValues(ext!) }, inlineBody, check);
  let extLength = 0;
  for (let i = 0; i < fields; i++) extLength += 6 + keyBytes[i]! + valueBytes[i]!;
  const headerLength = FIXED_HEADER_BYTES + remarkLength + extLength;
  const bodyLength = cmd.body ? cmd.body.length : 0;
  check(headerLength, bodyLength);
  const out = Buffer.allocUnsafe(8 + headerLength + (inlineBody ? bodyLength : 0)) as RawBuffer;
  writeInt32(out, 0, 4 + headerLength + bodyLength);
  // Header word: serialize type in the high byte, header length in the low 24 bits.
  out[4] = SerializeType.ROCKETMQ;
  out[5] = headerLength >>> 16;
  out[6] = headerLength >>> 8;
  out[7] = headerLength;
  writeInt16(out, 8, cmd.code);
  out[10] = languageToByte(cmd.language);
  writeInt16(out, 11, cmd.version);
  writeInt32(out, 13, cmd.opaque | 0);
  writeInt32(out, 17, cmd.flag | 0);
  writeInt32(out, 21, remarkLength);
  let p = 25;
  if (remarkLength > 0) p = writeString(out, p, remark, remarkLength);
  writeInt32(out, p, extLength);
  p += 4;
  for (let i = 0; i < fields; i++) {
    const kl = keyBytes[i]!;
    const vl = valueBytes[i]!;
    writeInt16(out, p, kl);
    p = writeString(out, p + 2, fieldKeys[i]!, kl);
    writeInt32(out, p, vl);
    p = writeString(out, p + 4, fieldValues[i]!, vl);
  }
  if (inlineBody && cmd.body) cmd.body.copy(out, p);
  return out;
}

/**
 * Pass 1: the fields to write (own, non-empty key and value: Java reads a zero-length
 * value as null) and their UTF-8 lengths, into the scratch arrays. Returns how many, or
 * -1 when a value is not a string.
 */
function measureFields(ext: ExtFields): number {
  let n = 0;
  for (const k in ext) {
    // hasOwnProperty.call inside for-in is optimised by V8 to a map check (Object.hasOwn is not).
    if (!hasOwn.call(ext, k)) continue;
    const v: unknown = ext[k];
    if (typeof v !== "string") {
      if (v === undefined || v === null) continue;
      return -1;
    }
    if (v.length === 0 || k.length === 0) continue;
    const kl = utf8Length(k);
    if (kl > 32767) throw new FrameError(`ext field name of ${kl} bytes does not fit a short length`);
    fieldKeys[n] = k;
    fieldValues[n] = v;
    keyBytes[n] = kl;
    valueBytes[n] = utf8Length(v);
    n++;
  }
  return n;
}

/** Own ext fields with every non-null value as a string (what the binary header carries). */
function stringValues(ext: Record<string, unknown>): ExtFields {
  const out: ExtFields = {};
  for (const [k, v] of Object.entries(ext)) {
    if (v === undefined || v === null) continue;
    setOwn(out, k, typeof v === "string" ? v : String(v));
  }
  return out;
}

/** UTF-8 byte length; short strings are scanned in JS, longer ones measured natively (a fast call). */
function utf8Length(s: string): number {
  const n = s.length;
  if (n > 16) return Buffer.byteLength(s, "utf8");
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, "utf8");
  }
  return n;
}

/**
 * Writes `s` at p, `byteLength` bytes of UTF-8. A string whose UTF-8 length equals its
 * length is ASCII, whose Latin-1 bytes are its UTF-8 bytes.
 */
function writeString(out: RawBuffer, p: number, s: string, byteLength: number): number {
  if (byteLength !== s.length) return p + out.utf8Write(s, p, byteLength);
  if (byteLength > JS_COPY_MAX_CHARS) return p + out.latin1Write(s, p, byteLength);
  for (let i = 0; i < byteLength; i++) out[p + i] = s.charCodeAt(i);
  return p + byteLength;
}

/** Any byte ≥ 0x80 in a Latin-1 view of bytes. */
const HIGH_BYTE = /[\u0080-\u00ff]/;

/**
 * Ext field names seen recently, by a hash of their length and first byte: a name that
 * matches (the usual case, every request of a kind repeats its names) is reused, which
 * spares a string and V8's internalising of a fresh property name on every store.
 */
const KEY_SLOTS = 256;
const keyCache: Array<string | undefined> = new Array(KEY_SLOTS).fill(undefined);
const KEY_CACHE_MAX_BYTES = 40;

/** Decodes the binary header in b[start, end). */
export function decodeBinaryHeader(b: Buffer, start: number, end: number): RemotingCommand {
  const length = end - start;
  if (length < FIXED_HEADER_BYTES) throw new FrameError(`binary header of ${length} bytes is too short`);
  const raw = b as RawBuffer;
  const remarkLength = readInt32(raw, start + 13);
  if (remarkLength < 0 || remarkLength > length - FIXED_HEADER_BYTES) {
    throw new FrameError(`binary header remark length ${remarkLength} is out of range`);
  }
  const cmd: RemotingCommand = {
    code: readInt16(raw, start),
    language: languageFromByte(raw[start + 2]!),
    version: readInt16(raw, start + 3),
    opaque: readInt32(raw, start + 5),
    flag: readInt32(raw, start + 9),
    serializeType: SerializeType.ROCKETMQ,
  };
  let p = start + 17;
  if (remarkLength > 0) cmd.remark = raw.utf8Slice(p, p + remarkLength);
  p += remarkLength;
  const extLength = readInt32(raw, p);
  p += 4;
  if (extLength < 0 || extLength > end - p) {
    throw new FrameError(`binary header extFields length ${extLength} is out of range`);
  }
  if (extLength > 0) cmd.extFields = decodeExtFields(raw, p, p + extLength);
  return cmd;
}

/**
 * The ext fields in b[start, end): the whole section is read as one Latin-1 string and
 * each name and value cut out of it, which is exact for ASCII. When any byte is ≥ 0x80
 * (a non-ASCII character, or merely a length byte), each field is checked and a
 * non-ASCII one decoded as UTF-8.
 */
function decodeExtFields(b: RawBuffer, start: number, end: number): ExtFields {
  const text = b.latin1Slice(start, end);
  const allAscii = !HIGH_BYTE.test(text);
  const ext: ExtFields = {};
  let p = start;
  while (p < end) {
    if (end - p < 2) throw new FrameError("binary header extFields entry is truncated");
    const kl = readInt16(b, p);
    p += 2;
    if (kl < 0 || end - p < kl + 4) throw new FrameError("binary header extFields key is truncated");
    const key = fieldName(b, text, p, kl, start, allAscii);
    p += kl;
    const vl = readInt32(b, p);
    p += 4;
    if (vl < 0 || end - p < vl) throw new FrameError("binary header extFields value is truncated");
    const value =
      allAscii || isAscii(b, p, p + vl) ? text.substring(p - start, p - start + vl) : b.utf8Slice(p, p + vl);
    p += vl;
    if (key.length > 0 && value.length > 0) setOwn(ext, key, value);
  }
  return ext;
}

/** The name at b[p, p+length), from the cache when it holds it. */
function fieldName(
  b: RawBuffer,
  text: string,
  p: number,
  length: number,
  base: number,
  allAscii: boolean,
): string {
  if (length === 0) return "";
  if (!allAscii && !isAscii(b, p, p + length)) return b.utf8Slice(p, p + length);
  const at = p - base;
  if (length > KEY_CACHE_MAX_BYTES) return text.substring(at, at + length);
  const slot = (length * 31 + b[p]! * 7 + b[p + length - 1]!) & (KEY_SLOTS - 1);
  const cached = keyCache[slot];
  if (cached !== undefined && cached.length === length && text.startsWith(cached, at)) return cached;
  const name = text.substring(at, at + length);
  keyCache[slot] = name;
  return name;
}

function isAscii(b: RawBuffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) return false;
  return true;
}
