import type { Socket } from "node:net";
import {
  createResponse,
  encodeFrameParts,
  FLAG_ONEWAY,
  FLAG_RESPONSE,
  FrameDecoder,
  type RemotingCommand,
  ResponseCode,
} from "@tidemq/protocol";
import type { Connection, RequestHandler } from "./connection-types.js";
import { dispatchRequest, type ResponseSink } from "./dispatcher.js";
import { RemotingClosedError, RemotingTimeoutError } from "./errors.js";
import { FrameWriter } from "./frame-writer.js";
import type { Logger } from "./logger.js";
import type { OpaqueSequence } from "./opaque.js";
import { PendingRequests } from "./pending-requests.js";
import { ReadBudget } from "./read-budget.js";

export interface SocketConnectionOptions {
  /** How logs and errors name the other side ("127.0.0.1:9876"). */
  peer: string;
  maxFrameBytes: number;
  maxQueuedWriteBytes: number;
  logger: Logger;
  /** Opaque counter of the side that owns this connection (server or client). */
  opaques: OpaqueSequence;
  /** Handler for a request the peer sends us, by code. */
  handlerFor: (code: number) => RequestHandler | undefined;
}

let nextConnectionId = 1;

/**
 * A framed RocketMQ connection over a socket: decodes incoming frames, dispatches
 * requests to handlers, matches responses to the requests we sent, and writes through a
 * coalescing, bounded FrameWriter. Used by both the server and the client.
 */
export class SocketConnection implements Connection, ResponseSink {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  readonly peer: string;
  /** Settles when the socket has fully closed. */
  readonly whenClosed: Promise<void>;
  private readonly socket: Socket;
  private readonly options: SocketConnectionOptions;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly pending = new PendingRequests();
  private readonly readBudget = new ReadBudget();
  private readPaused = false;
  private closeListeners: Array<() => void> = [];
  private closeReason: string | undefined;

  constructor(socket: Socket, options: SocketConnectionOptions) {
    this.socket = socket;
    this.options = options;
    this.peer = options.peer;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    this.remotePort = socket.remotePort ?? 0;
    this.localPort = socket.localPort ?? 0;
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    this.writer = new FrameWriter(socket, {
      maxQueuedBytes: options.maxQueuedWriteBytes,
      onOverflow: (queued, frame) => this.onWriteOverflow(queued, frame),
    });
    this.whenClosed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.writer.onDrain());
    socket.on("error", (err) => {
      this.options.logger.debug(`connection with ${this.peer}: ${err.message}`);
      this.finish(`socket error: ${err.message}`);
    });
    socket.on("close", () => this.finish("the connection was closed by the peer"));
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Bytes waiting to be written (ours plus the socket's buffer). */
  get queuedWriteBytes(): number {
    return this.writer.queuedBytes;
  }

  /** Socket writes issued so far: lower than frames sent when writes are coalesced. */
  get socketWrites(): number {
    return this.writer.writeCalls;
  }

  /** Requests we sent that still wait for a response. */
  get inFlight(): number {
    return this.pending.size;
  }

  send(cmd: RemotingCommand): void {
    if (this.closed) {
      this.options.logger.debug(`dropping code ${cmd.code} for ${this.peer}: connection closed`);
      return;
    }
    this.writer.enqueue(encodeFrameParts(cmd));
  }

  /** Writes a handler's response with the request's opaque and serialization (spec §1.8). */
  sendResponse(request: RemotingCommand, response: RemotingCommand): void {
    if (this.closed) return;
    let cmd = response;
    if (
      cmd.opaque !== request.opaque ||
      cmd.serializeType !== request.serializeType ||
      (cmd.flag & (FLAG_RESPONSE | FLAG_ONEWAY)) !== FLAG_RESPONSE
    ) {
      cmd = {
        ...response,
        opaque: request.opaque,
        serializeType: request.serializeType,
        flag: (response.flag | FLAG_RESPONSE) & ~FLAG_ONEWAY,
      };
    }
    let parts: Buffer[];
    try {
      parts = encodeFrameParts(cmd);
    } catch (err) {
      const message = `response to request code ${request.code} could not be encoded: ${(err as Error).message}`;
      this.options.logger.error(message);
      parts = encodeFrameParts(createResponse(request, ResponseCode.SYSTEM_ERROR, message));
    }
    this.writer.enqueue(parts);
  }

  invoke(request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    if (this.closed) return Promise.reject(this.closedError(request.code));
    const opaque = this.nextOpaque();
    const cmd: RemotingCommand = { ...request, opaque, flag: request.flag & ~(FLAG_RESPONSE | FLAG_ONEWAY) };
    let parts: Buffer[];
    try {
      parts = encodeFrameParts(cmd);
    } catch (err) {
      return Promise.reject(err);
    }
    const ms = Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 1;
    return new Promise<RemotingCommand>((resolve, reject) => {
      this.pending.add(opaque, cmd.code, ms, resolve, reject, this.timeoutError);
      // Overflow closes the connection, which fails this request along with the others.
      this.writer.enqueue(parts);
    });
  }

  invokeOneway(request: RemotingCommand): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError(request.code));
    const cmd: RemotingCommand = {
      ...request,
      opaque: this.nextOpaque(),
      flag: (request.flag | FLAG_ONEWAY) & ~FLAG_RESPONSE,
    };
    let parts: Buffer[];
    try {
      parts = encodeFrameParts(cmd);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      const queued = this.writer.enqueue(parts, (err) =>
        err ? reject(this.closedError(cmd.code)) : resolve(),
      );
      if (!queued) reject(this.closedError(cmd.code));
    });
  }

  /** Sends what is queued, then closes gracefully (destroyed after 1 s if the peer lingers). */
  close(): void {
    if (this.closed) return;
    this.writer.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.finish("the connection was closed locally");
  }

  /** Closes at once, dropping whatever is queued; `reason` ends up in errors and logs. */
  destroy(reason: string): void {
    if (this.closed) return;
    this.finish(reason);
    this.socket.destroy();
  }

  onClose(listener: () => void): void {
    if (this.closed) queueMicrotask(listener);
    else this.closeListeners.push(listener);
  }

  /** Shared by every request of this connection (no closure per request). */
  private readonly timeoutError = (code: number, timeoutMs: number): Error =>
    new RemotingTimeoutError(code, this.peer, timeoutMs);

  private nextOpaque(): number {
    let opaque = this.options.opaques.next();
    // After wrapping, skip an id that a very old request still holds.
    while (this.pending.has(opaque)) opaque = this.options.opaques.next();
    return opaque;
  }

  private onData(chunk: Buffer): void {
    const frames = this.handleChunk(chunk);
    // Only a chunk that completed frames yields: assembling a large frame (a big pull
    // answer) is a cheap copy, and pausing in its middle would only delay it.
    const spent = this.readBudget.spend(chunk.length);
    if (spent && frames > 0 && !this.readPaused && !this.closed) this.yieldReads();
  }

  /**
   * Stops reading until the check phase of this iteration (see ReadBudget). Chunks libuv has
   * already read wait, in order, in the socket's readable buffer; resume() delivers them first.
   */
  private yieldReads(): void {
    this.readPaused = true;
    this.socket.pause();
    setImmediate(this.resumeReads);
  }

  /** Also after a graceful close(): the socket must go on reading to see the peer's FIN. */
  private readonly resumeReads = (): void => {
    this.readPaused = false;
    if (!this.socket.destroyed) this.socket.resume();
  };

  /** Decodes and dispatches the frames `chunk` completes; returns how many it completed. */
  private handleChunk(chunk: Buffer): number {
    let commands: RemotingCommand[];
    try {
      commands = this.decoder.push(chunk);
    } catch (err) {
      const reason = `undecodable frame from ${this.peer}: ${(err as Error).message}`;
      this.options.logger.warn(`closing connection: ${reason}`);
      this.destroy(reason);
      return 0;
    }
    // In arrival order; a handler that closes the connection stops the rest.
    for (const cmd of commands) {
      if (this.closed) break;
      if ((cmd.flag & FLAG_RESPONSE) !== 0) {
        if (!this.pending.complete(cmd)) {
          this.options.logger.debug(
            `response opaque ${cmd.opaque} from ${this.peer} matches no request (late?)`,
          );
        }
      } else {
        dispatchRequest(this, cmd, this.options.handlerFor(cmd.code), this.options.logger);
      }
    }
    return commands.length;
  }

  private onWriteOverflow(queuedBytes: number, frameBytes: number): void {
    const reason =
      `${queuedBytes} bytes already queued for ${this.peer} and a frame of ${frameBytes} bytes would exceed ` +
      `the limit of ${this.options.maxQueuedWriteBytes} (the peer does not read fast enough)`;
    this.options.logger.warn(`closing connection: ${reason}`);
    this.destroy(reason);
  }

  private closedError(code: number): RemotingClosedError {
    const reason = this.closeReason ?? "the connection was closed";
    return new RemotingClosedError(
      this.peer,
      `connection to ${this.peer} closed (${reason}) while request code ${code} was in flight`,
    );
  }

  /** Runs once: fails in-flight requests, drops queued frames, tells listeners. */
  private finish(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    this.pending.failAll((code) => this.closedError(code));
    this.writer.fail(
      new RemotingClosedError(this.peer, `connection to ${this.peer} closed (${this.closeReason})`),
    );
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        this.options.logger.error(
          `close listener of connection with ${this.peer} threw: ${(err as Error).message}`,
        );
      }
    }
  }
}
