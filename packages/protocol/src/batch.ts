import { MessageFormatError } from "./errors.js";
import { encodeProperties, type Properties, parseProperties } from "./properties.js";

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

/** Decodes a batch body; bodies are views into `buf`. */
export function decodeBatchBody(buf: Buffer): BatchEntry[] {
  const out: BatchEntry[] = [];
  let p = 0;
  while (p < buf.length) {
    if (buf.length - p < 22) throw new MessageFormatError(`batch entry at ${p} is truncated`);
    const size = buf.readInt32BE(p);
    if (size < 22 || size > buf.length - p)
      throw new MessageFormatError(`batch entry at ${p} has bad size ${size}`);
    const flag = buf.readInt32BE(p + 12);
    const bodyLength = buf.readInt32BE(p + 16);
    if (bodyLength < 0 || 20 + bodyLength + 2 > size) {
      throw new MessageFormatError(`batch entry at ${p} has bad body length ${bodyLength}`);
    }
    const body = buf.subarray(p + 20, p + 20 + bodyLength);
    const propsLength = buf.readInt16BE(p + 20 + bodyLength);
    if (propsLength < 0 || 22 + bodyLength + propsLength !== size) {
      throw new MessageFormatError(`batch entry at ${p} has bad properties length ${propsLength}`);
    }
    const props = parseProperties(buf.toString("utf8", p + 22 + bodyLength, p + size));
    out.push({ flag, body, properties: props });
    p += size;
  }
  return out;
}
