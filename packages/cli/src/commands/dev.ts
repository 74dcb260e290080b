import { resolve } from "node:path";
import { BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { NameServer } from "@tidemq/namesrv";
import { createLogger } from "@tidemq/remoting";
import { stopOnSignal } from "./broker.js";
import { startDashboard } from "./dashboard.js";
import { type DevConsole, runReplicatedDev } from "./devGroup.js";
import { parsePort } from "./port.js";
import { devNamesrvPorts, explainPortInUse } from "./portInUse.js";

const USAGE = `usage: tidemq dev [--replicas 3|1] [--data ./data] [--namesrv-port 9876] [--broker-port 10911]
                  [--raft-port 40911] [--sync-flush] [--metrics-port 5557] [--dashboard-port 8080]

Starts a NameServer and a broker group (cluster DefaultCluster, broker-a, topic auto-create
on), data under --data, and the web console. Ctrl-C stops everything cleanly; the data is
kept for the next start.

Default (--replicas 3): a DLedger group of three replicas, each its own process (data in
DIR/n0..n2, broker ports N, N+10, N+20, Raft ports R, R+1, R+2), the NameServer in this
process. It prints which replica is the leader and how to kill it to watch a failover.
Sends are acknowledged once a majority has them on disk.

--replicas 1: one broker in this process (data in DIR/broker-a).

  --replicas N        3 (default) or 1
  --data DIR          store root (default ./data)
  --namesrv-port N    NameServer port (default 9876)
  --broker-port N     first broker port (default 10911; each broker opens its VIP port N-2 too)
  --raft-port N       first Raft port of the DLedger group (default 40911)
  --sync-flush        single broker: acknowledge sends only after fdatasync (SYNC_FLUSH);
                      default ASYNC_FLUSH. (A DLedger group always fsyncs before acknowledging.)
  --metrics-port N    /metrics on 127.0.0.1: the single broker or replica n0 on N, the
                      NameServer on N+1, replicas n1, n2 on N+10, N+20 (default 5557; any free
                      ports when --broker-port/--namesrv-port is given without it; 0 = any
                      free ports; -1 = off). The start-up banner prints every URL.
  --dashboard-port N  web console port on 127.0.0.1 (default 8080)
  --no-dashboard      do not start the web console
  -h, --help          this text`;

export interface DevArgs {
  replicas: number;
  raftPort: number;
  data: string;
  namesrvPort: number;
  brokerPort: number;
  syncFlush: boolean;
  /** Broker /metrics port (NameServer: +1); undefined = 5557, or ephemeral with --broker-port. */
  metricsPort: number | undefined;
  dashboardPort: number | undefined;
  help: boolean;
}

export function parseDevArgs(argv: string[]): DevArgs {
  const out: DevArgs = {
    replicas: 3,
    raftPort: 40911,
    data: "./data",
    namesrvPort: 9876,
    brokerPort: 10911,
    syncFlush: false,
    metricsPort: undefined,
    dashboardPort: 8080,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    switch (arg) {
      case "--data": {
        const v = argv[++i];
        if (!v) throw new Error("option --data needs a directory");
        out.data = v;
        break;
      }
      case "--namesrv-port":
        out.namesrvPort = parsePort(arg, argv[++i]);
        break;
      case "--broker-port":
        out.brokerPort = parsePort(arg, argv[++i]);
        break;
      case "--sync-flush":
        out.syncFlush = true;
        break;
      case "--replicas": {
        const v = argv[++i];
        if (v !== "1" && v !== "3")
          throw new Error(`invalid value for --replicas: "${v ?? ""}" (expected 3 or 1)`);
        out.replicas = Number(v);
        break;
      }
      case "--raft-port":
        out.raftPort = parsePort(arg, argv[++i]);
        break;
      case "--metrics-port": {
        const v = argv[++i];
        out.metricsPort = v === "-1" ? -1 : parsePort(arg, v);
        if (out.metricsPort === 65535) throw new Error("--metrics-port: the NameServer needs N+1 too");
        break;
      }
      case "--dashboard-port":
        out.dashboardPort = parsePort(arg, argv[++i]);
        break;
      case "--no-dashboard":
        out.dashboardPort = undefined;
        break;
      case "-h":
      case "--help":
        out.help = true;
        break;
      default:
        throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    }
  }
  return out;
}

/** The console is a convenience: a busy port is reported, the cluster runs on without it. */
async function startConsole(args: DevArgs, namesrvAddr: string): Promise<DevConsole> {
  if (args.dashboardPort === undefined) {
    return { line: "Console     off (--no-dashboard)", stop: async () => {} };
  }
  try {
    const dashboard = await startDashboard({
      namesrv: namesrvAddr,
      host: "127.0.0.1",
      port: args.dashboardPort,
      audit: resolve(args.data, "dashboard-audit.log"),
      help: false,
    });
    return {
      line: `Console     ${dashboard.url}  (no login: loopback only)`,
      stop: () => dashboard.stop().catch(() => undefined),
    };
  } catch (err) {
    // Through the logger, so TIDEMQ_LOG_FORMAT=json keeps every stderr line JSON.
    createLogger("tidemq dev").warn(`web console not started: ${(err as Error).message}`);
    return {
      line: `Console     NOT started: ${(err as Error).message} (use --dashboard-port N or --no-dashboard)`,
      stop: async () => {},
    };
  }
}

export async function run(argv: string[]): Promise<void> {
  const args = parseDevArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  // Known ports for `npm start`; a cluster started on chosen ports (scripts, several side by
  // side) gets free metrics ports instead of colliding on 5557.
  const explicitPorts = argv.includes("--broker-port") || argv.includes("--namesrv-port");
  const metricsBase = args.metricsPort ?? (explicitPorts ? 0 : 5557);
  if (args.replicas > 1) {
    await runReplicatedDev({ ...args, metricsPort: metricsBase }, (namesrvAddr) =>
      startConsole(args, namesrvAddr),
    );
    return;
  }
  const started = Date.now();
  const namesrv = new NameServer({
    port: args.namesrvPort,
    metricsPort: metricsBase <= 0 ? metricsBase : metricsBase + 1,
  });
  await namesrv.start().catch(explainPortInUse(devNamesrvPorts(args.namesrvPort, metricsBase)));
  const namesrvAddr = `127.0.0.1:${namesrv.port}`;
  const { config, warnings } = await loadBrokerConfig({
    namesrvAddr,
    listenPort: args.brokerPort,
    overrides: {
      brokerIP1: "127.0.0.1",
      storePathRootDir: resolve(args.data, "broker-a"),
      autoCreateTopicEnable: true,
      flushDiskType: args.syncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH",
      metricsPort: metricsBase,
    },
  });
  for (const w of warnings) createLogger("tidemq dev").warn(w);
  const broker = new BrokerController(config);
  try {
    await broker.start();
  } catch (err) {
    await namesrv.stop();
    explainPortInUse([
      { key: "--broker-port", port: config.listenPort },
      {
        key: "VIP port (--broker-port - 2)",
        port: config.listenPort >= 2 ? config.listenPort - 2 : 0,
        fix: "--broker-port",
      },
      { key: "--metrics-port", port: Math.max(0, metricsBase) },
    ])(err);
  }
  const devConsole = await startConsole(args, namesrvAddr);
  const ms = Date.now() - started;
  console.log(`TideMQ dev cluster ready in ${ms} ms
  NameServer  ${namesrvAddr}
  Broker      ${broker.brokerAddr}  (cluster ${config.brokerClusterName}, ${config.brokerName}, ${config.flushDiskType})
  Data        ${config.storePathRootDir}
  Metrics     ${broker.metricsPort === undefined ? "off" : `http://127.0.0.1:${broker.metricsPort}/metrics (broker), http://127.0.0.1:${namesrv.metricsPort}/metrics (NameServer)`}
  ${devConsole.line}

Quick start (topics are created on first use in the dev cluster):
  import { Producer, PushConsumer, ConsumeResult } from "@tidemq/client";
  const producer = new Producer({ endpoints: "${namesrvAddr}" });
  await producer.startup();
  await producer.send({ topic: "OrderPaid", tag: "paid", keys: ["order-1"], body: Buffer.from("hello") });

Press Ctrl-C to stop.`);

  // The NameServer stops even when the broker's stop fails.
  stopOnSignal("tidemq dev", () =>
    devConsole
      .stop()
      .then(() => broker.shutdown())
      .catch((err: Error) => createLogger("tidemq dev").error(`broker stop failed: ${err.message}`))
      .then(() => namesrv.stop()),
  );
}
