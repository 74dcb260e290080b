import { isIPv4, isIPv6 } from "node:net";

/** An address as RocketMQ stores it: host bytes plus an int port. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Maps a peer address to the IPv4 form we store (spec §7.1): ali-ons reads every host as
 * 4 bytes and breaks on IPv6 records, so an IPv4-mapped address (`::ffff:a.b.c.d`, also
 * in its hex spelling `::ffff:7f00:1`) becomes `a.b.c.d`, `::1` becomes 127.0.0.1 and any
 * other IPv6 address becomes the 127.0.0.1 placeholder.
 */
export function toStorableIPv4(address: string | undefined): string {
  if (!address) return "127.0.0.1";
  let v = storable.get(address);
  if (v === undefined) {
    v = computeStorableIPv4(address);
    if (storable.size >= 1024) storable.clear();
    storable.set(address, v);
  }
  return v;
}

/** Socket addresses seen recently → their storable form (parsing IPv6 text is not cheap). */
const storable = new Map<string, string>();

function computeStorableIPv4(address: string): string {
  if (isIPv4(address)) return address;
  const text = stripZone(address);
  if (!isIPv6(text)) return "127.0.0.1";
  const b = ipv6Bytes(text);
  if (isV4Mapped(b)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return "127.0.0.1";
}

/** Number of bytes a host takes in a record or message id: 4 (IPv4) or 16 (IPv6). */
export function hostByteLength(host: string): number {
  return isIPv6(stripZone(host)) ? 16 : 4;
}

/** Writes the host bytes at `pos`; returns the position after them. */
export function writeHostBytes(buf: Buffer, pos: number, host: string): number {
  if (isIPv4(host)) {
    const parts = host.split(".");
    for (let i = 0; i < 4; i++) buf[pos + i] = Number(parts[i]);
    return pos + 4;
  }
  const v6 = stripZone(host);
  if (isIPv6(v6)) {
    ipv6Bytes(v6).copy(buf, pos);
    return pos + 16;
  }
  throw new TypeError(`not an IP address: ${host}`);
}

/**
 * Reads 4 or 16 host bytes. IPv6 comes back in the canonical text form of RFC 5952
 * (`::1`, `fe80::1`, `::ffff:10.0.0.1`), the form Node's sockets report, so an address
 * written with writeHostBytes reads back equal to `canonicalHost` of it.
 */
export function readHostBytes(buf: Buffer, pos: number, v6: boolean): string {
  if (!v6) return `${buf[pos]}.${buf[pos + 1]}.${buf[pos + 2]}.${buf[pos + 3]}`;
  return formatIPv6(buf.subarray(pos, pos + 16));
}

/** The canonical spelling of an IP address (IPv6 per RFC 5952, zone dropped); other text unchanged. */
export function canonicalHost(host: string): string {
  if (isIPv4(host)) return host;
  const v6 = stripZone(host);
  return isIPv6(v6) ? formatIPv6(ipv6Bytes(v6)) : host;
}

function stripZone(host: string): string {
  const i = host.indexOf("%");
  return i < 0 ? host : host.slice(0, i);
}

function isV4Mapped(b: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatIPv6(b: Buffer): string {
  if (isV4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // The longest run of two or more zero groups (the first one on a tie) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** Bytes of a valid (isIPv6) address without zone. */
function ipv6Bytes(host: string): Buffer {
  const out = Buffer.alloc(16);
  let text = host;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    text = `${text.slice(0, -v4[1]!.length)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headGroups = head ? head.split(":").filter((g) => g.length > 0) : [];
  const tailGroups = tail ? tail.split(":").filter((g) => g.length > 0) : [];
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i] ?? "0", 16), i * 2);
  return out;
}

/** Parses "host:port" (the last colon separates the port, so bracketless IPv6 works too). */
export function parseHostPort(address: string): HostPort {
  const text = address.trim();
  const i = text.lastIndexOf(":");
  if (i <= 0) throw new TypeError(`address "${address}" is not host:port`);
  let host = text.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const portText = text.slice(i + 1);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535 || host.length === 0) {
    throw new TypeError(`address "${address}" has a bad host or port`);
  }
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return isIPv6(stripZone(hp.host)) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
