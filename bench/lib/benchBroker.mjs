// A NameServer + broker of this repository's build in a child process, on a data directory the
// caller owns (tx-throughput.mjs, tx-producer-cpu.mjs): started, asked for its CPU time, stopped
// with SIGTERM (a clean stop) and started again on the same data; SIGKILLed when this process exits.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { dist } from "./common.mjs";

/**
 * `flush`: flushDiskType; `nodeOpts`: extra node flags (e.g. --cpu-prof). start() resolves with
 * [nsAddr, brokerAddr, start-up ms, halves in the log]; cpuUs() with the child's CPU time, µs.
 */
export function benchBroker({ dir, flush = "ASYNC_FLUSH", nodeOpts = [] }) {
  const script = `
  const { NameServer } = await import(${JSON.stringify(dist("namesrv"))});
  const { BrokerController, loadBrokerConfig } = await import(${JSON.stringify(dist("broker"))});
  const { createLogger } = await import(${JSON.stringify(dist("remoting"))});
  const ns = new NameServer({ port: 0, host: "127.0.0.1", logger: createLogger("ns", "error") });
  await ns.start();
  const { config } = await loadBrokerConfig({ env: {}, overrides: {
    brokerName: "bench", brokerIP1: "127.0.0.1", listenPort: 0, namesrvAddr: "127.0.0.1:" + ns.port,
    storePathRootDir: ${JSON.stringify(dir)}, storePathCommitLog: ${JSON.stringify(join(dir, "commitlog"))},
    flushDiskType: ${JSON.stringify(flush)} } });
  const b = new BrokerController(config, { logger: createLogger("b", "error") });
  const t0 = performance.now();
  await b.start();
  const startMs = (performance.now() - t0).toFixed(0);
  const halves = b.context.store.getMaxOffsetInQueue("RMQ_SYS_TRANS_HALF_TOPIC", 0);
  process.on("message", () => { const u = process.cpuUsage(); process.send({ cpuUs: u.user + u.system }); });
  process.on("SIGTERM", () => { b.shutdown().then(() => ns.stop()).finally(() => process.exit(0)); });
  process.stdout.write("READY 127.0.0.1:" + ns.port + " " + b.brokerAddr + " " + startMs + " " + halves + "\\n");
`;
  let child;
  // The broker dies with this process, whatever happens here.
  process.on("exit", () => child?.kill("SIGKILL"));
  return {
    start() {
      child = spawn(
        process.execPath,
        ["--initial-old-space-size=64", ...nodeOpts, "--input-type=module", "-e", script],
        { stdio: ["ignore", "pipe", "inherit", "ipc"] },
      );
      const c = child;
      return new Promise((resolve, reject) => {
        let out = "";
        c.stdout.on("data", (d) => {
          out += d;
          const m = /READY (\S+) (\S+) (\d+) (\d+)/.exec(out);
          if (m) resolve([m[1], m[2], Number(m[3]), Number(m[4])]);
        });
        c.once("exit", (code) => reject(new Error(`broker exited with ${code}`)));
      });
    },
    cpuUs() {
      const c = child;
      return new Promise((resolve) => {
        c.once("message", (m) => resolve(m.cpuUs));
        c.send("cpu");
      });
    },
    async stop() {
      const c = child;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await exited;
    },
  };
}
