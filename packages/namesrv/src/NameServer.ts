import { RequestCode } from "@tidemq/protocol";
import {
  type Connection,
  createLogger,
  installAdminAudit,
  type Logger,
  RemotingServer,
} from "@tidemq/remoting";
import { MetricsEndpoint } from "@tidemq/remoting/metrics";
import { createNamesrvRegistry } from "./NamesrvMetrics.js";
import { createNamesrvHandlers } from "./NamesrvRequestProcessor.js";
import { DEFAULT_BROKER_EXPIRED_MS, RouteInfoManager } from "./RouteInfoManager.js";

export const DEFAULT_NAMESRV_PORT = 9876;
export const DEFAULT_SCAN_INTERVAL_MS = 10_000;

/**
 * NameServer requests that change routes or KV config on an operator's behalf (mqadmin,
 * console): each leaves an audit line (who, what, outcome), as the broker's admin writes do.
 * Broker registrations are the brokers' own traffic and are not audited.
 */
export const NAMESRV_ADMIN_WRITE_CODES: readonly number[] = [
  RequestCode.DELETE_TOPIC_IN_NAMESRV,
  RequestCode.PUT_KV_CONFIG,
  RequestCode.DELETE_KV_CONFIG,
  RequestCode.WIPE_WRITE_PERM_OF_BROKER,
  RequestCode.ADD_WRITE_PERM_OF_BROKER,
  RequestCode.UPDATE_NAMESRV_CONFIG,
];

export interface NameServerOptions {
  /** Default 9876; 0 = ephemeral (read `port` after start). */
  port?: number;
  /** Default: the transport's (dual-stack "::"). */
  host?: string;
  /** How often silent brokers are looked for; default 10 s. */
  scanIntervalMs?: number;
  /** A broker silent this long is dropped (unless it announced its own timeout); default 120 s. */
  brokerExpiredMs?: number;
  /** Put ORDER_TOPIC_CONFIG KV entries into routes as orderTopicConf; default false. */
  orderMessageEnable?: boolean;
  /** Frame limit of the transport; default 16 MiB. */
  maxFrameBytes?: number;
  logger?: Logger;
  /** Port of the Prometheus `/metrics` endpoint; undefined or -1 = off, 0 = any free port. */
  metricsPort?: number;
  /** Address the metrics endpoint binds; default 127.0.0.1. */
  metricsHost?: string;
}

/**
 * A NameServer: a RouteInfoManager behind a RemotingServer, a periodic scan that drops silent
 * brokers, and a connection watch that drops a broker as soon as its connection closes.
 * Instances share nothing, so several run side by side in one process.
 */
export class NameServer {
  readonly routes: RouteInfoManager;
  private readonly server: RemotingServer;
  private readonly logger: Logger;
  private readonly scanIntervalMs: number;
  /** Open connections by id, so a scan can close the connection of a broker it expires. */
  private readonly connections = new Map<number, Connection>();
  private scanTimer: NodeJS.Timeout | undefined;
  private state: "new" | "starting" | "running" | "stopped" = "new";
  private metrics: MetricsEndpoint | undefined;
  private readonly metricsOptions: { port: number; host: string };

  constructor(options: NameServerOptions = {}) {
    this.logger = options.logger ?? createLogger("namesrv");
    this.metricsOptions = { port: options.metricsPort ?? -1, host: options.metricsHost ?? "127.0.0.1" };
    this.scanIntervalMs = positive(options.scanIntervalMs, DEFAULT_SCAN_INTERVAL_MS, "scanIntervalMs");
    this.routes = new RouteInfoManager({
      brokerExpiredMs: positive(options.brokerExpiredMs, DEFAULT_BROKER_EXPIRED_MS, "brokerExpiredMs"),
      orderMessageEnable: options.orderMessageEnable ?? false,
    });
    this.server = new RemotingServer({
      port: options.port ?? DEFAULT_NAMESRV_PORT,
      host: options.host,
      maxFrameBytes: options.maxFrameBytes,
      logger: this.logger,
    });
    for (const [code, handler] of createNamesrvHandlers(this.routes)) {
      this.server.registerHandler(code, (request, conn) =>
        handler(request, { connectionId: conn.id, now: Date.now() }),
      );
    }
    installAdminAudit(this.server, this.logger, NAMESRV_ADMIN_WRITE_CODES);
    this.server.onConnection((conn) => this.watch(conn));
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`NameServer cannot start: it is ${this.state}`);
    this.state = "starting";
    try {
      await this.server.start();
      if (this.metricsOptions.port >= 0) {
        const registry = createNamesrvRegistry(this.routes, () => this.connections.size);
        this.metrics = new MetricsEndpoint({ ...this.metricsOptions, registry });
        await this.metrics.start();
      }
    } catch (err) {
      this.state = "stopped";
      await this.server.stop().catch(() => undefined);
      throw err;
    }
    this.state = "running";
    this.scanTimer = setInterval(() => this.scan(), this.scanIntervalMs);
    this.scanTimer.unref();
    this.logger.info(`NameServer started on port ${this.server.port}`);
  }

  /** Stops listening and closes every connection; safe to call more than once. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.scanTimer = undefined;
    await this.metrics?.stop();
    await this.server.stop();
    this.connections.clear();
  }

  /** The bound port of the /metrics endpoint, or undefined when it is off. */
  get metricsPort(): number | undefined {
    return this.metrics?.port;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.server.port;
  }

  /** Drops every broker whose last registration is older than its timeout. */
  scan(now: number = Date.now()): void {
    const expired = this.routes.scanNotActiveBroker(now);
    for (const { brokerAddr, channelId } of expired) {
      this.logger.warn(`broker ${brokerAddr} expired: no registration within its timeout`);
      // Like RocketMQ, close the silent broker's channel: it reconnects and registers afresh.
      if (channelId !== undefined) this.connections.get(channelId)?.close();
    }
  }

  private watch(conn: Connection): void {
    this.connections.set(conn.id, conn);
    conn.onClose(() => {
      this.connections.delete(conn.id);
      for (const addr of this.routes.onConnectionClosed(conn.id)) {
        this.logger.info(`broker ${addr} dropped: its connection closed`);
      }
    });
  }
}

function positive(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0)
    throw new RangeError(`NameServer option ${name} must be a positive number`);
  return v;
}
