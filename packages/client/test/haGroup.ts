import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NameServer } from "@tidemq/namesrv";
import { testLogger } from "./cluster.js";

const script = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "ha-broker-child.js");

export type HaRole = "ASYNC_MASTER" | "SYNC_MASTER" | "SLAVE";

/** A broker of a classic master/slave group, running in its own process. */
export interface HaBroker {
  readonly label: string;
  readonly child: ChildProcess;
  readonly addr: string;
  /** Where its HA service listens (0 on a slave). */
  readonly haPort: number;
  /** Where /metrics listens, when started with metricsPort ≥ 0. */
  readonly metricsPort: number | undefined;
  /** What it wrote to stderr (the last 0.5–1 MB); only in a group started with captureStderr. */
  stderr(): string;
}

export interface HaGroupOptions {
  /** Prefix of the temp dir that holds every broker's store. */
  dirPrefix: string;
  /**
   * Keep each broker's stderr (readable with HaBroker.stderr(), its tail quoted when a broker
   * dies before READY) instead of passing it to this process's stderr; the brokers then log
   * at TIDEMQ_LOG_LEVEL=error whatever this process has.
   */
  captureStderr?: boolean;
  /** Broker settings of every broker of the group (brokerName, segment size, ...). */
  settings?: Record<string, unknown>;
}

/** How much stderr a capturing group keeps of a broker: the last 0.5–1 MB. */
const STDERR_MAX = 1_000_000;
const STDERR_KEEP = 500_000;

/**
 * A NameServer in this process and master/slave brokers in child processes (fixtures/
 * ha-broker-child.js), stores in a temp dir. Brokers can be killed (by PID) and started again
 * on the same store, under another id or role (a promoted slave). stop() kills by PID every
 * broker still running, stops the NameServer and removes the dir.
 */
export class HaGroup {
  /** Every broker process this group started (stop() kills those still running). */
  readonly children: ChildProcess[] = [];

  private constructor(
    readonly namesrv: NameServer,
    readonly dir: string,
    private readonly options: HaGroupOptions,
  ) {}

  static async start(options: HaGroupOptions): Promise<HaGroup> {
    const dir = await mkdtemp(join(tmpdir(), options.dirPrefix));
    const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger: testLogger("namesrv") });
    await namesrv.start();
    return new HaGroup(namesrv, dir, options);
  }

  get nsAddr(): string {
    return `127.0.0.1:${this.namesrv.port}`;
  }

  /**
   * Starts a broker on the store `store` (a folder of the group's dir) with the group's
   * settings and `overrides` over them; resolves once it printed READY (registered), within
   * 30 s.
   */
  startBroker(
    store: string,
    brokerId: number,
    brokerRole: HaRole,
    overrides: Record<string, unknown> = {},
  ): Promise<HaBroker> {
    const root = join(this.dir, store);
    const config: Record<string, unknown> = {
      brokerId,
      brokerRole,
      brokerIP1: "127.0.0.1",
      listenPort: 0,
      namesrvAddr: this.nsAddr,
      storePathRootDir: root,
      storePathCommitLog: join(root, "commitlog"),
      haSendHeartbeatInterval: 500,
      ...this.options.settings,
      ...overrides,
    };
    // The child's default name would put brokers of different tests in one group unnoticed.
    if (typeof config.brokerName !== "string") throw new Error(`broker on ${store}: no brokerName`);
    const label = `${config.brokerName}-${brokerId}`;
    const capture = this.options.captureStderr === true;
    const child = spawn(process.execPath, [script, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", capture ? "pipe" : "inherit"],
      ...(capture ? { env: { ...process.env, TIDEMQ_LOG_LEVEL: "error" } } : {}),
    });
    this.children.push(child);
    let err = "";
    if (capture) {
      child.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.length > STDERR_MAX) err = err.slice(-STDERR_KEEP);
      });
    }
    const stderr = () => {
      if (!capture) throw new Error(`${label}: its stderr is not captured (HaGroup without captureStderr)`);
      return err;
    };
    return new Promise((resolve, reject) => {
      let out = "";
      let metricsPort: number | undefined;
      const timer = setTimeout(() => reject(new Error(`${label} did not start in 30 s`)), 30_000);
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        // The child prints "METRICS <port>" (with metricsPort ≥ 0) before "READY <addr> <haPort>".
        for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          const metrics = /^METRICS (\d+)/.exec(line);
          if (metrics) metricsPort = Number(metrics[1]);
          const ready = /^READY (\S+) (\d+)/.exec(line);
          if (ready) {
            clearTimeout(timer);
            resolve({ label, child, addr: ready[1]!, haPort: Number(ready[2]), metricsPort, stderr });
          }
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        const tail = capture ? `: ${err.slice(-2000)}` : "";
        reject(new Error(`${label} exited (${code ?? signal}) before READY${tail}`));
      });
    });
  }

  /** SIGKILL (by PID) every broker still running, then the NameServer; removes the dir. */
  async stop(): Promise<void> {
    for (const c of this.children) await signalAndWait(c, "SIGKILL");
    await this.namesrv.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function isAlive(b: HaBroker): boolean {
  return b.child.exitCode === null && b.child.signalCode === null;
}

/** Sends `signal` to the broker's PID and waits for its exit (nothing if it is not running). */
export async function stopBroker(b: HaBroker | undefined, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (b) await signalAndWait(b.child, signal);
}

async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  process.kill(child.pid!, signal);
  await gone;
}
