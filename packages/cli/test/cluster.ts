import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { NameServer } from "@tidemq/namesrv";
import { createLogger } from "@tidemq/remoting";

/** A NameServer and a broker in the test process, on ephemeral ports, data in a temp dir. */
export interface TestCluster {
  ns: NameServer;
  nsAddr: string;
  broker: BrokerController;
  cluster: string;
  brokerName: string;
  /** Child processes the test started; `stop` kills those still running by PID. */
  children: Set<ChildProcess>;
  stop(): Promise<void>;
}

export async function startTestCluster(prefix: string): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const logger = createLogger("test", "warn");
  const ns = new NameServer({ port: 0, logger });
  await ns.start();
  const nsAddr = `127.0.0.1:${ns.port}`;
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      namesrvAddr: nsAddr,
      listenPort: 0,
      brokerIP1: "127.0.0.1",
      storePathRootDir: dir,
      mappedFileSizeCommitLog: 16 * 1024 * 1024,
      autoCreateTopicEnable: true,
    },
  });
  const broker = new BrokerController(config, { logger });
  await broker.start();
  const children = new Set<ChildProcess>();
  return {
    ns,
    nsAddr,
    broker,
    cluster: config.brokerClusterName,
    brokerName: config.brokerName,
    children,
    async stop() {
      for (const c of children)
        if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, "SIGKILL");
      await broker.shutdown();
      await ns.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
