#!/usr/bin/env node
// Read/write splitting with a backlog: a NameServer (this process), a master and a slave
// broker (child processes, ASYNC_FLUSH, same brokerName), a backlog of --messages 500-byte
// messages produced first and copied to the slave; then a push consumer (this process, our
// client) drains the backlog from the first offset, once with slaveReadEnable=false (every
// pull on the master) and once with slaveReadEnable=true, alternating, --rounds times.
// accessMessageInMemoryMaxRatio is --ratio (default 0: any backlog counts as "not in
// memory", so the rule shows without a backlog of 40 % of RAM). Prints, per run: consume
// msg/s, CPU seconds of master and slave while draining, messages each served.
//
// Usage: node bench/read-splitting.mjs [--messages 200000] [--rounds 2] [--ratio 0] [--dir DIR]
// (build first: npx tsc -b)
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { dist, quiet } from "./lib/common.mjs";

const { values: opt } = parseArgs({
  args: process.argv[2]?.startsWith("role=") ? process.argv.slice(3) : process.argv.slice(2),
  options: {
    messages: { type: "string", default: "200000" },
    rounds: { type: "string", default: "2" },
    ratio: { type: "string", default: "0" },
    dir: { type: "string" },
    config: { type: "string" },
  },
});
const role = process.argv[2]?.startsWith("role=") ? process.argv[2].slice(5) : "main";

if (role === "broker") await runBroker();
else await runMain();

async function runBroker() {
  const { BrokerController, loadBrokerConfig } = await import(dist("broker"));
  const { createLogger } = await import(dist("remoting"));
  const { config } = await loadBrokerConfig({ env: {}, overrides: JSON.parse(opt.config) });
  const broker = new BrokerController(config, { logger: createLogger(`bench-${config.brokerId}`, "warn") });
  await broker.start();
  process.send({ ready: true, addr: broker.brokerAddr });
  process.on("message", async (m) => {
    if (m.stop) {
      await broker.shutdown().catch(() => undefined);
      process.exit(0);
    }
  });
}

function startBroker(overrides) {
  const c = fork(fileURLToPath(import.meta.url), ["role=broker", "--config", JSON.stringify(overrides)], {
    execArgv: ["--initial-old-space-size=64"], // as the tidemq bin runs a broker
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    c.once("message", (m) => resolve({ child: c, addr: m.addr }));
    c.once("exit", (code) => reject(new Error(`broker exited ${code}`)));
  });
}

async function stopBroker(b) {
  const gone = new Promise((r) => b.child.once("exit", r));
  b.child.send({ stop: true });
  await gone;
}

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function runMain() {
  const { NameServer } = await import(dist("namesrv"));
  const { Admin, Producer, PushConsumer, ConsumeResult } = await import(dist("client"));
  const { RemotingClient } = await import(dist("remoting"));
  const { createRequest, RequestCode } = await import(dist("protocol"));
  const N = Number(opt.messages);
  const data = mkdtempSync(join(opt.dir ?? os.tmpdir(), "tidemq-split-bench-"));
  const ns = new NameServer({ port: 0, host: "127.0.0.1", logger: quiet });
  await ns.start();
  const nsAddr = `127.0.0.1:${ns.port}`;
  const raw = new RemotingClient({ logger: quiet });
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? "?"} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}; load ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  const getTotal = async (addr) => {
    const r = await raw.invoke(addr, createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 5000);
    return Number(JSON.parse(r.body.toString()).table.msgGetTotalTodayNow);
  };
  const base = (id, role, split) => ({
    brokerName: "split-bench",
    brokerId: id,
    brokerRole: role,
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    namesrvAddr: nsAddr,
    storePathRootDir: join(data, `b${id}`),
    slaveReadEnable: split,
    accessMessageInMemoryMaxRatio: Number(opt.ratio),
    haSendHeartbeatInterval: 1000,
  });
  try {
    for (let round = 1; round <= Number(opt.rounds); round++) {
      for (const split of [false, true]) {
        // Fresh brokers per run (the config is read at start); the stores carry over.
        const master = await startBroker(base(0, "ASYNC_MASTER", split));
        const slave = await startBroker(base(1, "SLAVE", split));
        const topic = "SplitBench";
        if (round === 1 && !split) {
          const admin = new Admin({ endpoints: nsAddr, logger: quiet });
          await admin.createTopic({ topic, brokerAddr: master.addr, readQueueNums: 4, writeQueueNums: 4 });
          await admin.shutdown();
          const p = new Producer({ endpoints: nsAddr, logger: quiet });
          await p.startup();
          const body = Buffer.alloc(500, 120);
          const t0 = Date.now();
          for (let i = 0; i < N; i += 256) {
            await Promise.all(Array.from({ length: Math.min(256, N - i) }, () => p.send({ topic, body })));
          }
          console.log(`backlog: ${N} messages produced in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          await p.shutdown();
        }
        // Wait until the slave holds the backlog.
        for (let i = 0; i < 6000; i++) {
          const res = await raw.invoke(
            slave.addr,
            createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}),
            5000,
          );
          const m = await raw.invoke(
            master.addr,
            createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}),
            5000,
          );
          const s = JSON.parse(res.body.toString()).table.commitLogMaxOffset;
          const mm = JSON.parse(m.body.toString()).table.commitLogMaxOffset;
          if (s === mm) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const before = {
          mCpu: cpuSeconds(master.child.pid),
          sCpu: cpuSeconds(slave.child.pid),
          mGot: await getTotal(master.addr),
          sGot: await getTotal(slave.addr),
        };
        let got = 0;
        let done;
        const finished = new Promise((r) => {
          done = r;
        });
        const c = new PushConsumer({
          endpoints: nsAddr,
          consumerGroup: `split_${round}_${split}`,
          subscriptions: new Map([[topic, "*"]]),
          consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
          messageListener: {
            consume() {
              if (++got === N) done();
              return ConsumeResult.SUCCESS;
            },
          },
          logger: { ...quiet, warn() {} },
        });
        const t0 = performance.now();
        await c.startup();
        await finished;
        const secs = (performance.now() - t0) / 1000;
        const after = {
          mCpu: cpuSeconds(master.child.pid),
          sCpu: cpuSeconds(slave.child.pid),
          mGot: await getTotal(master.addr),
          sGot: await getTotal(slave.addr),
        };
        await c.shutdown();
        console.log(
          `round ${round} slaveReadEnable=${split}: consume ${Math.round(N / secs)} msg/s (${N} in ${secs.toFixed(1)} s), ` +
            `master CPU ${(after.mCpu - before.mCpu).toFixed(2)} s / ${after.mGot - before.mGot} msgs served, ` +
            `slave CPU ${(after.sCpu - before.sCpu).toFixed(2)} s / ${after.sGot - before.sGot} msgs served`,
        );
        await stopBroker(slave);
        await stopBroker(master);
      }
    }
  } finally {
    await raw.close();
    await ns.stop();
    rmSync(data, { recursive: true, force: true });
  }
}
