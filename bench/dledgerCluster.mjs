// A NameServer (in this process) and a DLedger group of `tidemq broker` child processes, or
// one unreplicated broker, for bench/dledger-*.mjs and bench/fault-injection.mjs.
// Every process started here is stopped by its PID.
import { spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NameServer } from "../packages/namesrv/dist/src/index.js";
import { createLogger } from "../packages/remoting/dist/src/index.js";

export const TIDEMQ = fileURLToPath(new URL("../packages/cli/bin/tidemq.js", import.meta.url));

/**
 * Ports free a moment ago, below the kernel's ephemeral range: a listen(0) port lies in that
 * range, where an outgoing connection may take it before a replica (re)binds it (EADDRINUSE).
 */
export async function freePorts(n) {
  let ephemeralLow = 32_768;
  try {
    const v = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (v > 11_000) ephemeralLow = v;
  } catch {}
  const canListen = (port) =>
    new Promise((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
  const ports = [];
  for (let attempt = 0; ports.length < n && attempt < 1000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (ephemeralLow - 10_001));
    if (!ports.includes(port) && (await canListen(port))) ports.push(port);
  }
  if (ports.length < n) throw new Error(`no ${n} free ports below ${ephemeralLow}`);
  return ports;
}

export class Cluster {
  constructor(dir, namesrv, replicas) {
    this.dir = dir;
    this.namesrv = namesrv;
    this.replicas = replicas; // [{ id, conf, raftPort, child, addr, role, term, lines }]
    this.nsAddr = `127.0.0.1:${namesrv.port}`;
    this.onRole = () => {};
  }

  /**
   * size 1 + dledger false: one plain broker (flushDiskType SYNC_FLUSH unless extra says so).
   * raftPortOf(i, port): where replica i's peers reach it (a fault proxy's port), default its own.
   */
  static async start({
    size = 3,
    dledger = true,
    extra = {},
    raftPortOf,
    peerPort,
    raftPorts: given,
    rootOf,
    preload,
    dirRoot,
    logDir,
  } = {}) {
    const dir = await mkdtemp(join(dirRoot ?? tmpdir(), "tidemq-bench-dl-"));
    const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger: createLogger("namesrv", "error") });
    await namesrv.start();
    const raftPorts = given ?? (await freePorts(size));
    const advertised = raftPorts.map((p, i) => (raftPortOf ? raftPortOf(i, p) : p));
    const replicas = [];
    for (let i = 0; i < size; i++) {
      const root = rootOf?.(i) ?? join(dir, `n${i}`);
      await mkdir(root, { recursive: true });
      // Beside, not inside, the store: a store on lossyfs loses an unsynced conf on a power cut.
      const conf = join(dir, `n${i}.conf`);
      const lines = [
        "brokerClusterName=DefaultCluster",
        "brokerName=broker-dl",
        "listenPort=0",
        `namesrvAddr=127.0.0.1:${namesrv.port}`,
        "brokerIP1=127.0.0.1",
        `storePathRootDir=${root}`,
        "autoCreateTopicEnable=true",
        "mappedFileSizeCommitLog=67108864",
      ];
      if (dledger) {
        // Peers list: every replica's advertised port, except our own listening port.
        const peers = advertised
          .map(
            (p, j) =>
              `n${j}-127.0.0.1:${j === i ? raftPorts[j] : peerPort ? peerPort(i, j, raftPorts[j]) : p}`,
          )
          .join(";");
        lines.push(
          "enableDLegerCommitLog=true",
          "dLegerGroup=broker-dl",
          `dLegerPeers=${peers}`,
          `dLegerSelfId=n${i}`,
        );
      } else {
        lines.push("flushDiskType=SYNC_FLUSH");
      }
      for (const [k, v] of Object.entries(extra)) lines.push(`${k}=${v}`);
      await writeFile(conf, `${lines.join("\n")}\n`);
      replicas.push({
        id: `n${i}`,
        conf,
        root,
        raftPort: raftPorts[i],
        child: undefined,
        addr: "",
        role: "follower",
        term: 0,
      });
    }
    const c = new Cluster(dir, namesrv, replicas);
    c.preload = preload;
    c.logDir = logDir;
    try {
      await Promise.all(replicas.map((r) => c.startReplica(r.id)));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  replica(id) {
    return this.replicas.find((r) => r.id === id);
  }

  alive(r) {
    return !!r.child && r.child.exitCode === null && r.child.signalCode === null;
  }

  startReplica(id, { preload = this.preload } = {}) {
    const r = this.replica(id);
    // --initial-old-space-size=64 as the tidemq bin's shebang (spawned through node, the
    // shebang is skipped); TIDEMQ_BENCH_NODE_ARGS adds more (e.g. --cpu-prof) for profiling.
    const nodeArgs = [
      "--initial-old-space-size=64",
      ...(process.env.TIDEMQ_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean),
    ];
    const args = preload
      ? [...nodeArgs, "--import", preload, TIDEMQ, "broker", "-c", r.conf]
      : [...nodeArgs, TIDEMQ, "broker", "-c", r.conf];
    // TIDEMQ_DEV_CHILD: the broker stops when our end of its stdin closes (this process died).
    const child = spawn(process.execPath, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: {
        ...process.env,
        TIDEMQ_LOG_LEVEL: process.env.TIDEMQ_LOG_LEVEL ?? "error",
        TIDEMQ_DEV_CHILD: "1",
      },
    });
    r.child = child;
    r.role = "follower";
    r.stderr = "";
    r.stoppedReplicating = undefined;
    child.stderr.on("data", (d) => {
      r.stderr = (r.stderr + d.toString()).slice(-20000);
      // A replica alive but out of the group (its Raft loop gave up) is a fault of its own.
      const failed = /dledger: replica \S+ stopped replicating: [^\n]*/.exec(d.toString());
      if (failed) r.stoppedReplicating ??= failed[0].slice(0, 300);
    });
    if (this.logDir) {
      // --logs: every replica's output, appended across restarts (post-mortems of a round).
      const file = createWriteStream(join(this.logDir, `${id}.log`), { flags: "a" });
      file.write(`${new Date().toISOString()} --- ${id} started, pid ${child.pid}\n`);
      child.stdout.pipe(file, { end: false });
      child.stderr.pipe(file, { end: false });
    }
    return new Promise((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(
        () => reject(new Error(`replica ${id} did not start in 180 s: ${r.stderr}`)),
        180_000,
      );
      child.stdout.on("data", (d) => {
        buf += d.toString();
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const m = /^Broker \S+ listening on (\S+),/.exec(line);
          if (m) {
            r.addr = m[1];
            clearTimeout(timer);
            resolve(r);
          }
          const role = /^DLedger (\S+) of \S+: (leader|follower) \(term (\d+)\)/.exec(line);
          if (role) {
            r.role = role[2];
            r.term = Number(role[3]);
            r.roleAt = Date.now();
            this.onRole(r);
          }
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        r.role = "follower";
        reject(new Error(`replica ${id} exited (${signal ?? code}) ${r.stderr.slice(-2000)}`));
      });
    });
  }

  leaderNow() {
    const ls = this.replicas.filter((r) => r.role === "leader" && this.alive(r));
    return ls.length === 1 ? ls[0] : undefined;
  }

  async leader(timeoutMs = 30_000, exclude) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 1_000_000; i++) {
      const ls = this.replicas.filter((r) => r.role === "leader" && this.alive(r) && r.id !== exclude);
      if (ls.length === 1) return ls[0];
      if (Date.now() > deadline) return undefined;
      await new Promise((res) => setTimeout(res, 5));
    }
    return undefined;
  }

  async kill(id, signal = "SIGKILL") {
    const r = this.replica(id);
    const child = r.child;
    if (!child || !this.alive(r)) return;
    const exited = new Promise((res) => child.once("exit", res));
    process.kill(child.pid, signal);
    if (signal === "SIGKILL" || signal === "SIGTERM") {
      await exited;
      r.role = "follower";
    }
  }

  async stop() {
    for (const r of this.replicas) {
      if (r.child && this.alive(r)) {
        const c = r.child;
        const exited = new Promise((res) => c.once("exit", res));
        try {
          process.kill(c.pid, "SIGCONT");
          // A profiled broker must exit by itself to write its profile.
          process.kill(
            c.pid,
            process.env.TIDEMQ_BENCH_NODE_ARGS?.includes("--cpu-prof") ? "SIGTERM" : "SIGKILL",
          );
        } catch {}
        await exited;
      }
    }
    await this.namesrv.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs `tidemq bench producer|consumer --json`; resolves with its summary object. */
export function benchTool(role, args) {
  return new Promise((resolve, reject) => {
    // TIDEMQ_BENCH_CLIENT_ARGS adds node flags to the producer/consumer (e.g. --cpu-prof).
    const nodeArgs = (process.env.TIDEMQ_BENCH_CLIENT_ARGS ?? "").split(" ").filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, TIDEMQ, "bench", role, ...args, "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    // The tool's CPU (user + sys, s) read from /proc while it runs (gone once it exits): the
    // clients share the machine's cores with the brokers, so their cost per message counts too.
    let cpu = Number.NaN;
    const readCpu = () => {
      try {
        const f = readFileSync(`/proc/${child.pid}/stat`, "utf8");
        const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
        cpu = (Number(fields[11]) + Number(fields[12])) / 100;
      } catch {}
    };
    const poll = setInterval(readCpu, 100);
    child.stdout.on("data", (d) => {
      out += d.toString();
      if (out.includes('"type":"summary"')) readCpu();
    });
    child.stderr.on("data", (d) => {
      err += d.toString();
    });
    child.once("exit", () => {
      clearInterval(poll);
      const line = out.split("\n").find((l) => l.includes('"type":"summary"'));
      if (!line) reject(new Error(`bench ${role}: no summary\n${err.slice(-2000)}`));
      else resolve({ ...JSON.parse(line), cpuSeconds: cpu });
    });
  });
}
