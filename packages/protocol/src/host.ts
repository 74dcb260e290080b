import { isIPv4, isIPv6 } from "node:net";

/** An address as RocketMQ stores it: host bytes plus an int port. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Maps a peer address to the IPv4 form we store (spec §7.1): ali-ons reads every host as
 * 4 bytes and breaks on IPv6 records, so `::ffff:a.b.c.d` becomes `a.b.c.d`, `::1`
 * becomes 127.0.0.1 and any other IPv6 address becomes the 127.0.0.1 placeholder.
 */
export function toStorableIPv4(address: string | undefined): string {
  if (!address) return "127.0.0.1";
  if (isIPv4(address)) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith("::ffff:") && isIPv4(lower.slice(7))) return lower.slice(7);
  return "127.0.0.1";
}

/** Number of bytes a host takes in a record or message id: 4 (IPv4) or 16 (IPv6). */
export function hostByteLength(host: string): number {
  return isIPv6(host) ? 16 : 4;
}

/** Writes the host bytes at `pos`; returns the position after them. */
export function writeHostBytes(buf: Buffer, pos: number, host: string): number {
  if (isIPv4(host)) {
    const parts = host.split(".");
    for (let i = 0; i < 4; i++) buf[pos + i] = Number(parts[i]);
    return pos + 4;
  }
  if (isIPv6(host)) {
    ipv6Bytes(host).copy(buf, pos);
    return pos + 16;
  }
  throw new TypeError(`not an IP address: ${host}`);
}

export function readHostBytes(buf: Buffer, pos: number, v6: boolean): string {
  if (!v6) return `${buf[pos]}.${buf[pos + 1]}.${buf[pos + 2]}.${buf[pos + 3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(pos + i).toString(16));
  return groups.join(":");
}

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
  const port = Number(text.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`address "${address}" has a bad port`);
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return isIPv6(hp.host) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
