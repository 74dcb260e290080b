import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import net from "node:net";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NameServer } from "@tidemq/namesrv";
import { stopOnSignal } from "./broker.js";
import type { DevArgs } from "./dev.js";
import { devNamesrvPorts, explainPortInUse } from "./portInUse.js";

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), "../../../bin/tidemq.js");
const BROKER_NAME = "broker-a";

interface Member {
  id: string;
  conf: string;
  brokerPort: number;
  /** -1: off; 0: any free port (learnt from the replica's "Metrics on" line). */
  metricsPort: number;
  child?: ChildProcess;
  addr?: string;
  metricsUrl?: string;
}

/**
 * `tidemq dev` with a DLedger group: a NameServer in this process, each replica a
 * `tidemq broker -c DIR/nK/broker.conf` child process (the conf files are written here, so
 * they can be started by hand too). Watches the replicas' role lines to say who leads.
 */
/** The web console beside the cluster: its status line and how to stop it. */
export interface DevConsole {
  line: string;
  stop(): Promise<void>;
}

export async function runReplicatedDev(
  args: DevArgs,
  startConsole: (namesrvAddr: string) => Promise<DevConsole>,
): Promise<void> {
  const started = Date.now();
  // /metrics: replica i on base + 10·i (like the broker ports), the NameServer on base + 1.
  const metricsBase = args.metricsPort ?? -1;
  const namesrv = new NameServer({
    port: args.namesrvPort,
    metricsPort: metricsBase <= 0 ? metricsBase : metricsBase + 1,
  });
  await namesrv.start().catch(explainPortInUse(devNamesrvPorts(args.namesrvPort, metricsBase)));
  const namesrvAddr = `127.0.0.1:${namesrv.port}`;
  const n = args.replicas;
  // Port 0: any free ports (tests); the Raft ports must be known before the replicas start.
  const raftPorts =
    args.raftPort === 0 ? await freePorts(n) : Array.from({ length: n }, (_, i) => args.raftPort + i);
  const peers = raftPorts.map((p, i) => `n${i}-127.0.0.1:${p}`).join(";");
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    const root = resolve(args.data, `n${i}`);
    await mkdir(root, { recursive: true });
    const conf = join(root, "broker.conf");
    const brokerPort = args.brokerPort === 0 ? 0 : args.brokerPort + 10 * i;
    const metricsPort = metricsBase <= 0 ? metricsBase : metricsBase + 10 * i;
    await writeFile(
      conf,
      [
        "# written by `tidemq dev`: one replica of a DLedger group",
        "brokerClusterName=DefaultCluster",
        `brokerName=${BROKER_NAME}`,
        `listenPort=${brokerPort}`,
        `namesrvAddr=${namesrvAddr}`,
        "brokerIP1=127.0.0.1",
        `storePathRootDir=${root}`,
        "autoCreateTopicEnable=true",
        "enableDLegerCommitLog=true",
        `dLegerGroup=${BROKER_NAME}`,
        `dLegerPeers=${peers}`,
        `dLegerSelfId=n${i}`,
        `metricsPort=${metricsPort}`,
        "",
      ].join("\n"),
    );
    members.push({ id: `n${i}`, conf, brokerPort, metricsPort });
  }

  let leader: { id: string; term: number } | undefined;
  let ready = false;
  let stopping = false;
  let onLeader: (() => void) | undefined;
  const say = (line: string) => console.log(line);
  const start = (m: Member): Promise<void> =>
    new Promise((resolveStart, rejectStart) => {
      // The flag the bin's shebang gives (a script run through node directly skips the shebang).
      const child = spawn(process.execPath, ["--initial-old-space-size=64", BIN, "broker", "-c", m.conf], {
        stdio: ["pipe", "pipe", "inherit"],
        env: { ...process.env, TIDEMQ_DEV_CHILD: "1" },
      });
      m.child = child;
      let buf = "";
      child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const listening = /^Broker \S+ listening on (\S+),/.exec(line);
          if (listening) m.addr = listening[1];
          const metrics = /^Metrics on (\S+)/.exec(line);
          if (metrics) m.metricsUrl = metrics[1];
          // Started once listening, and serving /metrics when asked to (the line after).
          if ((listening || metrics) && m.addr && (m.metricsPort < 0 || m.metricsUrl)) resolveStart();
          const role = /^DLedger (\S+) of \S+: (leader|follower) \(term (\d+)\)/.exec(line);
          if (role?.[2] === "leader") {
            leader = { id: m.id, term: Number(role[3]) };
            onLeader?.();
            if (ready) announceLeader();
          }
        }
      });
      child.once("exit", (code, signal) => {
        rejectStart(new Error(`replica ${m.id} exited (${signal ?? code}) before it started`));
        // Before it started its own stderr line says why; "restart it" would be wrong advice.
        if (stopping || !m.addr) return;
        if (leader?.id === m.id) leader = undefined;
        const rel = relative(process.cwd(), m.conf) || m.conf;
        say(
          `replica ${m.id} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); the others elect a leader if it was one.\n` +
            `  restart it (it catches up as a follower): node ${relative(process.cwd(), BIN)} broker -c ${rel}`,
        );
      });
    });
  const announceLeader = () => {
    const m = members.find((x) => x.id === leader?.id);
    if (!m?.child) return;
    say(
      `leader: ${m.id} (pid ${m.child.pid}, ${m.addr}, term ${leader!.term}) — kill -9 ${m.child.pid} to watch a failover`,
    );
  };
  const stopAll = async () => {
    stopping = true;
    await Promise.all(
      members.map(async (m) => {
        const c = m.child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise<void>((r) => c.once("exit", () => r()));
        c.kill("SIGTERM");
        const t = setTimeout(() => c.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }),
    );
    await namesrv.stop();
  };
  try {
    await Promise.all(members.map((m) => start(m)));
    if (!leader) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, 30_000);
        onLeader = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  ready = true;
  const devConsole = await startConsole(namesrvAddr);
  const ms = Date.now() - started;
  say(`TideMQ dev cluster ready in ${ms} ms
  NameServer  ${namesrvAddr}
${members.map((m) => `  Broker      ${m.addr}  (cluster DefaultCluster, ${BROKER_NAME}, DLedger ${m.id}, pid ${m.child?.pid}, data ${relative(process.cwd(), dirname(m.conf)) || "."})`).join("\n")}
  Metrics     ${metricsBase < 0 ? "off (--metrics-port -1)" : `${members.map((m) => `${m.metricsUrl} (${m.id})`).join(", ")}, http://127.0.0.1:${namesrv.metricsPort}/metrics (NameServer)`}
  Group       a DLedger group of ${n}: sends are acknowledged once ${Math.floor(n / 2) + 1} replicas have them on disk
  ${devConsole.line}

Quick start (topics are created on first use in the dev cluster):
  import { Producer, PushConsumer, ConsumeResult } from "@tidemq/client";
  const producer = new Producer({ endpoints: "${namesrvAddr}" });
  await producer.startup();
  await producer.send({ topic: "OrderPaid", tag: "paid", keys: ["order-1"], body: Buffer.from("hello") });

  npx tidemq admin clusterList -n ${namesrvAddr}     # roles, terms, commit index, lag

Press Ctrl-C to stop.`);
  if (leader) announceLeader();
  else say("no leader elected yet (is a majority of the replicas up?)");
  stopOnSignal("tidemq dev", () => devConsole.stop().then(stopAll));
}

/** Ports that were free a moment ago. */
async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    servers.push(s);
  }
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  return ports;
}
