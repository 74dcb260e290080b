#!/usr/bin/env node
// A NameServer and a broker in one child process of a timer bench, on a given store directory
// (the broker's storePathRootDir), with the heap flag tidemq's bin starts brokers with. The
// bench asks it over IPC: {status: true} → {status: broker.timers.status(), heapUsed,
// external, rss}; {stop: true} → a clean shutdown and exit.
//
// Run by startTimerBroker(); by hand: node bench/lib/timerBroker.mjs --data DIR
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { dist, quiet } from "./common.mjs";

const SELF = fileURLToPath(import.meta.url);

/**
 * Forks the broker on `dir` and waits until it serves. Resolves to {child, ns, broker,
 * startMs}; child.next(pred) resolves to the child's next IPC message that pred accepts.
 */
export function startTimerBroker(dir, nodeArgs = []) {
  const t = Date.now();
  const child = fork(SELF, ["--data", dir], {
    execArgv: ["--initial-old-space-size=64", ...nodeArgs],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  child.next = (pred) =>
    new Promise((resolve) => {
      const on = (m) => {
        if (!pred(m)) return;
        child.off("message", on);
        resolve(m);
      };
      child.on("message", on);
    });
  return new Promise((resolve, reject) => {
    const exited = (code, signal) =>
      reject(new Error(`the broker exited before it served (${signal ?? code})`));
    child.once("exit", exited);
    child
      .next((m) => m.ready)
      .then((m) => {
        child.off("exit", exited);
        resolve({ child, ns: m.ns, broker: m.broker, startMs: Date.now() - t });
      });
  });
}

/** Asks the broker to shut down cleanly and waits for its process to end. */
export async function stopTimerBroker(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.send({ stop: true });
  await gone;
}

async function runChild() {
  const { values: opt } = parseArgs({ options: { data: { type: "string" } } });
  const { BrokerController, loadBrokerConfig } = await import(dist("broker"));
  const { NameServer } = await import(dist("namesrv"));
  const namesrv = new NameServer({ port: 0, logger: quiet });
  await namesrv.start();
  const namesrvAddr = `127.0.0.1:${namesrv.port}`;
  const { config } = await loadBrokerConfig({
    namesrvAddr,
    listenPort: 0,
    overrides: { brokerIP1: "127.0.0.1", storePathRootDir: opt.data, autoCreateTopicEnable: true },
  });
  const broker = new BrokerController(config, { logger: quiet });
  await broker.start();
  process.send({ ready: true, ns: namesrvAddr, broker: broker.brokerAddr });
  process.on("message", async (m) => {
    if (m.status) {
      const mu = process.memoryUsage();
      process.send({
        status: broker.timers.status(),
        heapUsed: mu.heapUsed,
        external: mu.external,
        rss: mu.rss,
      });
    }
    if (m.stop) {
      await broker.shutdown().catch(() => undefined);
      await namesrv.stop().catch(() => undefined);
      process.exit(0);
    }
  });
}

if (process.argv[1] === SELF) await runChild();
