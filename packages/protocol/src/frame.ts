import { decodeBinaryHeader, encodeBinaryFrame } from "./binary-header.js";
import { type RemotingCommand, SerializeType } from "./command.js";
import { FrameError } from "./errors.js";
import { decodeJsonHeader, jsonHeaderObject, jsonHeaderText } from "./json-header.js";
import { type RawBuffer, readInt32, writeInt32 } from "./raw-buffer.js";

/** Java's default frame limit (com.rocketmq.remoting.frameMaxLength): length field + 4 ≤ 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The header length shares its int with the serialize type byte, so it has 24 bits. */
export const MAX_HEADER_BYTES = 0xffffff;

/** Encodes a command as one frame, length prefix included. */
export function encodeFrame(cmd: RemotingCommand): Buffer {
  return encodeWithBody(cmd, true);
}

/** Bodies at least this big are not copied into the frame but written as a part of their own. */
const SEPARATE_BODY_BYTES = 4096;

/**
 * Encodes a frame as the parts to write (prefix+header, body), so a large body is
 * written without being copied.
 */
export function encodeFrameParts(cmd: RemotingCommand): Buffer[] {
  if (!cmd.body || cmd.body.length < SEPARATE_BODY_BYTES) return [encodeWithBody(cmd, true)];
  return [encodeWithBody(cmd, false), cmd.body];
}

/** The frame, with the body copied in when `inlineBody` (the length prefix counts it either way). */
function encodeWithBody(cmd: RemotingCommand, inlineBody: boolean): Buffer {
  if (cmd.serializeType === SerializeType.ROCKETMQ)
    return encodeBinaryFrame(cmd, inlineBody, checkEncodedLength);
  if (cmd.serializeType === SerializeType.JSON) {
    return encodeJsonFrame(
      jsonHeaderText(cmd) ?? JSON.stringify(jsonHeaderObject(cmd)),
      cmd.body,
      inlineBody,
    );
  }
  throw new FrameError(`unknown serialize type ${String(cmd.serializeType)}`);
}

function encodeJsonFrame(text: string, body: Buffer | undefined, inlineBody: boolean): Buffer {
  const headerLength = Buffer.byteLength(text, "utf8");
  const bodyLength = body ? body.length : 0;
  checkEncodedLength(headerLength, bodyLength);
  const out = Buffer.allocUnsafe(8 + headerLength + (inlineBody ? bodyLength : 0)) as RawBuffer;
  writeInt32(out, 0, 4 + headerLength + bodyLength);
  writeInt32(out, 4, headerWord(SerializeType.JSON, headerLength));
  // ASCII text (the usual header) is its own Latin-1, which Buffer copies fastest.
  if (headerLength === text.length) out.latin1Write(text, 8, headerLength);
  else out.utf8Write(text, 8, headerLength);
  if (inlineBody && body) body.copy(out, 8 + headerLength);
  return out;
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

/** Decodes one frame given the bytes after its 4-byte length prefix. */
export function decodeFrame(frame: Buffer): RemotingCommand {
  return decodeFrameAt(frame, 0, frame.length);
}

/**
 * Decodes the frame in b[start, end) (after its length prefix) where it lies: no copy and
 * no Buffer for the header; the body is a view into b.
 */
function decodeFrameAt(b: Buffer, start: number, end: number): RemotingCommand {
  const length = end - start;
  if (length < 4) throw new FrameError(`frame of ${length} bytes is too short for a header word`);
  const type = b[start]!;
  const headerLength = (b[start + 1]! << 16) | (b[start + 2]! << 8) | b[start + 3]!;
  if (headerLength > length - 4) {
    throw new FrameError(`header length ${headerLength} exceeds the frame (${length - 4} bytes left)`);
  }
  const headerEnd = start + 4 + headerLength;
  let cmd: RemotingCommand;
  if (type === SerializeType.JSON) cmd = decodeJsonHeader((b as RawBuffer).utf8Slice(start + 4, headerEnd));
  else if (type === SerializeType.ROCKETMQ) cmd = decodeBinaryHeader(b, start + 4, headerEnd);
  else throw new FrameError(`unknown serialize type ${type}`);
  if (end > headerEnd) cmd.body = b.subarray(headerEnd, end);
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
        out.push(decodeFrameAt(complete, 0, complete.length));
        continue;
      }
      const need = 4 - this.prefix.length;
      if (chunk.length - pos < need) {
        this.prefix = Buffer.concat([this.prefix, chunk.subarray(pos)]);
        break;
      }
      let length: number;
      if (this.prefix.length === 0) {
        length = readInt32(chunk, pos);
      } else {
        length = Buffer.concat([this.prefix, chunk.subarray(pos, pos + need)]).readInt32BE(0);
        this.prefix = Buffer.alloc(0);
      }
      pos += need;
      this.checkLength(length);
      if (chunk.length - pos >= length) {
        // The usual case: the frame lies inside this chunk and is decoded in place.
        out.push(decodeFrameAt(chunk, pos, pos + length));
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
