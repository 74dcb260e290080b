import { createServer, type Server, type Socket } from "node:net";
import { DEFAULT_MAX_FRAME_BYTES } from "@tidemq/protocol";
import { describePeer } from "./address.js";
import type { Connection, RequestHandler } from "./connection-types.js";
import { createLogger, type Logger } from "./logger.js";
import { OpaqueSequence } from "./opaque.js";
import { SocketConnection } from "./socket-connection.js";

export interface RemotingServerOptions {
  /** 0 = ephemeral. */
  port: number;
  /** Default "::" (dual-stack: ali-ons may reach localhost as ::1); 0.0.0.0 where IPv6 is unavailable. */
  host?: string;
  /** Also listen here (broker: listenPort - 2, the VIP port), with the same handlers. */
  extraPorts?: number[];
  /** Default 16 MiB, like Java's frameMaxLength. */
  maxFrameBytes?: number;
  /** Per connection; default 64 MiB; beyond it the connection is closed. */
  maxQueuedWriteBytes?: number;
  logger?: Logger;
}

export const DEFAULT_MAX_QUEUED_WRITE_BYTES = 64 * 1024 * 1024;

/** Errors meaning "this host has no IPv6", after which the default listen falls back to IPv4. */
const NO_IPV6_CODES = new Set(["EAFNOSUPPORT", "EADDRNOTAVAIL", "EPROTONOSUPPORT", "EINVAL"]);

/**
 * Accepts RocketMQ remoting connections on one or more ports and dispatches their
 * requests by code to registered handlers.
 */
export class RemotingServer {
  private readonly options: RemotingServerOptions;
  private readonly logger: Logger;
  private readonly handlers = new Map<number, RequestHandler>();
  private readonly connectionListeners: Array<(conn: Connection) => void> = [];
  private readonly connections = new Set<SocketConnection>();
  /** Server-initiated requests use the server's own counter, starting at 1 (spec §1.4). */
  private readonly opaques = new OpaqueSequence(1);
  private listeners: Server[] = [];
  private boundPorts: number[] = [];
  private state: "new" | "starting" | "started" | "stopped" = "new";

  constructor(options: RemotingServerOptions) {
    this.options = options;
    this.logger = options.logger ?? createLogger("remoting-server");
  }

  /** The handler registered for `code` (wrappers such as the broker's audit log read it). */
  handlerFor(code: number): RequestHandler | undefined {
    return this.handlers.get(code);
  }

  registerHandler(code: number, handler: RequestHandler): void {
    this.handlers.set(code, handler);
  }

  onConnection(listener: (conn: Connection) => void): void {
    this.connectionListeners.push(listener);
  }

  get port(): number {
    return this.boundPorts[0] ?? 0;
  }

  get ports(): number[] {
    return [...this.boundPorts];
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`RemotingServer cannot start: it is ${this.state}`);
    this.state = "starting";
    const wanted = [this.options.port, ...(this.options.extraPorts ?? [])];
    try {
      for (const port of wanted) {
        const server = await this.listen(port);
        this.listeners.push(server);
        const address = server.address();
        this.boundPorts.push(typeof address === "object" && address ? address.port : port);
      }
    } catch (err) {
      await this.closeListeners();
      this.state = "stopped";
      throw err;
    }
    this.state = "started";
    this.logger.info(`listening on port(s) ${this.boundPorts.join(", ")}`);
  }

  /** Closes the listeners and every connection; in-flight server→client requests fail. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    const closing = this.closeListeners();
    const connections = [...this.connections];
    for (const conn of connections) conn.destroy("the server is stopping");
    await Promise.all([closing, ...connections.map((c) => c.whenClosed)]);
  }

  private listen(port: number): Promise<Server> {
    const host = this.options.host;
    if (host !== undefined) return this.listenOn(port, host);
    return this.listenOn(port, "::").catch((err: NodeJS.ErrnoException) => {
      if (!NO_IPV6_CODES.has(err.code ?? "")) throw err;
      this.logger.warn(`IPv6 is unavailable (${err.code}); listening on 0.0.0.0:${port} only`);
      return this.listenOn(port, "0.0.0.0");
    });
  }

  private listenOn(port: number, host: string): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
      const onError = (err: Error): void => {
        server.close();
        reject(err);
      };
      server.once("error", onError);
      server.listen({ port, host }, () => {
        server.off("error", onError);
        server.on("error", (err) => this.logger.error(`listener on port ${port}: ${err.message}`));
        resolve(server);
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.state === "stopped") {
      socket.destroy();
      return;
    }
    const conn = new SocketConnection(socket, {
      peer: describePeer(socket.remoteAddress ?? "unknown", socket.remotePort ?? 0),
      maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      maxQueuedWriteBytes: this.options.maxQueuedWriteBytes ?? DEFAULT_MAX_QUEUED_WRITE_BYTES,
      logger: this.logger,
      opaques: this.opaques,
      handlerFor: (code) => this.handlers.get(code),
    });
    this.connections.add(conn);
    conn.onClose(() => this.connections.delete(conn));
    this.logger.debug(`connection ${conn.id} from ${conn.peer} on port ${conn.localPort}`);
    for (const listener of this.connectionListeners) {
      try {
        listener(conn);
      } catch (err) {
        this.logger.error(`connection listener threw: ${(err as Error).message}`);
      }
    }
  }

  private async closeListeners(): Promise<void> {
    const listeners = this.listeners;
    this.listeners = [];
    await Promise.all(listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
