/**
 * "Port in use" in the operator's words. A broker, NameServer or `tidemq dev` whose port is
 * taken fails its start with Node's `listen EADDRINUSE: address already in use :::10911`,
 * which names neither the config key nor what to do; this turns that error into one line.
 */

/** A port a process listens on, and the key (or option) that sets it. */
export interface PortOwner {
  key: string;
  port: number;
  /** What to change to move it, when not `key` itself (the VIP port moves with listenPort). */
  fix?: string;
}

/** The EADDRINUSE error inside `err` (itself or its `cause` chain), if any. */
function addrInUse(err: unknown): NodeJS.ErrnoException | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") return e as NodeJS.ErrnoException;
  }
  return undefined;
}

/**
 * One line for a start that failed because a port is taken, or undefined for any other error:
 * `listenPort 10911 on 0.0.0.0 is in use by another process; stop it or set listenPort`.
 * The key is the first owner whose port is the one refused (Node puts it on the error).
 */
export function portInUseLine(err: unknown, owners: readonly PortOwner[]): string | undefined {
  const e = addrInUse(err);
  if (!e) return undefined;
  const { port, address } = e as NodeJS.ErrnoException & { port?: number; address?: string };
  const where = address === undefined ? "" : ` on ${address === "::" ? "[::] (all addresses)" : address}`;
  const owner = owners.find((o) => o.port !== 0 && o.port === port);
  if (!owner)
    return `port ${port ?? "?"}${where} is in use by another process; stop it or choose another port`;
  return `${owner.key} ${port}${where} is in use by another process; stop it or set ${owner.fix ?? owner.key}`;
}

/** The error a start failed with, made operator-readable when a port is taken. */
export class PortInUseError extends Error {}

/**
 * For `.catch()` around a start: a port-in-use failure becomes a PortInUseError whose message is
 * the one line (main.ts prints `tidemq: <line>`, no stack, exit code 1); others pass unchanged.
 * The starters release what they opened before failing, so the process then exits by itself.
 */
export function explainPortInUse(owners: readonly PortOwner[]): (err: unknown) => never {
  return (err: unknown) => {
    const line = portInUseLine(err, owners);
    throw line === undefined ? err : new PortInUseError(line, { cause: err });
  };
}

/** The NameServer's ports in `tidemq dev` and the options that set them (metricsBase ≤ 0: none). */
export function devNamesrvPorts(namesrvPort: number, metricsBase: number): PortOwner[] {
  return [
    { key: "--namesrv-port", port: namesrvPort },
    {
      key: "NameServer metrics port (--metrics-port + 1)",
      port: metricsBase > 0 ? metricsBase + 1 : 0,
      fix: "--metrics-port",
    },
  ];
}
