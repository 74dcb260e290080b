import type { RemotingCommand } from "@tidemq/protocol";

/** One TCP connection, seen from either side. */
export interface Connection {
  readonly id: number;
  /** As the socket reports it (may be IPv6 or ::ffff:-mapped). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Port the connection came in on (server side). */
  readonly localPort: number;
  readonly closed: boolean;
  /** Writes a command (a response, or a request whose opaque is already set). */
  send(cmd: RemotingCommand): void;
  /** Sends a request on this connection and awaits its response (server → client calls). */
  invoke(request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand>;
  /** Sends a request with the oneway flag; resolves once written. */
  invokeOneway(request: RemotingCommand): Promise<void>;
  close(): void;
  /** Called once when the connection closes, for any reason. */
  onClose(listener: () => void): void;
}

/** Returns a response, or undefined for a oneway request / a response sent later via conn.send. */
export type RequestHandler = (
  request: RemotingCommand,
  conn: Connection,
) => RemotingCommand | undefined | Promise<RemotingCommand | undefined>;
