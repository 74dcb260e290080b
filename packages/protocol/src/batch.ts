import { MessageFormatError } from "./errors.js";
import { encodeProperties, type Properties, parseProperties } from "./properties.js";
import { readInt16, readInt32 } from "./raw-buffer.js";

/** One entry of a SEND_BATCH_MESSAGE body (spec §4.2). */
export interface BatchEntry {
  flag: number;
  body: Buffer;
  properties: Properties;
}

/** Encodes a batch body: per entry size · magic 0 · crc 0 · flag · body · properties. */
export function encodeBatchBody(entries: BatchEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const props = Buffer.from(encodeProperties(e.properties), "utf8");
    if (props.length > 32767) {
      throw new MessageFormatError(`batch entry properties of ${props.length} bytes exceed 32767`);
    }
    const size = 20 + e.body.length + 2 + props.length;
    const head = Buffer.allocUnsafe(20);
    head.writeInt32BE(size, 0);
    head.writeInt32BE(0, 4);
    head.writeInt32BE(0, 8);
    head.writeInt32BE(e.flag | 0, 12);
    head.writeInt32BE(e.body.length, 16);
    const tail = Buffer.allocUnsafe(2);
    tail.writeInt16BE(props.length, 0);
    parts.push(head, e.body, tail, props);
  }
  return Buffer.concat(parts);
}

/**
 * Start and size of every entry of a batch body, flat ([start0, size0, start1, ...]), each
 * entry's framing checked (size, body length, properties length); MessageFormatError names
 * the first bad entry.
 */
export function batchEntryBounds(buf: Buffer): number[] {
  const bounds: number[] = [];
  let p = 0;
  while (p < buf.length) {
    if (buf.length - p < 22) throw new MessageFormatError(`batch entry at ${p} is truncated`);
    const size = readInt32(buf, p);
    if (size < 22 || size > buf.length - p)
      throw new MessageFormatError(`batch entry at ${p} has bad size ${size}`);
    const bodyLength = readInt32(buf, p + 16);
    if (bodyLength < 0 || 20 + bodyLength + 2 > size) {
      throw new MessageFormatError(`batch entry at ${p} has bad body length ${bodyLength}`);
    }
    const propsLength = readInt16(buf, p + 20 + bodyLength);
    if (propsLength < 0 || 22 + bodyLength + propsLength !== size) {
      throw new MessageFormatError(`batch entry at ${p} has bad properties length ${propsLength}`);
    }
    bounds.push(p, size);
    p += size;
  }
  return bounds;
}

/** Decodes a batch body; bodies are views into `buf`. */
export function decodeBatchBody(buf: Buffer): BatchEntry[] {
  const bounds = batchEntryBounds(buf);
  const out: BatchEntry[] = [];
  for (let k = 0; k < bounds.length; k += 2) {
    const p = bounds[k]!;
    const size = bounds[k + 1]!;
    const bodyLength = buf.readInt32BE(p + 16);
    out.push({
      flag: buf.readInt32BE(p + 12),
      body: buf.subarray(p + 20, p + 20 + bodyLength),
      properties: parseProperties(buf.toString("utf8", p + 22 + bodyLength, p + size)),
    });
  }
  return out;
}
