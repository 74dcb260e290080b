import { MessageConst, type Properties } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import type { PreparedMessage } from "./Message.js";

/** Own-property test for the for-in loops below (see Message.ts: V8 makes it a map check). */
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * One half as the client writes it into a SEND_HALF_BATCH body (the wire format of the
 * protocol's encodeHalfBatch). Properties known to be printable ASCII (prepareMessage and
 * markHalf measured them) are written straight from the object, WAIT included, with no
 * intermediate text; others from their encoded `properties` text.
 */
export interface HalfBatchMember {
  readonly topic: string;
  readonly queueId: number;
  readonly sysFlag: number;
  readonly bornTimestamp: number;
  readonly flag: number;
  readonly body: Buffer;
  /** The properties object when it is printable ASCII, `propsBytes` long encoded; else undefined. */
  readonly asciiProps: Properties | undefined;
  readonly propsBytes: number;
  /** The encoded properties (read only when asciiProps is undefined). */
  readonly properties: string;
  /** Bytes this entry takes in the body. */
  readonly bytes: number;
}

/** Bytes of an entry besides its topic, properties and body (protocol's halfBatch.ts). */
export const HALF_ENTRY_FIXED_BYTES = 2 + 4 + 4 + 8 + 4 + 4 + 4;

/**
 * The SEND_HALF_BATCH body of `members` (`totalBytes` = the sum of their bytes): written at
 * the start of `into` when given (at least totalBytes long; a pooled buffer) and returned as
 * a view of that much, else in a buffer of its own.
 */
export function encodeHalfBatchMembers(
  members: readonly HalfBatchMember[],
  totalBytes: number,
  into?: Buffer,
): Buffer {
  const out = into === undefined ? Buffer.allocUnsafe(totalBytes) : into.subarray(0, totalBytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let p = 0;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    const end = p + m.bytes;
    const ascii = m.asciiProps;
    const topicLen =
      ascii !== undefined ? writeAscii(out, p + 2, m.topic) - p - 2 : out.write(m.topic, p + 2, "utf8");
    view.setUint16(p, topicLen);
    p += 2 + topicLen;
    view.setInt32(p, m.queueId);
    view.setInt32(p + 4, m.sysFlag);
    // bornTimestamp as a big-endian int64 from a number (far below 2^53).
    view.setUint32(p + 8, Math.floor(m.bornTimestamp / 2 ** 32));
    view.setUint32(p + 12, m.bornTimestamp >>> 0);
    view.setInt32(p + 16, m.flag | 0);
    view.setInt32(p + 20, m.propsBytes);
    p += 24;
    if (ascii !== undefined) p = writeAsciiPairs(out, p, ascii);
    else if (m.propsBytes > 0) p += out.write(m.properties, p, m.propsBytes, "utf8");
    view.setInt32(p, m.body.length);
    out.set(m.body, p + 4);
    p += 4 + m.body.length;
    if (p !== end) throw new ClientError(`half ${i} of a SEND_HALF_BATCH changed while it was being encoded`);
  }
  return out;
}

/** Every property as encodeProperties writes it (name \u0001 value \u0002), all ASCII. */
function writeAsciiPairs(out: Buffer, p: number, props: Properties): number {
  for (const k in props) {
    const v = props[k];
    if (!hasOwn.call(props, k) || k.length === 0 || typeof v !== "string") continue;
    p = writeAscii(out, p, k);
    out[p++] = 1;
    p = writeAscii(out, p, v);
    out[p++] = 2;
  }
  return p;
}

function writeAscii(out: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[p + i] = s.charCodeAt(i);
  return p + s.length;
}

/**
 * Encoded bytes of a half's properties (WAIT included) when prepareMessage and markHalf
 * measured them as printable ASCII, so they can be written straight from the object; -1
 * when they are not known to be (then they are encoded as text).
 */
export function asciiHalfPropertiesBytes(msg: PreparedMessage): number {
  const withoutWait = msg.asciiPropertiesBytes;
  if (withoutWait === undefined || withoutWait < 0) return -1;
  const wait = msg.properties[MessageConst.WAIT_STORE_MSG_OK];
  return wait === undefined
    ? withoutWait
    : withoutWait + MessageConst.WAIT_STORE_MSG_OK.length + wait.length + 2;
}
