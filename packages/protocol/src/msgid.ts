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
  const port = buf.readInt32BE(len);
  // A client message id (UNIQ_KEY) has the same length; its pid and hash bytes sit where the
  // port would be, so a "port" past 65535 means it is not an offset id (not a host to dial).
  if (port < 0 || port > 65535) {
    throw new MessageFormatError(
      `"${msgId}" is not an offset message id (its port field ${port} is no TCP port; a client message id?)`,
    );
  }
  return {
    storeHost: { host: readHostBytes(buf, 0, v6), port },
    commitLogOffset: readLong(buf, len + 4),
  };
}

let counter = Math.floor(Math.random() * 0x7fff);
/** Character codes of the hex of the 10 fixed bytes (IPv4 · pid · random int), worked out on first use. */
let prefixCodes: number[] | undefined;
/** The current month's bounds in local time, so the per-id cost is one subtraction. */
let monthStart = 0;
let nextMonthStart = 0;

/** Character codes of the uppercase hex digits. */
const HEX = Array.from("0123456789ABCDEF", (c) => c.charCodeAt(0));

function localIPv4Bytes(): Buffer {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.family === "IPv4" && !ni.internal) return Buffer.from(ni.address.split(".").map(Number));
    }
  }
  return Buffer.from([127, 0, 0, 1]);
}

function prefixHexCodes(): number[] {
  const b = Buffer.alloc(10);
  localIPv4Bytes().copy(b, 0);
  b.writeUInt16BE(process.pid & 0xffff, 4);
  b.writeInt32BE((Math.random() * 0x7fffffff) | 0, 6);
  return Array.from(b.toString("hex").toUpperCase(), (c) => c.charCodeAt(0));
}

function setMonth(now: number): void {
  const d = new Date(now);
  monthStart = new Date(d.getFullYear(), d.getMonth(), 1).getTime();
  nextMonthStart = new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime();
}

/**
 * A client message id (UNIQ_KEY) in Java's layout: IPv4 · pid (short) · a per-process
 * random int (Java: class-loader hash) · ms since the start of this month (int) ·
 * counter (short); 32 uppercase hex characters. Runs once per message, and the id is then
 * read character by character (the batch encoder copies it into the request): one
 * String.fromCharCode call builds it as one flat string, where concatenating pieces would
 * make a rope (V8 ConsString) whose every charCodeAt is several times slower (measured).
 */
export function createUniqId(now: number = Date.now()): string {
  prefixCodes ??= prefixHexCodes();
  const p = prefixCodes;
  if (now < monthStart || now >= nextMonthStart) setMonth(now);
  const t = (now - monthStart) | 0;
  counter = (counter + 1) & 0xffff;
  const c = counter;
  // biome-ignore format: one row per part of the id
  return String.fromCharCode(
    p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!, p[6]!, p[7]!, p[8]!, p[9]!,
    p[10]!, p[11]!, p[12]!, p[13]!, p[14]!, p[15]!, p[16]!, p[17]!, p[18]!, p[19]!,
    HEX[(t >>> 28) & 15]!, HEX[(t >>> 24) & 15]!, HEX[(t >>> 20) & 15]!, HEX[(t >>> 16) & 15]!,
    HEX[(t >>> 12) & 15]!, HEX[(t >>> 8) & 15]!, HEX[(t >>> 4) & 15]!, HEX[t & 15]!,
    HEX[c >>> 12]!, HEX[(c >>> 8) & 15]!, HEX[(c >>> 4) & 15]!, HEX[c & 15]!,
  );
}
