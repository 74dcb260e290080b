import { resolve } from "node:path";
import { BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { NameServer } from "@tidemq/namesrv";
import { stopOnSignal } from "./broker.js";
import { startDashboard } from "./dashboard.js";

const USAGE = `usage: tidemq dev [--data ./data] [--namesrv-port 9876] [--broker-port 10911] [--sync-flush] [--metrics-port 5557]

Starts a NameServer and a broker (cluster DefaultCluster, broker-a, topic auto-create on)
in this process, with data under --data. Ctrl-C stops both cleanly; the data is kept
for the next start.

  --data DIR          store root (default ./data; the broker uses DIR/broker-a)
  --namesrv-port N    NameServer port (default 9876)
  --broker-port N     broker port (default 10911; the VIP port N-2 is opened too)
  --sync-flush        acknowledge sends only after fdatasync (SYNC_FLUSH); default ASYNC_FLUSH
  --metrics-port N    broker /metrics on 127.0.0.1:N, NameServer's on N+1 (default 5557/5558;
                      any free ports when --broker-port is given without it; -1 = off)
  --dashboard-port N  web console port on 127.0.0.1 (default 8080)
  --no-dashboard      do not start the web console
  -h, --help          this text`;

interface DevArgs {
  data: string;
  namesrvPort: number;
  brokerPort: number;
  syncFlush: boolean;
  /** Broker /metrics port (NameServer: +1); undefined = 5557, or ephemeral with --broker-port. */
  metricsPort: number | undefined;
  dashboardPort: number | undefined;
  help: boolean;
}

function parsePort(flag: string, v: string | undefined): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) {
    throw new Error(`invalid value for ${flag}: "${v ?? ""}" (expected a port 0-65535)`);
  }
  return Number(v);
}

export function parseDevArgs(argv: string[]): DevArgs {
  const out: DevArgs = {
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

export async function run(argv: string[]): Promise<void> {
  const args = parseDevArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const started = Date.now();
  // Known ports for `npm start`; a cluster started on chosen ports (scripts, several side by
  // side) gets free metrics ports instead of colliding on 5557.
  const explicitPorts = argv.includes("--broker-port") || argv.includes("--namesrv-port");
  const metricsBase = args.metricsPort ?? (explicitPorts ? 0 : 5557);
  const namesrv = new NameServer({
    port: args.namesrvPort,
    metricsPort: metricsBase <= 0 ? metricsBase : metricsBase + 1,
  });
  await namesrv.start();
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
  for (const w of warnings) console.error(`tidemq dev: warning: ${w}`);
  const broker = new BrokerController(config);
  try {
    await broker.start();
  } catch (err) {
    await namesrv.stop();
    throw err;
  }
  // The console is a convenience: a busy port is reported, the cluster runs on without it.
  let consoleLine = "Console     off (--no-dashboard)";
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
  if (args.dashboardPort !== undefined) {
    try {
      dashboard = await startDashboard({
        namesrv: namesrvAddr,
        host: "127.0.0.1",
        port: args.dashboardPort,
        audit: resolve(args.data, "dashboard-audit.log"),
        help: false,
      });
      consoleLine = `Console     ${dashboard.url}  (no login: loopback only)`;
    } catch (err) {
      consoleLine = `Console     NOT started: ${(err as Error).message} (use --dashboard-port N or --no-dashboard)`;
      console.error(`tidemq dev: web console not started: ${(err as Error).message}`);
    }
  }
  const ms = Date.now() - started;
  console.log(`TideMQ dev cluster ready in ${ms} ms
  NameServer  ${namesrvAddr}
  Broker      ${broker.brokerAddr}  (cluster ${config.brokerClusterName}, ${config.brokerName}, ${config.flushDiskType})
  Data        ${config.storePathRootDir}
  Metrics     ${broker.metricsPort === undefined ? "off" : `http://127.0.0.1:${broker.metricsPort}/metrics (broker), http://127.0.0.1:${namesrv.metricsPort}/metrics (NameServer)`}
  ${consoleLine}

Quick start (topics are created on first use in the dev cluster):
  import { Producer, PushConsumer, ConsumeResult } from "@tidemq/client";
  const producer = new Producer({ endpoints: "${namesrvAddr}" });
  await producer.startup();
  await producer.send({ topic: "OrderPaid", tag: "paid", keys: ["order-1"], body: Buffer.from("hello") });

Press Ctrl-C to stop.`);

  // The NameServer stops even when the broker's stop fails.
  stopOnSignal("tidemq dev", () =>
    (dashboard ? dashboard.stop().catch(() => undefined) : Promise.resolve())
      .then(() => broker.shutdown())
      .catch((err: Error) => console.error(`tidemq dev: broker stop failed: ${err.message}`))
      .then(() => namesrv.stop()),
  );
}
