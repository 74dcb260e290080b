import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { NameServer } from "@tidemq/namesrv";
import { createLogger } from "@tidemq/remoting";
import { DashboardServer, hashPassword, parseUsers, type User } from "../src/index.js";

/** A NameServer and a broker in the test process, on ephemeral ports, data in a temp dir. */
export interface TestCluster {
  nsAddr: string;
  broker: BrokerController;
  brokerAddr: string;
  dir: string;
  stop(): Promise<void>;
}

export const quietLogger = createLogger("test", "warn");

export async function startTestCluster(prefix: string): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const ns = new NameServer({ port: 0, logger: quietLogger });
  await ns.start();
  const nsAddr = `127.0.0.1:${ns.port}`;
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      namesrvAddr: nsAddr,
      listenPort: 0,
      brokerIP1: "127.0.0.1",
      storePathRootDir: join(dir, "store"),
      mappedFileSizeCommitLog: 16 * 1024 * 1024,
      autoCreateTopicEnable: true,
    },
  });
  const broker = new BrokerController(config, { logger: quietLogger });
  await broker.start();
  return {
    nsAddr,
    broker,
    brokerAddr: broker.brokerAddr,
    dir,
    async stop() {
      await broker.shutdown();
      await ns.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Cheap scrypt cost for tests only (the real default is N=2^15). */
const TEST_PARAMS = { N: 1 << 10, r: 8, p: 1 };

export const PASSWORDS = { admin: "admin-pass-123", viewer: "viewer-pass-123" };

export async function testUsers(): Promise<Map<string, User>> {
  const lines = [
    `alice admin ${await hashPassword(PASSWORDS.admin, TEST_PARAMS)}`,
    `victor viewer ${await hashPassword(PASSWORDS.viewer, TEST_PARAMS)}`,
  ];
  return parseUsers(lines.join("\n"));
}

export async function startConsole(
  c: TestCluster,
  o: { users?: Map<string, User>; host?: string; port?: number } = {},
): Promise<DashboardServer> {
  const s = new DashboardServer({
    namesrv: c.nsAddr,
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 0,
    users: o.users,
    auditFile: join(c.dir, `audit-${Math.random().toString(36).slice(2)}.log`),
    logger: quietLogger,
    sampler: { brokerIntervalMs: 300, topicIntervalMs: 500 },
  });
  await s.start();
  return s;
}

/** A minimal HTTP client keeping one cookie, as a browser would. */
export class Http {
  cookie = "";
  constructor(readonly base: string) {}

  async req(
    method: string,
    path: string,
    o: { body?: unknown; csrf?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; json: Record<string, unknown>; setCookie: string | null }> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (this.cookie) headers.cookie = this.cookie;
    if (o.body !== undefined) headers["content-type"] = "application/json";
    if (o.csrf) headers["x-csrf-token"] = o.csrf;
    const res = await fetch(new URL(path, this.base), {
      method,
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const setCookie = res.headers.get("set-cookie");
    if (setCookie) this.cookie = setCookie.split(";")[0]!;
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, setCookie };
  }

  async login(name: string, password: string): Promise<string> {
    const r = await this.req("POST", "/api/login", { body: { name, password } });
    if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json.csrf as string;
  }
}
