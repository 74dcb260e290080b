import { mkdtemp, rm, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrokerConfig, BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { NameServer } from "@tidemq/namesrv";
import { createLogger, type Logger } from "@tidemq/remoting";
import { Admin } from "../src/index.js";

/** Quiet loggers for tests (TIDEMQ_LOG_LEVEL overrides, e.g. "debug" when investigating). */
export function testLogger(name: string): Logger {
  const level = (process.env.TIDEMQ_LOG_LEVEL as "debug" | "info" | "warn" | "error" | undefined) ?? "error";
  return createLogger(name, level);
}

/**
 * A real NameServer and real brokers on 127.0.0.1, ephemeral ports, stores in a fresh temp
 * directory that stop() removes.
 */
export class TestCluster {
  readonly brokers = new Map<string, BrokerController>();
  private constructor(
    readonly namesrv: NameServer,
    readonly dir: string,
  ) {}

  static async start(
    brokerNames: string[] = ["broker-a"],
    overrides: Partial<BrokerConfig> = {},
  ): Promise<TestCluster> {
    const dir = await mkdtemp(join(tmpdir(), "tidemq-client-e2e-"));
    const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger: testLogger("namesrv") });
    await namesrv.start();
    const c = new TestCluster(namesrv, dir);
    try {
      for (const name of brokerNames) await c.startBroker(name, overrides);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  get nsAddr(): string {
    return `127.0.0.1:${this.namesrv.port}`;
  }

  async startBroker(brokerName: string, overrides: Partial<BrokerConfig> = {}): Promise<BrokerController> {
    const root = join(this.dir, brokerName);
    const { config } = await loadBrokerConfig({
      env: {},
      overrides: {
        brokerName,
        brokerIP1: "127.0.0.1",
        listenPort: 0,
        namesrvAddr: this.nsAddr,
        storePathRootDir: root,
        storePathCommitLog: join(root, "commitlog"),
        mappedFileSizeCommitLog: 8 * 1024 * 1024,
        ...overrides,
      },
    });
    const broker = new BrokerController(config, { logger: testLogger(brokerName) });
    await broker.start();
    this.brokers.set(brokerName, broker);
    return broker;
  }

  async stopBroker(brokerName: string): Promise<void> {
    const b = this.brokers.get(brokerName);
    this.brokers.delete(brokerName);
    await b?.shutdown();
  }

  /** Creates a topic with `queues` read/write queues on every running broker (and on `extraAddrs`). */
  async createTopic(topic: string, queues = 4, extraAddrs: string[] = []): Promise<void> {
    const admin = new Admin({ endpoints: this.nsAddr, logger: testLogger("admin") });
    try {
      const addrs = [...[...this.brokers.values()].map((b) => b.brokerAddr), ...extraAddrs];
      for (const brokerAddr of addrs) {
        await admin.createTopic({ topic, brokerAddr, readQueueNums: queues, writeQueueNums: queues });
      }
      // The brokers register the new topic with the NameServer at once; wait until the route shows all of them.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const route = await admin.getTopicRoute(topic).catch(() => undefined);
        if (route && route.queueDatas.length === addrs.length) return;
        if (Date.now() > deadline) throw new Error(`route of ${topic} did not appear`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await admin.shutdown();
    }
  }

  async stop(): Promise<void> {
    for (const name of [...this.brokers.keys()]) await this.stopBroker(name).catch(() => {});
    await this.namesrv.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Creates `topic` with `queues` read/write queues on the broker at `brokerAddr` and waits (at
 * most `timeoutMs`) for its route in the NameServer: the broker registers a new topic at once.
 */
export async function createTopicOn(
  nsAddr: string,
  brokerAddr: string,
  topic: string,
  queues: number,
  timeoutMs: number,
): Promise<void> {
  const admin = new Admin({ endpoints: nsAddr, logger: testLogger("admin") });
  try {
    await admin.createTopic({ topic, brokerAddr, readQueueNums: queues, writeQueueNums: queues });
    await until(
      async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1,
      timeoutMs,
      `the route of ${topic}`,
      50,
    );
  } finally {
    await admin.shutdown();
  }
}

/** Polls `cond` until true or the deadline (for states no event announces). */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls an async condition until true or the deadline; a rejection counts as "not yet". */
export async function until(
  cond: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Why a test that needs disk pressure (diskMaxUsedSpaceRatio 10) cannot create it here, or
 *  undefined when the disk holding the temp dir is used enough. */
export async function noDiskPressure(): Promise<string | undefined> {
  const fsInfo = await statfs(tmpdir());
  const usedPct = 100 * (1 - fsInfo.bavail / fsInfo.blocks);
  return usedPct <= 12
    ? `the disk holding ${tmpdir()} is only ${usedPct.toFixed(1)}% used: no disk pressure to test`
    : undefined;
}

/** Fast timers so tests take seconds, not minutes. */
export const FAST = {
  pollNameServerInterval: 300,
  heartbeatBrokerInterval: 1000,
  rebalanceInterval: 500,
  persistConsumerOffsetInterval: 200,
  pullTimeDelayMillsWhenException: 200,
  longPollingTimeout: 2000,
  pullTimeout: 5000,
} as const;

let seq = 0;
/** A unique name per test (topics and groups must not collide across tests of one cluster). */
export function uniq(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq++}`;
}
