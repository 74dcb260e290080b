import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { TideMQError } from "@tidemq/protocol";
import { createLogger, type Logger } from "@tidemq/remoting";
import { type Asset, loadAssets } from "./Assets.js";
import { AuditLog, auditParams } from "./AuditLog.js";
import { apiModules } from "./api/index.js";
import {
  clearedSessionCookie,
  cookieValue,
  csrfMatches,
  SESSION_COOKIE,
  type Session,
  Sessions,
  sessionCookie,
} from "./auth/Sessions.js";
import { type User, verifyPassword } from "./auth/Users.js";
import { ClusterData } from "./ClusterData.js";
import { Download, HttpError, type Route, readBody, sendDownload, sendJson } from "./http.js";
import { allowedHosts, isLoopback } from "./loopback.js";
import { type SamplerOptions, TpsSampler } from "./TpsSampler.js";
import { plainTransportWarning, type TlsFiles } from "./transport.js";

export interface DashboardOptions {
  /** NameServer addresses, "host:port;host:port". */
  namesrv: string;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Users (from a users file). Required on a non-loopback address; with them, every visitor logs in. */
  users?: Map<string, User>;
  /** Audit log file of write actions. */
  auditFile: string;
  logger?: Logger;
  sampler?: SamplerOptions;
  /** Serve HTTPS with this certificate and key (node:https); the session cookie is then `Secure`. */
  tls?: TlsFiles;
}

/** The console refuses to start this way (e.g. on a public address without users). */
export class DashboardStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DashboardStartError";
  }
}

/** Failed logins per remote address before it must wait, and for how long. */
const LOGIN_FAILURES = 5;
const LOGIN_LOCK_MS = 60_000;

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/**
 * The web console: one node:http server serving the single-page UI (public/) and a JSON API
 * (api/*.ts) over the cluster's Admin API. Security: see README "Web console".
 */
export class DashboardServer {
  readonly data: ClusterData;
  readonly sampler: TpsSampler;
  readonly audit: AuditLog;
  private readonly sessions = new Sessions();
  private readonly routes = new Map<string, Route>();
  private readonly logger: Logger;
  private readonly host: string;
  private readonly loopback: boolean;
  private assets = new Map<string, Asset>();
  private server: Server | HttpsServer | undefined;
  private hosts = new Set<string>();
  private readonly loginFailures = new Map<string, { count: number; until: number }>();
  port = 0;

  constructor(private readonly o: DashboardOptions) {
    this.host = o.host ?? "127.0.0.1";
    this.loopback = isLoopback(this.host);
    if (!this.loopback && !o.users) {
      throw new DashboardStartError(
        `refusing to serve the console on ${this.host} without --users FILE: on a non-loopback address every visitor must log in (make a users file with \`tidemq dashboard passwd\`)`,
      );
    }
    this.logger = o.logger ?? createLogger("dashboard");
    this.data = new ClusterData(o.namesrv, this.logger);
    this.sampler = new TpsSampler(this.data, this.logger, o.sampler);
    this.audit = new AuditLog(o.auditFile, (line) => this.logger.info(`audit ${line}`));
    for (const m of apiModules) for (const r of m.routes) this.routes.set(`${r.method} ${r.path}`, r);
  }

  /** True when the console serves HTTPS. */
  get tls(): boolean {
    return this.o.tls !== undefined;
  }

  /** Said at start (logged at WARN) when a non-loopback console serves plain HTTP. */
  get transportWarning(): string | undefined {
    return plainTransportWarning(this.host, this.tls);
  }

  /** True when visitors must log in (a users file was given). */
  get loginRequired(): boolean {
    return this.o.users !== undefined;
  }

  get url(): string {
    const h = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `${this.tls ? "https" : "http"}://${h}:${this.port}/`;
  }

  async start(): Promise<void> {
    this.assets = await loadAssets();
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: Error) => {
        this.logger.error(`request ${req.method} ${req.url} failed: ${err.stack ?? err.message}`);
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.destroy();
      });
    };
    let server: Server | HttpsServer;
    if (this.o.tls) {
      try {
        server = createHttpsServer({ cert: this.o.tls.cert, key: this.o.tls.key }, onRequest);
      } catch (err) {
        // A key that does not match the certificate, a file that is not PEM, …
        throw new DashboardStartError(
          `cannot serve HTTPS with the given certificate and key: ${(err as Error).message}`,
        );
      }
    } else {
      server = createServer(onRequest);
    }
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off("listening", onListening);
        reject(
          err.code === "EADDRINUSE"
            ? new DashboardStartError(
                `port ${this.o.port ?? 8080} on ${this.host} is already in use: stop what uses it or choose another port`,
              )
            : err,
        );
      };
      const onListening = () => {
        server.off("error", onError);
        resolve();
      };
      server.once("error", onError);
      server.once("listening", onListening);
      server.listen(this.o.port ?? 8080, this.host);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.hosts = allowedHosts(this.port);
    this.data.warmUp();
    this.sampler.start();
    const warning = this.transportWarning;
    if (warning) this.logger.warn(warning);
  }

  async stop(): Promise<void> {
    this.sampler.stop();
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await this.data.close();
  }

  private headers(res: ServerResponse): void {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.headers(res);
    // Without a login the Host must be the console's own loopback name (DNS rebinding).
    if (this.loopback && !this.hosts.has(req.headers.host ?? "")) {
      sendJson(res, 421, { error: `unexpected Host header "${req.headers.host ?? ""}"` });
      return;
    }
    const url = new URL(req.url ?? "/", "http://console");
    if (url.pathname.startsWith("/api/")) {
      await this.api(req, res, url);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, { error: "method not allowed" });
      return;
    }
    const asset = this.assets.get(url.pathname === "/" ? "/index.html" : url.pathname);
    if (!asset) {
      sendJson(res, 404, { error: `no such page ${url.pathname}` });
      return;
    }
    // no-cache: a tab always asks, so a new console version is seen at once; the ETag makes
    // the answer a bodiless 304 when the tab already has this file.
    if (req.headers["if-none-match"] === asset.etag) {
      res.writeHead(304, { etag: asset.etag, "cache-control": "no-cache" });
      res.end();
      return;
    }
    res.writeHead(200, {
      "content-type": asset.type,
      "content-length": asset.body.length,
      "cache-control": "no-cache",
      etag: asset.etag,
    });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  }

  private session(req: IncomingMessage): Session | undefined {
    return this.sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
  }

  private sessionView(s: Session | undefined) {
    return {
      loginRequired: this.loginRequired,
      loopback: this.loopback,
      user: s?.user ?? null,
      role: s?.role ?? null,
      csrf: s?.csrf ?? null,
      namesrv: this.o.namesrv,
    };
  }

  private async api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const remote = req.socket.remoteAddress ?? "?";
    let session = this.session(req);
    const key = `${req.method} ${url.pathname}`;
    if (key === "GET /api/session") {
      if (!session && !this.loginRequired) {
        // Loopback without users: an anonymous admin session, still with a CSRF token.
        session = this.sessions.create(undefined, "admin");
        res.setHeader("set-cookie", sessionCookie(session.id, this.tls));
      }
      sendJson(res, 200, this.sessionView(session));
      return;
    }
    if (key === "POST /api/login") {
      await this.login(req, res, remote);
      return;
    }
    if (!session) {
      sendJson(res, 401, { error: this.loginRequired ? "log in first" : "no session: reload the page" });
      return;
    }
    if (key === "POST /api/logout") {
      if (!csrfMatches(session, header(req, "x-csrf-token"))) {
        sendJson(res, 403, { error: "missing or wrong CSRF token" });
        return;
      }
      this.sessions.delete(session.id);
      res.setHeader("set-cookie", clearedSessionCookie(this.tls));
      sendJson(res, 200, { ok: true });
      return;
    }
    const route = this.routes.get(key);
    if (!route) {
      sendJson(res, 404, { error: `no API ${key}` });
      return;
    }
    let body: Record<string, unknown> = {};
    if (req.method === "POST") body = await this.jsonBody(req);
    const who = { user: session.user ?? "(anonymous, loopback)", role: session.role, from: remote };
    if (route.action) {
      const refuse = (status: number, error: string) => {
        void this.audit.record({
          ...who,
          action: route.action!,
          params: auditParams(body),
          outcome: "refused",
          detail: error,
        });
        sendJson(res, status, { error });
      };
      // The server refuses, whatever the page shows: viewers never reach a write handler.
      if (session.role !== "admin")
        return refuse(
          403,
          `${session.user ?? "this user"} is a viewer: ${route.action} needs the admin role`,
        );
      if (!csrfMatches(session, header(req, "x-csrf-token")))
        return refuse(403, "missing or wrong CSRF token");
    }
    try {
      const result = await route.handle({
        query: url.searchParams,
        body,
        data: this.data,
        sampler: this.sampler,
        session,
      });
      if (route.action)
        await this.audit.record({ ...who, action: route.action, params: auditParams(body), outcome: "ok" });
      if (result instanceof Download) sendDownload(res, result);
      else sendJson(res, 200, result);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : err instanceof TideMQError ? 502 : 500;
      const message = status === 500 ? "internal error (see the console's log)" : (err as Error).message;
      if (status === 500) this.logger.error(`${key}: ${(err as Error).stack ?? err}`);
      if (route.action)
        await this.audit.record({
          ...who,
          action: route.action,
          params: auditParams(body),
          outcome: "failed",
          detail: (err as Error).message,
        });
      sendJson(res, status, { error: message });
    }
  }

  private async jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    if (!/^application\/json\b/.test(req.headers["content-type"] ?? ""))
      throw new HttpError(415, "writes take a JSON body (content-type: application/json)");
    const raw = await readBody(req);
    try {
      const v = JSON.parse(raw.toString("utf8") || "{}") as unknown;
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
      return v as Record<string, unknown>;
    } catch {
      throw new HttpError(400, "the body is not a JSON object");
    }
  }

  private async login(req: IncomingMessage, res: ServerResponse, remote: string): Promise<void> {
    try {
      if (!this.o.users) throw new HttpError(400, "this console has no users: no login needed");
      const lock = this.loginFailures.get(remote);
      if (lock && lock.count >= LOGIN_FAILURES && Date.now() < lock.until)
        throw new HttpError(429, "too many failed logins from this address: wait a minute");
      const body = await this.jsonBody(req);
      const name = typeof body.name === "string" ? body.name : "";
      const password = typeof body.password === "string" ? body.password : "";
      const user = this.o.users.get(name);
      // Unknown users cost a hash too, so timing does not tell which names exist.
      const ok = user
        ? await verifyPassword(password, user.hash)
        : await verifyPassword(password, DUMMY_HASH).then(() => false);
      if (!user || !ok) {
        const f = this.loginFailures.get(remote) ?? { count: 0, until: 0 };
        f.count = Date.now() < f.until ? f.count + 1 : 1;
        f.until = Date.now() + LOGIN_LOCK_MS;
        this.loginFailures.set(remote, f);
        if (this.loginFailures.size > 10_000) this.loginFailures.clear();
        this.logger.warn(`failed login for "${name.slice(0, 64)}" from ${remote}`);
        throw new HttpError(401, "wrong user name or password");
      }
      this.loginFailures.delete(remote);
      const s = this.sessions.create(user.name, user.role);
      res.setHeader("set-cookie", sessionCookie(s.id, this.tls));
      this.logger.info(`login ${user.name} (${user.role}) from ${remote}`);
      sendJson(res, 200, this.sessionView(s));
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendJson(res, err.status, { error: err.message });
    }
  }
}

/** A valid hash of a random password, verified against for unknown names. */
const DUMMY_HASH = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
