import {
  type BrokerConfig,
  BrokerController,
  loadBrokerConfig,
  parseDLedgerPeers,
  ResettingBroker,
} from "@tidemq/broker";
import { createLogger } from "@tidemq/remoting";
import { parsePort } from "./port.js";
import { explainPortInUse, type PortOwner } from "./portInUse.js";

const USAGE = `usage: tidemq broker [-c broker.conf] [-n "host:port;host:port"] [-p listenPort]

  -c, --configFile   RocketMQ-style broker.conf (key=value); unknown keys are reported
  -n, --namesrvAddr  NameServer addresses, overriding namesrvAddr (env NAMESRV_ADDR is the fallback)
  -p, --listenPort   port to listen on, overriding listenPort (0 = any free port)
  -h, --help         this text

Stops cleanly (unregisters, flushes) on SIGINT or SIGTERM.`;

interface BrokerArgs {
  configFile?: string;
  namesrvAddr?: string;
  listenPort?: number;
  help: boolean;
}

export function parseBrokerArgs(argv: string[]): BrokerArgs {
  const out: BrokerArgs = { help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`option ${arg} needs a value\n\n${USAGE}`);
      return v;
    };
    switch (arg) {
      case "-c":
      case "--configFile":
        out.configFile = value();
        break;
      case "-n":
      case "--namesrvAddr":
        out.namesrvAddr = value();
        break;
      case "-p":
      case "--listenPort":
        out.listenPort = parsePort("-p", value());
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
  const args = parseBrokerArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const load = () =>
    loadBrokerConfig({ file: args.configFile, namesrvAddr: args.namesrvAddr, listenPort: args.listenPort });
  const { config, warnings } = await load();
  for (const w of warnings) console.error(`tidemq broker: warning: ${w}`);
  // DLedger: a replica left behind its leader's retention moves its store aside and starts
  // again empty in this process (ResettingBroker); each start prints its lines again.
  let starts = 0;
  const runner = new ResettingBroker(
    async () => new BrokerController(starts++ === 0 ? config : (await load()).config),
    (broker) => {
      const ns = config.namesrvAddr || "(none: set namesrvAddr, -n or NAMESRV_ADDR)";
      console.log(`Broker ${config.brokerName} listening on ${broker.brokerAddr}, NameServers ${ns}`);
      if (broker.metricsPort !== undefined) {
        console.log(`Metrics on http://${config.metricsHost}:${broker.metricsPort}/metrics`);
      }
      const dledger = broker.dledgerReplication;
      if (dledger) {
        // One line per role change: `tidemq dev` (and operators) watch these.
        const say = (role: string, term: number) =>
          console.log(
            `DLedger ${config.dLegerSelfId} of ${config.brokerName}: ${role} (term ${term}) at ${broker.brokerAddr}`,
          );
        dledger.roleListeners.add((r) => say(r.role, r.term));
        if (dledger.node.isWritable) say("leader", dledger.node.status().term);
      }
    },
    createLogger(`broker ${config.brokerName}`),
  );
  await runner.start().catch(explainPortInUse(brokerPorts(config, process.env.TIDEMQ_DEV_CHILD === "1")));
  // Started by `tidemq dev`: stop when the parent goes away (its end of stdin closes).
  if (process.env.TIDEMQ_DEV_CHILD === "1") {
    process.stdin.on("end", () => process.kill(process.pid, "SIGTERM"));
    process.stdin.resume();
  }

  stopOnSignal("tidemq broker", () => runner.shutdown());
}

/**
 * The ports a broker listens on and the keys that set them (for a port-in-use line); a replica
 * started by `tidemq dev` (devChild) names the dev options that set them instead.
 */
export function brokerPorts(config: BrokerConfig, devChild = false): PortOwner[] {
  const listen = devChild ? "--broker-port of tidemq dev" : "listenPort";
  const owners: PortOwner[] = [{ key: "listenPort", port: config.listenPort, fix: listen }];
  // The VIP port Java clients use (listenPort - 2), opened beside listenPort.
  if (config.listenPort >= 2)
    owners.push({ key: "VIP port (listenPort - 2)", port: config.listenPort - 2, fix: listen });
  if (config.enableDLegerCommitLog) {
    const self = parseDLedgerPeers(config.dLegerPeers).find((p) => p.id === config.dLegerSelfId);
    const fix = devChild ? "--raft-port of tidemq dev" : `dLegerPeers (${config.dLegerSelfId}'s entry)`;
    if (self) owners.push({ key: `Raft port of ${config.dLegerSelfId} (dLegerPeers)`, port: self.port, fix });
  } else if (config.brokerRole !== "SLAVE") {
    const ha =
      config.haListenPort > 0 ? config.haListenPort : config.listenPort > 0 ? config.listenPort + 1 : 0;
    owners.push({
      key: config.haListenPort > 0 ? "haListenPort" : "haListenPort (default listenPort + 1)",
      port: ha,
      fix: "haListenPort",
    });
  }
  if (config.metricsPort > 0)
    owners.push({
      key: "metricsPort",
      port: config.metricsPort,
      fix: devChild ? "--metrics-port of tidemq dev" : undefined,
    });
  return owners;
}

/**
 * On the first SIGINT or SIGTERM: runs `stop`, prints how it went, and exits (0, or 1 when
 * `stop` failed). Further signals while stopping are ignored.
 */
export function stopOnSignal(name: string, stop: () => Promise<void>): void {
  let stopping = false;
  // Through the logger, so TIDEMQ_LOG_FORMAT=json keeps every stderr line JSON.
  const log = createLogger(name);
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received, stopping`);
    stop().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        log.error(`stop failed: ${(err as Error).message}`, { error: err });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
}
