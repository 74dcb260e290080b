import net from "node:net";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import { encodeReport, TransferFrameReader } from "./HaFrames.js";

/** Received bytes waiting to be appended above which the slave stops reading. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

export interface HaClientOptions {
  store: MessageStore;
  logger: Logger;
  /** ms between reports when nothing arrives (also the master's heartbeat interval). */
  heartbeatMs: number;
  /** ms without any frame before the connection is considered dead. */
  housekeepingMs: number;
  /** ms between connection attempts. */
  reconnectMs: number;
}

/**
 * Slave side of master/slave replication: connects to the master's HA address, reports its
 * commit-log end, appends every frame verbatim at the master's offsets (the store dispatches
 * the records into its own consume queues and index) and reports again once the frame is
 * confirmed locally (written; flushed under SYNC_FLUSH) — that report is what a SYNC_MASTER
 * waits for. Reconnects on any error; a frame that does not continue the local log closes
 * the connection and is never written.
 */
export class HaClient {
  private masterAddr: string | undefined;
  private socket: net.Socket | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastFrameAt = 0;
  private lastReportAt = 0;
  /** Bytes received and not yet appended. */
  private pendingBytes = 0;
  /** Frames are appended one after another. */
  private chain: Promise<void> = Promise.resolve();
  connected = false;
  /** The master whose gap checkHeartbeat reported (it reports each once). */
  private reportedGap: string | undefined;

  constructor(private readonly opts: HaClientOptions) {}

  /** The master's HA address ("host:port"); a change reconnects. */
  setMasterAddress(addr: string | undefined): void {
    if (!addr || addr === this.masterAddr) return;
    this.opts.logger.info(`HA: master address ${addr}`);
    this.masterAddr = addr;
    this.socket?.destroy();
  }

  get masterAddress(): string | undefined {
    return this.masterAddr;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.housekeep();
      this.timer = setTimeout(tick, Math.min(this.opts.reconnectMs, this.opts.heartbeatMs));
      this.timer.unref();
    };
    tick();
  }

  private housekeep(): void {
    const now = Date.now();
    if (!this.socket) {
      this.connect();
      return;
    }
    if (!this.connected) return;
    if (now - this.lastFrameAt > this.opts.housekeepingMs) {
      this.opts.logger.warn(
        `HA: nothing from master ${this.masterAddr} for ${this.opts.housekeepingMs} ms; reconnecting`,
      );
      this.socket.destroy();
      return;
    }
    if (now - this.lastReportAt >= this.opts.heartbeatMs) this.report();
  }

  private connect(): void {
    const addr = this.masterAddr;
    if (!addr || this.stopped) return;
    const i = addr.lastIndexOf(":");
    const socket = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
    this.socket = socket;
    const reader = new TransferFrameReader();
    socket.setNoDelay(true);
    socket.on("connect", () => {
      this.connected = true;
      this.lastFrameAt = Date.now();
      // Appends from an earlier connection finish first: the report says where this one starts.
      this.chain = this.chain.then(() => {
        this.opts.logger.info(
          `HA: connected to master ${addr}, from offset ${this.opts.store.confirmedPhysicalOffset}`,
        );
        this.report();
      });
    });
    socket.on("data", (chunk: Buffer) => {
      this.lastFrameAt = Date.now();
      let frames: ReturnType<TransferFrameReader["push"]>;
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.opts.logger.error(`HA: from master ${addr}: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (f.body.length === 0) {
          // After the frames before it are appended: then the stream and the log agree.
          this.chain = this.chain.then(() => this.checkHeartbeat(addr, f.offset));
          continue;
        }
        // Bounded memory: stop reading while too much waits to be appended (TCP pushes back).
        this.pendingBytes += f.body.length;
        if (this.pendingBytes > MAX_PENDING_BYTES) socket.pause();
        this.chain = this.chain.then(async () => {
          try {
            if (socket.destroyed) return;
            await this.opts.store.appendReplicated(f.offset, f.body, f.segmentSize);
            this.report();
          } catch (err) {
            this.opts.logger.error(
              `HA: cannot append ${f.body.length} bytes at ${f.offset}: ${(err as Error).message}`,
            );
            socket.destroy();
          } finally {
            this.pendingBytes -= f.body.length;
            if (this.pendingBytes <= MAX_PENDING_BYTES / 4 && socket.isPaused()) socket.resume();
          }
        });
      }
    });
    socket.on("error", (err) => {
      if (!this.stopped) this.opts.logger.debug(`HA: master ${addr}: ${err.message}`);
    });
    socket.once("close", () => {
      if (this.socket === socket) this.socket = undefined;
      this.connected = false;
    });
  }

  /**
   * A master's empty transfer names where its stream stands (once the frames before it are
   * appended, the local log's end). Past the end of a non-empty local log it means the master's log no longer holds what this slave needs (its
   * retention deleted it; the master then closes the connection): said once per master.
   */
  private checkHeartbeat(addr: string, offset: number): void {
    const end = this.opts.store.maxPhysicalOffset;
    if (end === 0 || offset <= end) return;
    if (this.reportedGap === addr) return;
    this.reportedGap = addr;
    this.opts.logger.error(
      `HA: master ${addr}'s commit log begins at ${offset}, past this slave's end ${end} (retention on the master deleted the records in between): ` +
        "this slave cannot catch up and keeps what it has; stop it, move its store away and restart it empty to copy the master from its oldest data",
    );
  }

  /** Tells the master the confirmed local end (an acknowledgement and where to continue). */
  private report(): void {
    const s = this.socket;
    if (!s || !this.connected || s.destroyed) return;
    this.lastReportAt = Date.now();
    s.write(encodeReport(this.opts.store.confirmedPhysicalOffset));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
    await this.chain.catch(() => undefined);
  }
}
