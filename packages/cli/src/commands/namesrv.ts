import { DEFAULT_NAMESRV_PORT, NameServer } from "@tidemq/namesrv";
import { explainPortInUse } from "./portInUse.js";

const USAGE = `usage: tidemq namesrv [-p <port>] [--metrics-port <port>]

Starts a NameServer (RocketMQ's mqnamesrv).

options:
  -p, --port <port>   port to listen on (default ${DEFAULT_NAMESRV_PORT}; 0 = any free port)
  --metrics-port <p>  serve Prometheus /metrics on 127.0.0.1:<p> (default off)
  -h, --help          show this help

Stops cleanly on SIGINT (Ctrl-C) or SIGTERM. Log level: TIDEMQ_LOG_LEVEL=debug|info|warn|error|silent.`;

interface Args {
  port: number;
  metricsPort?: number;
  help: boolean;
}

class UsageError extends Error {}

function parsePort(text: string | undefined, flag: string): number {
  if (text === undefined || text === "") throw new UsageError(`${flag} needs a port number`);
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${flag}: "${text}" is not a port number (0..65535)`);
  }
  return Number(text);
}

export function parseArgs(argv: string[]): Args {
  const args: Args = { port: DEFAULT_NAMESRV_PORT, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") args.help = true;
    else if (a === "-p" || a === "--port") args.port = parsePort(argv[++i], a);
    else if (a === "--metrics-port") args.metricsPort = parsePort(argv[++i], a);
    else if (a.startsWith("--port=")) args.port = parsePort(a.slice("--port=".length), "--port");
    else if (/^-p\d+$/.test(a)) args.port = parsePort(a.slice(2), "-p");
    else throw new UsageError(`unknown option "${a}"`);
  }
  return args;
}

function displayHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

export async function run(argv: string[]): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`tidemq namesrv: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }

  const namesrv = new NameServer({ port: args.port, metricsPort: args.metricsPort });
  await namesrv.start().catch(
    explainPortInUse([
      { key: "-p/--port", port: args.port },
      { key: "--metrics-port", port: args.metricsPort ?? 0 },
    ]),
  );
  console.log(`NameServer listening on ${displayHost("::")}:${namesrv.port}`);
  if (namesrv.metricsPort !== undefined)
    console.log(`Metrics on http://127.0.0.1:${namesrv.metricsPort}/metrics`);

  // Resolves once a signal has stopped the server; a second signal while stopping forces exit.
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        console.error(`tidemq namesrv: ${signal} again, exiting without waiting`);
        process.exit(1);
      }
      stopping = true;
      console.log(`NameServer stopping (${signal})`);
      namesrv
        .stop()
        .catch((err: unknown) => {
          console.error(`tidemq namesrv: stop failed: ${(err as Error)?.message ?? String(err)}`);
          process.exitCode = 1;
        })
        .finally(() => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          console.log("NameServer stopped");
          resolve();
        });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
