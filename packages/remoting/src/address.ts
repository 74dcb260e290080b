import { isIPv4, isIPv6 } from "node:net";

export interface RemoteAddress {
  host: string;
  port: number;
}

/**
 * Parses a RocketMQ address: "host:port", "1.2.3.4:10911", "[::1]:9876". The last colon
 * separates the port, so a bracketless IPv6 literal ("::1:9876") parses too.
 */
export function parseAddress(address: string): RemoteAddress {
  const text = address.trim();
  const colon = text.lastIndexOf(":");
  if (colon <= 0 || colon === text.length - 1) throw new TypeError(`address "${address}" is not host:port`);
  let host = text.slice(0, colon);
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) throw new TypeError(`address "${address}" has an unclosed [`);
    host = host.slice(1, -1);
    if (!isIPv6(host)) throw new TypeError(`address "${address}" has a bad IPv6 literal`);
  }
  const portText = text.slice(colon + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (host.length === 0 || !(port >= 1 && port <= 65535)) {
    throw new TypeError(`address "${address}" needs a host and a port in 1..65535`);
  }
  return { host, port };
}

/** "host:port", with brackets around an IPv6 host. */
export function formatAddress(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** How logs name a peer: IPv4-mapped IPv6 ("::ffff:10.0.0.1", seen on dual-stack listeners) shown as IPv4. */
export function describePeer(host: string, port: number): string {
  const unmapped = host.toLowerCase().startsWith("::ffff:") && isIPv4(host.slice(7)) ? host.slice(7) : host;
  return formatAddress(unmapped, port);
}
