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
/** Hex of the 10 fixed bytes (IPv4 · pid · random int), worked out on first use. */
let uniqPrefixHex: string | undefined;
/** The current month's bounds in local time, so the per-id cost is one subtraction. */
let monthStart = 0;
let nextMonthStart = 0;

/** "00".."FF": two uppercase hex digits per byte value (no Buffer or toString per id). */
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).toUpperCase().padStart(2, "0"),
);

function localIPv4Bytes(): Buffer {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.family === "IPv4" && !ni.internal) return Buffer.from(ni.address.split(".").map(Number));
    }
  }
  return Buffer.from([127, 0, 0, 1]);
}

function prefixHex(): string {
  const b = Buffer.alloc(10);
  localIPv4Bytes().copy(b, 0);
  b.writeUInt16BE(process.pid & 0xffff, 4);
  b.writeInt32BE((Math.random() * 0x7fffffff) | 0, 6);
  return b.toString("hex").toUpperCase();
}

function setMonth(now: number): void {
  const d = new Date(now);
  monthStart = new Date(d.getFullYear(), d.getMonth(), 1).getTime();
  nextMonthStart = new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime();
}

/**
 * A client message id (UNIQ_KEY) in Java's layout: IPv4 · pid (short) · a per-process
 * random int (Java: class-loader hash) · ms since the start of this month (int) ·
 * counter (short); 32 uppercase hex characters. Runs once per message: string pieces from
 * a table, the month bounds cached.
 */
export function createUniqId(now: number = Date.now()): string {
  uniqPrefixHex ??= prefixHex();
  if (now < monthStart || now >= nextMonthStart) setMonth(now);
  const t = (now - monthStart) | 0;
  counter = (counter + 1) & 0xffff;
  // The 12-character tail is built first: V8 copies strings this short into a flat string,
  // so the id is one concatenation of two flat strings, not a tree of six.
  const tail =
    HEX2[(t >>> 24) & 0xff]! +
    HEX2[(t >>> 16) & 0xff]! +
    HEX2[(t >>> 8) & 0xff]! +
    HEX2[t & 0xff]! +
    HEX2[counter >>> 8]! +
    HEX2[counter & 0xff]!;
  return uniqPrefixHex + tail;
}
