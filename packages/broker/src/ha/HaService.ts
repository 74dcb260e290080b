import net from "node:net";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import { encodeTransferHeader, HaProtocolError, ReportReader } from "./HaFrames.js";

export interface HaServiceOptions {
  store: MessageStore;
  logger: Logger;
  /** Port to listen on (0 = ephemeral). */
  port: number;
  host?: string;
  /** Body bytes per transfer frame (whole records; one larger record goes alone). */
  batchBytes: number;
  /** ms between heartbeat frames when idle. */
  heartbeatMs: number;
  /** ms without a report before a slave connection is closed. */
  housekeepingMs: number;
}

interface AckWaiter {
  offset: number;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * Master side of master/slave replication (spec §1.4): accepts slaves on haListenPort and
 * streams each one the commit log from the offset it reports, whole records at the master's
 * physical offsets. Keeps the highest offset any slave acknowledged, which SYNC_MASTER sends
 * wait for (`waitForSlave`).
 */
export class HaService {
  private server: net.Server | undefined;
  private readonly conns = new Set<HaConnection>();
  private ackWaiters: AckWaiter[] = [];
  /** Highest offset any connected slave acknowledged (RocketMQ's push2SlaveMaxOffset). */
  slaveAckOffset = 0;
  private wakeups: Array<() => void> = [];
  private housekeeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HaServiceOptions) {
    opts.store.onMessageArrived(() => this.wake());
  }

  get port(): number {
    const a = this.server?.address();
    if (!a || typeof a === "string") throw new Error("the HA service is not listening");
    return a.port;
  }

  /** Slaves connected now (that reported at least once). */
  get slaveCount(): number {
    let n = 0;
    for (const c of this.conns) if (c.reported) n++;
    return n;
  }

  /** Per slave: address and acknowledged offset (for runtime info and tests). */
  slaves(): Array<{ addr: string; ackOffset: number }> {
    return [...this.conns].filter((c) => c.reported).map((c) => ({ addr: c.addr, ackOffset: c.ackOffset }));
  }

  async start(): Promise<void> {
    // Connections that stopped reporting (or never did) are closed (RocketMQ: 20 s).
    this.housekeeper = setInterval(
      () => {
        for (const c of this.conns) c.closeIfSilent();
      },
      Math.max(100, this.opts.housekeepingMs / 4),
    );
    this.housekeeper.unref();
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            `cannot listen for slaves on HA port ${this.opts.port} (haListenPort, default listenPort + 1): ${err.code ?? err.message}`,
            { cause: err },
          ),
        ),
      );
      server.listen(this.opts.port, this.opts.host ?? "0.0.0.0", () => {
        server.removeAllListeners("error");
        server.on("error", (err) => this.opts.logger.error(`HA server: ${err.message}`));
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const conn = new HaConnection(socket, this.opts, this);
    this.conns.add(conn);
    socket.once("close", () => {
      this.conns.delete(conn);
      this.opts.logger.info(`HA: slave ${conn.addr} disconnected`);
      this.wake();
    });
    this.opts.logger.info(`HA: slave ${conn.addr} connected`);
  }

  /** A slave acknowledged `offset`. */
  onAck(offset: number): void {
    if (offset <= this.slaveAckOffset) return;
    this.slaveAckOffset = offset;
    if (this.ackWaiters.length === 0) return;
    const still: AckWaiter[] = [];
    for (const w of this.ackWaiters) {
      if (w.offset <= offset) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else still.push(w);
    }
    this.ackWaiters = still;
  }

  /** True once a slave has acknowledged `offset`, false after `timeoutMs`. */
  waitForSlave(offset: number, timeoutMs: number): Promise<boolean> {
    if (this.slaveAckOffset >= offset) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w: AckWaiter = {
        offset,
        resolve,
        timer: setTimeout(() => {
          this.ackWaiters = this.ackWaiters.filter((x) => x !== w);
          resolve(false);
        }, timeoutMs),
      };
      this.ackWaiters.push(w);
    });
  }

  /** Wakes connection writers waiting for new data. */
  wake(): void {
    const w = this.wakeups;
    if (w.length === 0) return;
    this.wakeups = [];
    for (const f of w) f();
  }

  /** Resolves on new data or after `ms`. */
  waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.wakeups = this.wakeups.filter((f) => f !== done);
        resolve();
      }, ms);
      this.wakeups.push(done);
    });
  }

  async stop(): Promise<void> {
    if (this.housekeeper) clearInterval(this.housekeeper);
    for (const w of this.ackWaiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.ackWaiters = [];
    for (const c of this.conns) c.close();
    this.wake();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** One slave: reads its reports, writes it the log from where it stands. */
class HaConnection {
  readonly addr: string;
  reported = false;
  ackOffset = 0;
  private closed = false;
  private lastReadAt = Date.now();
  private readonly reports = new ReportReader();
  private writing = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: HaServiceOptions,
    private readonly service: HaService,
  ) {
    this.addr = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      if (!this.closed) opts.logger.warn(`HA: connection to slave ${this.addr}: ${err.message}`);
    });
    socket.once("close", () => {
      this.closed = true;
    });
  }

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now();
    let offset: number | undefined;
    try {
      offset = this.reports.push(chunk);
    } catch (err) {
      this.fail((err as Error).message);
      return;
    }
    if (offset === undefined) return;
    const { store } = this.opts;
    if (offset > store.maxPhysicalOffset) {
      this.fail(
        `slave reports offset ${offset}, past this master's commit log end ${store.maxPhysicalOffset}: ` +
          "its log diverged (was it a master once?); refusing to replicate to it — move its store away to resync",
      );
      return;
    }
    const oldest = store.stats.commitLogMinOffset;
    if (!this.reported && offset > 0 && offset < oldest) {
      // Retention deleted what this slave needs next. Tell it where this log begins (an
      // empty transfer at that offset: it logs the reason), then refuse it.
      this.socket.write(encodeTransferHeader(oldest, 0, 1));
      this.fail(
        `slave's commit log ends at ${offset}, below this master's oldest data ${oldest} (retention deleted the rest): ` +
          "it cannot catch up; stop it, move its store away and restart it empty (an empty slave starts at the master's oldest data)",
      );
      return;
    }
    this.ackOffset = offset;
    this.service.onAck(offset);
    if (!this.reported) {
      this.reported = true;
      // An empty slave starts at the master's oldest data.
      const from = offset === 0 ? store.stats.commitLogMinOffset : offset;
      void this.writeLoop(from);
    }
  }

  private fail(reason: string): void {
    this.opts.logger.error(`HA: slave ${this.addr}: ${reason}`);
    this.close();
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  closeIfSilent(): void {
    const silent = Date.now() - this.lastReadAt;
    if (!this.closed && silent > this.opts.housekeepingMs) this.fail(`no report for ${silent} ms; closing`);
  }

  private async writeLoop(start: number): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    const { store, batchBytes, heartbeatMs, housekeepingMs } = this.opts;
    let from = start;
    let lastWriteAt = 0;
    try {
      while (!this.closed) {
        if (Date.now() - this.lastReadAt > housekeepingMs) {
          this.fail(`no report for ${housekeepingMs} ms; closing`);
          return;
        }
        const chunk = await store.readReplicationChunk(from, batchBytes);
        if (this.closed) return;
        if (chunk) {
          await this.write(
            encodeTransferHeader(chunk.offset, chunk.data.length, chunk.segmentSize),
            chunk.data,
          );
          from = chunk.next;
          lastWriteAt = Date.now();
          continue;
        }
        if (Date.now() - lastWriteAt >= heartbeatMs) {
          await this.write(encodeTransferHeader(from, 0, 1));
          lastWriteAt = Date.now();
        }
        await this.service.waitForData(Math.min(heartbeatMs, 1000));
      }
    } catch (err) {
      this.fail(
        err instanceof HaProtocolError || err instanceof RangeError ? (err as Error).message : String(err),
      );
    }
  }

  /** Writes, waiting for the socket to drain when its buffer is full (bounded memory). */
  private write(header: Buffer, body?: Buffer): Promise<void> {
    this.socket.write(header);
    const ok = body && body.length > 0 ? this.socket.write(body) : true;
    if (ok) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.once("drain", done);
      this.socket.once("close", done);
    });
  }
}
