import { connect, type Socket } from "node:net";
import { DEFAULT_MAX_FRAME_BYTES, type RemotingCommand } from "@tidemq/protocol";
import { parseAddress, type RemoteAddress } from "./address.js";
import { type BackoffOptions, ReconnectBackoff } from "./backoff.js";
import type { RequestHandler } from "./connection-types.js";
import { RemotingClosedError, RemotingConnectError, RemotingTimeoutError } from "./errors.js";
import { createLogger, type Logger } from "./logger.js";
import { OpaqueSequence } from "./opaque.js";
import { DEFAULT_MAX_QUEUED_WRITE_BYTES } from "./server.js";
import { SocketConnection } from "./socket-connection.js";

export interface RemotingClientOptions {
  /** Default 3000. */
  connectTimeoutMs?: number;
  /** Default 3000. */
  requestTimeoutMs?: number;
  maxFrameBytes?: number;
  /** Per connection; default 64 MiB; beyond it the connection is closed. */
  maxQueuedWriteBytes?: number;
  /** Handles requests a server sends to us (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE…). */
  onRequest?: RequestHandler;
  logger?: Logger;
  /** Per address, after a connect failure or a lost connection; default 100 ms doubling to 5 s. */
  reconnectBackoff?: BackoffOptions;
}

/** A connection that lived this long was healthy: its drop restarts the back-off from the bottom. */
const HEALTHY_CONNECTION_MS = 5000;

/** Everything the client knows about one "host:port". */
interface Channel {
  readonly address: string;
  readonly target: RemoteAddress;
  readonly backoff: ReconnectBackoff;
  conn?: SocketConnection;
  connecting?: Promise<SocketConnection>;
  /** Socket of the connect attempt in progress, so close() can abort it. */
  connectingSocket?: Socket;
  /** No connect attempt before this time (ms since epoch). */
  retryAt: number;
  lastError?: string;
}

/**
 * Requests to many servers, one connection per address, connected on first use. After a
 * connection drops or a connect fails, the address backs off (100 ms doubling to 5 s, with
 * jitter); requests made meanwhile fail at once with RemotingConnectError.
 */
export class RemotingClient {
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxFrameBytes: number;
  private readonly maxQueuedWriteBytes: number;
  private readonly onRequest: RequestHandler | undefined;
  private readonly logger: Logger;
  private readonly backoffOptions: BackoffOptions | undefined;
  private readonly opaques = new OpaqueSequence(1);
  private readonly channels = new Map<string, Channel>();
  private closed = false;

  constructor(options: RemotingClientOptions = {}) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueuedWriteBytes = options.maxQueuedWriteBytes ?? DEFAULT_MAX_QUEUED_WRITE_BYTES;
    this.onRequest = options.onRequest;
    this.logger = options.logger ?? createLogger("remoting-client");
    this.backoffOptions = options.reconnectBackoff;
  }

  invoke(
    addr: string,
    request: RemotingCommand,
    timeoutMs: number = this.requestTimeoutMs,
  ): Promise<RemotingCommand> {
    const conn = this.channels.get(addr)?.conn;
    // Fast path: connected, no extra promise hop.
    if (conn && !conn.closed) return conn.invoke(request, timeoutMs);
    return this.invokeAfterConnect(addr, request, timeoutMs);
  }

  async invokeOneway(addr: string, request: RemotingCommand): Promise<void> {
    const conn = await this.connection(addr, this.connectTimeoutMs);
    await conn.invokeOneway(request);
  }

  /** Closes the connection to addr (in-flight requests fail); the next request reconnects at once. */
  closeConnection(addr: string): void {
    const channel = this.channels.get(addr);
    if (!channel) return;
    this.channels.delete(addr);
    channel.connectingSocket?.destroy();
    channel.conn?.destroy("closeConnection() was called");
  }

  /** Closes every connection; every in-flight request fails with RemotingClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const channel of this.channels.values()) {
      channel.connectingSocket?.destroy();
      const conn = channel.conn;
      if (conn) {
        waits.push(conn.whenClosed);
        conn.destroy("the client was closed");
      }
    }
    this.channels.clear();
    await Promise.all(waits);
  }

  private async invokeAfterConnect(
    addr: string,
    request: RemotingCommand,
    timeoutMs: number,
  ): Promise<RemotingCommand> {
    const started = performance.now();
    const conn = await this.connection(addr, Math.min(this.connectTimeoutMs, timeoutMs));
    const remaining = Math.floor(timeoutMs - (performance.now() - started));
    if (remaining <= 0) throw new RemotingTimeoutError(request.code, addr, timeoutMs);
    return conn.invoke(request, remaining);
  }

  /** The open connection to addr, connecting (once, shared by concurrent callers) if needed. */
  private connection(addr: string, connectTimeoutMs: number): Promise<SocketConnection> {
    if (this.closed)
      return Promise.reject(new RemotingClosedError(addr, `client is closed; cannot reach ${addr}`));
    let channel = this.channels.get(addr);
    if (!channel) {
      let target: RemoteAddress;
      try {
        target = parseAddress(addr);
      } catch (err) {
        return Promise.reject(new RemotingConnectError(addr, (err as Error).message, { cause: err }));
      }
      channel = { address: addr, target, backoff: new ReconnectBackoff(this.backoffOptions), retryAt: 0 };
      this.channels.set(addr, channel);
    }
    if (channel.conn && !channel.conn.closed) return Promise.resolve(channel.conn);
    if (channel.connecting) return channel.connecting;
    const wait = channel.retryAt - Date.now();
    if (wait > 0) {
      return Promise.reject(
        new RemotingConnectError(
          addr,
          `${addr} is unreachable (${channel.lastError ?? "connection lost"}); backing off, next connect attempt in ${wait} ms`,
          { retryAfterMs: wait },
        ),
      );
    }
    const attempt = this.connect(channel, connectTimeoutMs);
    channel.connecting = attempt;
    const clear = (): void => {
      if (channel.connecting === attempt) {
        channel.connecting = undefined;
        channel.connectingSocket = undefined;
      }
    };
    attempt.then(clear, clear);
    return attempt;
  }

  private connect(channel: Channel, timeoutMs: number): Promise<SocketConnection> {
    const { address, target } = channel;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: target.host, port: target.port, noDelay: true });
      channel.connectingSocket = socket;
      let settled = false;
      const fail = (message: string, cause?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (this.closed) {
          reject(new RemotingClosedError(address, `client was closed while connecting to ${address}`));
          return;
        }
        this.backOff(channel, message);
        reject(new RemotingConnectError(address, `cannot connect to ${address}: ${message}`, { cause }));
      };
      // Decided in the check phase, after this turn's poll phase: when the event loop was busy
      // past the deadline, a connect that completed in time is reported there, and timers run
      // before it. Only a connect that really did not complete fails.
      const timer = setTimeout(
        () => setImmediate(() => fail(`connect timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.once("error", (err) => fail(err.message, err));
      // Destroyed by close()/closeConnection() before connecting.
      socket.once("close", () => fail("the attempt was aborted"));
      socket.once("connect", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners("error");
        socket.removeAllListeners("close");
        if (this.closed || this.channels.get(address) !== channel) {
          socket.destroy();
          reject(
            new RemotingClosedError(
              address,
              `client closed the connection to ${address} while it was opening`,
            ),
          );
          return;
        }
        resolve(this.adopt(channel, socket));
      });
    });
  }

  private adopt(channel: Channel, socket: Socket): SocketConnection {
    const conn = new SocketConnection(socket, {
      peer: channel.address,
      maxFrameBytes: this.maxFrameBytes,
      maxQueuedWriteBytes: this.maxQueuedWriteBytes,
      logger: this.logger,
      opaques: this.opaques,
      handlerFor: () => this.onRequest,
    });
    const openedAt = Date.now();
    channel.conn = conn;
    channel.lastError = undefined;
    this.logger.debug(`connected to ${channel.address} (connection ${conn.id})`);
    conn.onClose(() => {
      if (channel.conn !== conn) return;
      channel.conn = undefined;
      if (this.closed || this.channels.get(channel.address) !== channel) return;
      if (Date.now() - openedAt >= HEALTHY_CONNECTION_MS) channel.backoff.reset();
      this.backOff(channel, "connection lost");
      this.logger.info(`connection to ${channel.address} closed; reconnecting on demand`);
    });
    return conn;
  }

  private backOff(channel: Channel, reason: string): void {
    const delay = channel.backoff.nextDelayMs();
    channel.retryAt = Date.now() + delay;
    channel.lastError = reason;
  }
}
