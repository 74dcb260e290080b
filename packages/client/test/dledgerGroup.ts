import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NameServer } from "@tidemq/namesrv";
import { testLogger } from "./cluster.js";

const script = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "dledger-child.js");
const TIDEMQ = fileURLToPath(new URL("../../../cli/bin/tidemq.js", import.meta.url));

/**
 * Ports that were free a moment ago (dLegerPeers needs them before the replicas start), taken
 * below the kernel's ephemeral range: a port from listen(0) is in that range, where any
 * outgoing connection or listen(0) of a parallel test may take it before a replica binds it
 * (seen: a replica restarted on its Raft port died with EADDRINUSE).
 */
export async function freePorts(n: number): Promise<number[]> {
  const low = 10_000;
  const high = ephemeralLow() - 1;
  const ports: number[] = [];
  for (let attempt = 0; ports.length < n && attempt < 1000; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!ports.includes(port) && (await canListen(port))) ports.push(port);
  }
  if (ports.length < n) throw new Error(`no ${n} free ports in ${low}..${high}`);
  return ports;
}

/** The first port of net.ipv4.ip_local_port_range (32768 where it cannot be read). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export interface Replica {
  id: string;
  child: ChildProcess | undefined;
  addr: string;
  role: "leader" | "follower";
  term: number;
  /** The /metrics port, when the replicas run with metricsPort ≥ 0. */
  metricsPort?: number;
  /** Called with each stdout line. */
  listeners: Set<(line: string) => void>;
  /** The last 20 kB of its stderr (also copied to this process's stderr). */
  stderr?: string;
}

/** Commit-log segment size of a group with forced retention (FORCED_RETENTION). */
export const FORCED_RETENTION_SEGMENT = 64 * 1024;
/**
 * Broker settings that make the leader's retention delete every full segment at once (64 KiB
 * segments, disk "full" at 10 %, checked every 200 ms): what the snapshot/retention tests need.
 */
export const FORCED_RETENTION = {
  mappedFileSizeCommitLog: FORCED_RETENTION_SEGMENT,
  maxMessageSize: 16 * 1024,
  diskMaxUsedSpaceRatio: 10,
  cleanResourceInterval: 200,
};

/**
 * A NameServer in this process and a DLedger group of child-process replicas (n0..n{k-1}),
 * data in a temp dir. Replicas can be killed (SIGKILL) and restarted on the same data.
 */
export class DLedgerGroup {
  readonly replicas: Replica[] = [];
  /** `tidemq admin` child processes still running (killed by PID in stop()). */
  private readonly adminChildren = new Set<ChildProcess>();
  private constructor(
    readonly namesrv: NameServer,
    readonly dir: string,
    readonly brokerName: string,
    readonly peers: string,
    private readonly overrides: Record<string, unknown>,
  ) {}

  static async start(size = 3, overrides: Record<string, unknown> = {}): Promise<DLedgerGroup> {
    const dir = await mkdtemp(join(tmpdir(), "tidemq-dledger-"));
    const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger: testLogger("namesrv") });
    await namesrv.start();
    const ports = await freePorts(size);
    const peers = ports.map((p, i) => `n${i}-127.0.0.1:${p}`).join(";");
    const g = new DLedgerGroup(namesrv, dir, "dl-broker", peers, overrides);
    try {
      for (let i = 0; i < size; i++) {
        g.replicas.push({
          id: `n${i}`,
          child: undefined,
          addr: "",
          role: "follower",
          term: 0,
          listeners: new Set(),
        });
      }
      await Promise.all(g.replicas.map((r) => g.startReplica(r.id)));
    } catch (err) {
      await g.stop();
      throw err;
    }
    return g;
  }

  get nsAddr(): string {
    return `127.0.0.1:${this.namesrv.port}`;
  }

  replica(id: string): Replica {
    const r = this.replicas.find((x) => x.id === id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
  }

  /** A replica not in the initial group (membership changes), started on an empty store. */
  async addReplica(id: string, overrides: Record<string, unknown>): Promise<Replica> {
    const r: Replica = { id, child: undefined, addr: "", role: "follower", term: 0, listeners: new Set() };
    this.replicas.push(r);
    this.extra.set(id, overrides);
    await this.startReplica(id);
    return r;
  }

  private readonly extra = new Map<string, Record<string, unknown>>();
  /** Node options per replica for its next start (e.g. `--import` of a fault injector). */
  readonly nodeArgs = new Map<string, string[]>();

  /** Starts replica `id`; `readyWithinMs` is a hang guard (a start that includes a deliberate
   *  delay, e.g. a late index fsync, passes a larger one). */
  async startReplica(id: string, readyWithinMs = 30_000): Promise<void> {
    const r = this.replica(id);
    const root = join(this.dir, id);
    const overrides = {
      brokerName: this.brokerName,
      brokerIP1: "127.0.0.1",
      listenPort: 0,
      namesrvAddr: this.nsAddr,
      storePathRootDir: root,
      storePathCommitLog: join(root, "commitlog"),
      mappedFileSizeCommitLog: 8 * 1024 * 1024,
      enableDLegerCommitLog: true,
      dLegerGroup: this.brokerName,
      dLegerPeers: this.peers,
      dLegerSelfId: id,
      autoCreateTopicEnable: true,
      ...this.overrides,
      ...this.extra.get(id),
    };
    const child = spawn(
      process.execPath,
      [...(this.nodeArgs.get(id) ?? []), script, JSON.stringify(overrides)],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    r.stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      process.stderr.write(d);
      r.stderr = (r.stderr + d.toString()).slice(-20_000);
    });
    r.child = child;
    r.role = "follower";
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(
        () => reject(new Error(`replica ${id} did not start in ${readyWithinMs / 1000} s`)),
        readyWithinMs,
      );
      child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const ready = /^READY (\S+)/.exec(line);
          if (ready) {
            r.addr = ready[1]!;
            clearTimeout(timer);
            resolve();
          }
          const metrics = /^METRICS (\d+)/.exec(line);
          if (metrics) r.metricsPort = Number(metrics[1]);
          const role = /^ROLE (\w+) (\d+)/.exec(line);
          if (role) {
            r.role = role[1] as Replica["role"];
            r.term = Number(role[2]);
          }
          for (const l of r.listeners) l(line);
          nl = buf.indexOf("\n");
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        r.role = "follower";
        reject(new Error(`replica ${id} exited (${code ?? signal})`));
      });
    });
  }

  /** The replica that reports itself writable leader, waiting up to `timeoutMs`. */
  async leader(timeoutMs = 20_000, exclude?: string): Promise<Replica> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000; i++) {
      const leaders = this.replicas.filter((r) => r.role === "leader" && this.alive(r) && r.id !== exclude);
      if (leaders.length === 1) return leaders[0]!;
      if (Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new Error(`no single leader after ${timeoutMs} ms`);
  }

  /** Replica `id`'s amnesia mark (dLegerLazyIndexSync) as its store holds it, if it has one. */
  amnesiaMark(id: string): { lazy: boolean; recoverTo: number } | undefined {
    const path = join(this.dir, id, "dledger", "amnesia.json");
    return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : undefined;
  }

  alive(r: Replica): boolean {
    return !!r.child && r.child.exitCode === null && r.child.signalCode === null;
  }

  async kill(id: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const r = this.replica(id);
    const child = r.child;
    if (!child || !this.alive(r)) return;
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    process.kill(child.pid!, signal);
    await exited;
    r.role = "follower";
  }

  /**
   * Runs `tidemq admin <args> -n <this group's NameServer>` as a child process, stdout and
   * stderr together in `out` (killed by PID after 60 s: a hang guard, not a speed bound).
   */
  admin(args: string[]): Promise<{ code: number | null; out: string }> {
    const child = spawn(process.execPath, [TIDEMQ, "admin", ...args, "-n", this.nsAddr], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TIDEMQ_DEBUG: "", NAMESRV_ADDR: "" },
    });
    this.adminChildren.add(child);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => process.kill(child.pid!, "SIGKILL"), 60_000);
    return new Promise((resolve) =>
      child.on("close", (code) => {
        clearTimeout(killer);
        this.adminChildren.delete(child);
        resolve({ code, out });
      }),
    );
  }

  async stop(): Promise<void> {
    for (const c of this.adminChildren) if (c.exitCode === null) process.kill(c.pid!, "SIGKILL");
    for (const r of this.replicas) {
      if (r.child && this.alive(r)) {
        const c = r.child;
        const exited = new Promise<void>((res) => c.once("exit", () => res()));
        try {
          process.kill(c.pid!, "SIGKILL");
        } catch {
          // already gone
        }
        await exited;
      }
    }
    await this.namesrv.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
