import { networkInterfaces } from "node:os";
import { MessageFormatError } from "./errors.js";
import { type HostPort, hostByteLength, readHostBytes, writeHostBytes } from "./host.js";
import { readLong, writeLong } from "./long.js";

/** offsetMsgId = uppercase hex of store host bytes, port (int), commit-log offset (long), spec §7.6. */
export function createOffsetMsgId(storeHost: HostPort, commitLogOffset: number): string {
  const len = hostByteLength(storeHost.host);
  const buf = Buffer.allocUnsafe(len + 12);
  writeHostBytes(buf, 0, storeHost.host);
  buf.writeInt32BE(storeHost.port, len);
  writeLong(buf, commitLogOffset, len + 4);
  return buf.toString("hex").toUpperCase();
}

/** Decodes an offsetMsgId (32 hex chars for IPv4, 56 for IPv6). */
export function decodeOffsetMsgId(msgId: string): { storeHost: HostPort; commitLogOffset: number } {
  if (!/^[0-9A-Fa-f]+$/.test(msgId) || (msgId.length !== 32 && msgId.length !== 56)) {
    throw new MessageFormatError(`"${msgId}" is not an offset message id (32 or 56 hex characters)`);
  }
  const buf = Buffer.from(msgId, "hex");
  const v6 = buf.length === 28;
  const len = v6 ? 16 : 4;
  return {
    storeHost: { host: readHostBytes(buf, 0, v6), port: buf.readInt32BE(len) },
    commitLogOffset: readLong(buf, len + 4),
  };
}

let counter = Math.floor(Math.random() * 0x7fff);
let uniqPrefix: Buffer | undefined;

function localIPv4Bytes(): Buffer {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.family === "IPv4" && !ni.internal) return Buffer.from(ni.address.split(".").map(Number));
    }
  }
  return Buffer.from([127, 0, 0, 1]);
}

/**
 * A client message id (UNIQ_KEY) in Java's layout: IPv4 · pid (short) · a per-process
 * random int (Java: class-loader hash) · ms since the start of this month (int) ·
 * counter (short); 32 uppercase hex characters.
 */
export function createUniqId(now: number = Date.now()): string {
  if (!uniqPrefix) {
    uniqPrefix = Buffer.alloc(10);
    localIPv4Bytes().copy(uniqPrefix, 0);
    uniqPrefix.writeUInt16BE(process.pid & 0xffff, 4);
    uniqPrefix.writeInt32BE((Math.random() * 0x7fffffff) | 0, 6);
  }
  const d = new Date(now);
  const monthStart = new Date(d.getFullYear(), d.getMonth(), 1).getTime();
  const buf = Buffer.allocUnsafe(16);
  uniqPrefix.copy(buf, 0);
  buf.writeInt32BE((now - monthStart) | 0, 10);
  counter = (counter + 1) & 0xffff;
  buf.writeUInt16BE(counter, 14);
  return buf.toString("hex").toUpperCase();
}
