import { isLoopback } from "./loopback.js";

/** A certificate chain and its private key, PEM (what node:https takes). */
export interface TlsFiles {
  cert: string | Buffer;
  key: string | Buffer;
}

/**
 * What to tell the operator about the console's transport: undefined on loopback or with
 * TLS. On any other address without TLS, passwords and session cookies cross the network in
 * clear text — allowed (a TLS proxy in front is a valid set-up), but said at start.
 */
export function plainTransportWarning(host: string, tls: boolean): string | undefined {
  if (tls || isLoopback(host)) return undefined;
  return (
    `the console on ${host} serves plain HTTP: logins and session cookies cross the network unencrypted. ` +
    "Start it with --tls-cert FILE --tls-key FILE, or put it behind a TLS proxy."
  );
}
