import { languageFromByte, languageToByte } from "./codes.js";
import { type ExtFields, type RemotingCommand, SerializeType } from "./command.js";
import { FrameError } from "./errors.js";
import { setOwn } from "./properties.js";

/** Java's default frame limit (com.rocketmq.remoting.frameMaxLength): length field + 4 ≤ 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The header length shares its int with the serialize type byte, so it has 24 bits. */
export const MAX_HEADER_BYTES = 0xffffff;

/** Encodes a command as one frame, length prefix included. */
export function encodeFrame(cmd: RemotingCommand): Buffer {
  if (cmd.serializeType === SerializeType.JSON) {
    const text = jsonHeaderText(cmd);
    if (text !== undefined) {
      // The header text goes straight into the frame: no intermediate header buffer.
      const headerLength = Buffer.byteLength(text, "utf8");
      const bodyLength = cmd.body ? cmd.body.length : 0;
      checkEncodedLength(headerLength, bodyLength);
      const out = Buffer.allocUnsafe(8 + headerLength + bodyLength);
      out.writeInt32BE(4 + headerLength + bodyLength, 0);
      out.writeUInt32BE(headerWord(SerializeType.JSON, headerLength), 4);
      out.write(text, 8, "utf8");
      if (cmd.body) cmd.body.copy(out, 8 + headerLength);
      return out;
    }
  }
  const header = encodeHeaderBytes(cmd);
  const bodyLength = cmd.body ? cmd.body.length : 0;
  const out = frameHead(cmd.serializeType, header, bodyLength, bodyLength);
  if (cmd.body) cmd.body.copy(out, 8 + header.length);
  return out;
}

/** Length prefix, header word and header of a frame, with `room` bytes left free after them. */
function frameHead(type: SerializeType, header: Buffer, bodyLength: number, room: number): Buffer {
  checkEncodedLength(header.length, bodyLength);
  const out = Buffer.allocUnsafe(8 + header.length + room);
  out.writeInt32BE(4 + header.length + bodyLength, 0);
  out.writeUInt32BE(headerWord(type, header.length), 4);
  header.copy(out, 8);
  return out;
}

function encodeHeaderBytes(cmd: RemotingCommand): Buffer {
  if (cmd.serializeType === SerializeType.ROCKETMQ) return encodeBinaryHeader(cmd);
  if (cmd.serializeType === SerializeType.JSON) return encodeJsonHeader(cmd);
  throw new FrameError(`unknown serialize type ${String(cmd.serializeType)}`);
}

/** Serialize type in the high byte, header length in the low 24 bits (spec §1.1). */
function headerWord(type: SerializeType, headerLength: number): number {
  return ((type & 0xff) * 0x1000000 + headerLength) >>> 0;
}

function checkEncodedLength(headerLength: number, bodyLength: number): void {
  if (headerLength > MAX_HEADER_BYTES) {
    throw new FrameError(`header of ${headerLength} bytes does not fit the 24-bit header length`);
  }
  if (4 + headerLength + bodyLength > 0x7fffffff) {
    throw new FrameError(`frame of ${4 + headerLength + bodyLength} bytes does not fit the int length field`);
  }
}

/**
 * Encodes a frame as the parts to write (prefix+header, body), so a large body is
 * written without being copied.
 */
export function encodeFrameParts(cmd: RemotingCommand): Buffer[] {
  if (!cmd.body || cmd.body.length < 4096) return [encodeFrame(cmd)];
  return [frameHead(cmd.serializeType, encodeHeaderBytes(cmd), cmd.body.length, 0), cmd.body];
}

/**
 * The JSON header built as text, for the usual command (int fields, string ext values):
 * the same bytes JSON.stringify gives for encodeJsonHeader's object, without building that
 * object. undefined for anything unusual, which takes the general path.
 */
function jsonHeaderText(cmd: RemotingCommand): string | undefined {
  const { code, opaque, flag, version } = cmd;
  if (
    !Number.isInteger(code) ||
    !Number.isInteger(opaque) ||
    !Number.isInteger(flag) ||
    !Number.isInteger(version) ||
    typeof cmd.language !== "string"
  ) {
    return undefined;
  }
  let s = `{"code":${code},"language":${JSON.stringify(cmd.language)},"opaque":${opaque},"flag":${flag},"version":${version}`;
  if (cmd.remark !== undefined && cmd.remark !== null) {
    if (typeof cmd.remark !== "string") return undefined;
    s += `,"remark":${JSON.stringify(cmd.remark)}`;
  }
  const ext = cmd.extFields;
  if (ext) {
    let fields = "";
    // for-in order = Object.keys order (integer-like keys first), as JSON.stringify uses.
    for (const k in ext) {
      if (!Object.hasOwn(ext, k)) continue;
      const v: unknown = ext[k];
      if (v === undefined) continue;
      if (typeof v !== "string") return undefined;
      fields += `${fields.length === 0 ? "" : ","}${JSON.stringify(k)}:${JSON.stringify(v)}`;
    }
    if (fields.length > 0) s += `,"extFields":{${fields}}`;
    else if (Object.keys(ext).length > 0) s += `,"extFields":{}`;
  }
  return `${s}}`;
}

function encodeJsonHeader(cmd: RemotingCommand): Buffer {
  // ali-ons' key order, so a frame we write is byte-for-byte what ali-ons writes for the
  // same command (order means nothing to any parser; it makes golden vectors exact).
  const obj: Record<string, unknown> = {
    code: cmd.code,
    language: cmd.language,
    opaque: cmd.opaque,
    flag: cmd.flag,
    version: cmd.version,
  };
  if (cmd.remark !== undefined && cmd.remark !== null) obj.remark = cmd.remark;
  if (cmd.extFields && Object.keys(cmd.extFields).length > 0) obj.extFields = cmd.extFields;
  return Buffer.from(JSON.stringify(obj), "utf8");
}

function encodeBinaryHeader(cmd: RemotingCommand): Buffer {
  if (cmd.code > 32767 || cmd.code < -32768)
    throw new FrameError(`code ${cmd.code} does not fit a binary header`);
  const remark = cmd.remark ? String(cmd.remark) : undefined;
  const remarkLength = remark ? Buffer.byteLength(remark, "utf8") : 0;
  // Pass 1: what is written and its byte lengths (no per-field Buffer).
  const keys: string[] = [];
  const values: string[] = [];
  const lengths: number[] = [];
  let extLength = 0;
  const ext = cmd.extFields;
  if (ext) {
    for (const k in ext) {
      if (!Object.hasOwn(ext, k)) continue;
      const raw: unknown = ext[k];
      if (raw === undefined || raw === null || k.length === 0) continue;
      // Java decodes a zero-length value as null, so an empty value is not written at all.
      const v = typeof raw === "string" ? raw : String(raw);
      if (v.length === 0) continue;
      const kl = byteLengthOf(k);
      const vl = byteLengthOf(v);
      if (kl > 32767) throw new FrameError(`ext field name of ${kl} bytes does not fit a short length`);
      keys.push(k);
      values.push(v);
      lengths.push(kl, vl);
      extLength += 2 + kl + 4 + vl;
    }
  }
  const out = Buffer.allocUnsafe(21 + remarkLength + extLength);
  let p = 0;
  p = out.writeInt16BE(cmd.code, p);
  p = out.writeUInt8(languageToByte(cmd.language), p);
  p = out.writeInt16BE((cmd.version << 16) >> 16, p);
  p = out.writeInt32BE(cmd.opaque | 0, p);
  p = out.writeInt32BE(cmd.flag | 0, p);
  p = out.writeInt32BE(remarkLength, p);
  if (remark) p += out.write(remark, p, "utf8");
  p = out.writeInt32BE(extLength, p);
  for (let i = 0; i < keys.length; i++) {
    const kl = lengths[2 * i]!;
    const vl = lengths[2 * i + 1]!;
    p = out.writeInt16BE(kl, p);
    p = writeText(out, p, keys[i]!, kl);
    p = out.writeInt32BE(vl, p);
    p = writeText(out, p, values[i]!, vl);
  }
  return out;
}

/** UTF-8 length; short ASCII strings (ext fields, message ids) are counted without a native call. */
function byteLengthOf(s: string): number {
  if (s.length <= 64) {
    let ascii = true;
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return s.length;
  }
  return Buffer.byteLength(s, "utf8");
}

/** Writes `s` (byteLength bytes of UTF-8) at p; short ASCII byte by byte. */
function writeText(out: Buffer, p: number, s: string, byteLength: number): number {
  if (byteLength === s.length && byteLength <= 64) {
    for (let i = 0; i < byteLength; i++) out[p + i] = s.charCodeAt(i);
    return p + byteLength;
  }
  return p + out.write(s, p, "utf8");
}

/** Buffer's own UTF-8 slicer: what toString("utf8", s, e) ends in, without its argument checks. */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };
const ONE_CHAR: string[] = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));

/** Short ASCII runs (field names, numbers) decoded in JS; anything else by Buffer. */
function readText(b: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === 1 && b[start]! < 0x80) return ONE_CHAR[b[start]!]!;
  return (b as Utf8Sliceable).utf8Slice(start, end);
}

/** Decodes one frame given the bytes after its 4-byte length prefix. */
export function decodeFrame(frame: Buffer): RemotingCommand {
  if (frame.length < 4) throw new FrameError(`frame of ${frame.length} bytes is too short for a header word`);
  const word = frame.readUInt32BE(0);
  const type = word >>> 24;
  const headerLength = word & 0xffffff;
  if (headerLength > frame.length - 4) {
    throw new FrameError(`header length ${headerLength} exceeds the frame (${frame.length - 4} bytes left)`);
  }
  const header = frame.subarray(4, 4 + headerLength);
  const body = frame.length > 4 + headerLength ? frame.subarray(4 + headerLength) : undefined;
  let cmd: RemotingCommand;
  if (type === SerializeType.JSON) cmd = decodeJsonHeader(header);
  else if (type === SerializeType.ROCKETMQ) cmd = decodeBinaryHeader(header);
  else throw new FrameError(`unknown serialize type ${type}`);
  if (body) cmd.body = body;
  return cmd;
}

function decodeJsonHeader(header: Buffer): RemotingCommand {
  let obj: unknown;
  try {
    obj = JSON.parse(header.toString("utf8"));
  } catch (err) {
    throw new FrameError(`JSON header does not parse: ${(err as Error).message}`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new FrameError("JSON header is not an object");
  }
  const h = obj as Record<string, unknown>;
  const code = intField(h, "code", true);
  const cmd: RemotingCommand = {
    code,
    language: typeof h.language === "string" ? h.language : "JAVA",
    version: intField(h, "version", false),
    opaque: intField(h, "opaque", false),
    flag: intField(h, "flag", false),
    serializeType: SerializeType.JSON,
  };
  if (typeof h.remark === "string") cmd.remark = h.remark;
  if (h.extFields !== undefined && h.extFields !== null) {
    if (typeof h.extFields !== "object" || Array.isArray(h.extFields)) {
      throw new FrameError("JSON header field extFields is not an object");
    }
    const parsed = h.extFields as Record<string, unknown>;
    // JSON.parse made a fresh object with own data properties only ("__proto__" included):
    // when every value is already a string it can be used as it is.
    let allStrings = true;
    for (const k in parsed) {
      if (typeof parsed[k] !== "string") {
        allStrings = false;
        break;
      }
    }
    if (allStrings) cmd.extFields = parsed as ExtFields;
    else {
      const ext: ExtFields = {};
      for (const [k, v] of Object.entries(parsed)) {
        if (v === null || v === undefined) continue;
        setOwn(ext, k, typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v));
      }
      cmd.extFields = ext;
    }
  }
  return cmd;
}

function intField(h: Record<string, unknown>, name: string, required: boolean): number {
  const v = h[name];
  if (v === undefined || v === null) {
    if (required) throw new FrameError(`JSON header lacks the field ${name}`);
    return 0;
  }
  // fastjson would also read "12" as 12; anything that is not a Java int is refused.
  const n = typeof v === "string" ? (/^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : Number.NaN) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
    throw new FrameError(`JSON header field ${name} is not an int: ${JSON.stringify(v)}`);
  }
  return n;
}

function decodeBinaryHeader(header: Buffer): RemotingCommand {
  if (header.length < 21) throw new FrameError(`binary header of ${header.length} bytes is too short`);
  let p = 0;
  const code = header.readInt16BE(p);
  p += 2;
  const language = languageFromByte(header.readUInt8(p));
  p += 1;
  const version = header.readInt16BE(p);
  p += 2;
  const opaque = header.readInt32BE(p);
  p += 4;
  const flag = header.readInt32BE(p);
  p += 4;
  const remarkLength = header.readInt32BE(p);
  p += 4;
  if (remarkLength < 0 || remarkLength > header.length - p - 4) {
    throw new FrameError(`binary header remark length ${remarkLength} is out of range`);
  }
  const cmd: RemotingCommand = {
    code,
    language,
    version,
    opaque,
    flag,
    serializeType: SerializeType.ROCKETMQ,
  };
  if (remarkLength > 0) cmd.remark = readText(header, p, p + remarkLength);
  p += remarkLength;
  const extLength = header.readInt32BE(p);
  p += 4;
  if (extLength < 0 || extLength > header.length - p) {
    throw new FrameError(`binary header extFields length ${extLength} is out of range`);
  }
  if (extLength > 0) {
    const end = p + extLength;
    const ext: ExtFields = {};
    while (p < end) {
      if (end - p < 2) throw new FrameError("binary header extFields entry is truncated");
      const kl = header.readInt16BE(p);
      p += 2;
      if (kl < 0 || end - p < kl + 4) throw new FrameError("binary header extFields key is truncated");
      const key = readText(header, p, p + kl);
      p += kl;
      const vl = header.readInt32BE(p);
      p += 4;
      if (vl < 0 || end - p < vl) throw new FrameError("binary header extFields value is truncated");
      const value = readText(header, p, p + vl);
      p += vl;
      if (key.length > 0 && value.length > 0) setOwn(ext, key, value);
    }
    cmd.extFields = ext;
  }
  return cmd;
}

/**
 * Streaming frame decoder: feed it socket chunks in any split; it returns every
 * complete frame. A bad length or header throws FrameError, after which the
 * connection should be closed: the stream cannot be resynchronised, so every later
 * push throws the same error. A frame that is merely incomplete stays pending.
 * Decoded bodies may be views into the pushed chunks (no copy), so callers must not
 * reuse a chunk buffer after pushing it (sockets never do).
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  private prefix: Buffer = Buffer.alloc(0);
  private frame: Buffer | null = null;
  private filled = 0;
  private failure: FrameError | null = null;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received for an incomplete frame (its length prefix included), not yet returned. */
  get pendingBytes(): number {
    return this.frame ? 4 + this.filled : this.prefix.length;
  }

  push(chunk: Buffer): RemotingCommand[] {
    if (this.failure) throw this.failure;
    try {
      return this.decodeChunk(chunk);
    } catch (err) {
      this.failure =
        err instanceof FrameError ? err : new FrameError(`frame does not decode: ${String(err)}`);
      this.prefix = Buffer.alloc(0);
      this.frame = null;
      this.filled = 0;
      throw this.failure;
    }
  }

  private decodeChunk(chunk: Buffer): RemotingCommand[] {
    const out: RemotingCommand[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.frame) {
        const n = Math.min(this.frame.length - this.filled, chunk.length - pos);
        chunk.copy(this.frame, this.filled, pos, pos + n);
        this.filled += n;
        pos += n;
        if (this.filled < this.frame.length) break;
        const complete = this.frame;
        this.frame = null;
        this.filled = 0;
        out.push(decodeFrame(complete));
        continue;
      }
      const need = 4 - this.prefix.length;
      if (chunk.length - pos < need) {
        this.prefix = Buffer.concat([this.prefix, chunk.subarray(pos)]);
        break;
      }
      let length: number;
      if (this.prefix.length === 0) {
        length = chunk.readInt32BE(pos);
      } else {
        length = Buffer.concat([this.prefix, chunk.subarray(pos, pos + need)]).readInt32BE(0);
        this.prefix = Buffer.alloc(0);
      }
      pos += need;
      this.checkLength(length);
      if (chunk.length - pos >= length) {
        out.push(decodeFrame(chunk.subarray(pos, pos + length)));
        pos += length;
      } else {
        this.frame = Buffer.allocUnsafe(length);
        this.filled = 0;
      }
    }
    return out;
  }

  private checkLength(length: number): void {
    if (length < 4) throw new FrameError(`frame length ${length} is invalid (must be at least 4)`);
    if (length + 4 > this.maxFrameBytes) {
      throw new FrameError(`frame of ${length + 4} bytes exceeds the limit of ${this.maxFrameBytes} bytes`);
    }
  }
}
