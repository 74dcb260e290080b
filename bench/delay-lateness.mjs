#!/usr/bin/env node
// Delay-level delivery lateness: a broker in a child process (fresh temp dir, ASYNC_FLUSH,
// messageDelayLevel "1s"), a raw-protocol producer in this process paced at RATE sends/s with
// DELAY=1, so RATE messages per second fall due one second later. Afterwards every parked
// record (SCHEDULE_TOPIC_XXXX, its DELAY_DUE_MS) is matched by UNIQ_KEY with its delivered
// copy in the real topic: lateness = delivered store time − due time, i.e. what the
// ScheduleMessageService adds (a consumer's long poll adds its own wake-up on top). Prints
// p50/p99/max lateness, early deliveries (must be 0), lost ones (must be 0), the machine.
// "refused" counts sends the broker answered SYSTEM_BUSY (an overloaded machine); "lost"
// compares deliveries with acknowledged sends only. Lateness on a shared, loaded machine is
// mostly the broker waiting for CPU: quote the load average with the figures.
//
// Usage: node bench/delay-lateness.mjs [--rates 1000,10000] [--seconds 5] [--json]
//        (build first: npx tsc -b)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const dist = (pkg) => new URL(`packages/${pkg}/dist/src/index.js`, `file://${REPO}`).href;
const { createRequest, decodeMessages, encodeProperties, PullSysFlag, RequestCode, sendHeaderToV2 } =
  await import(dist("protocol"));
const { RemotingClient } = await import(dist("remoting"));
const FIXTURE = join(REPO, "packages/broker/dist/test/fixtures/brokerProcess.js");

const { values: opt } = parseArgs({
  options: {
    rates: { type: "string", default: "1000,10000" },
    seconds: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
  },
});
const TOPIC = "DelayBench";
const QUEUES = 4;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

function startBroker(dir) {
  const overrides = {
    brokerName: "broker-bench",
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    storePathRootDir: dir,
    messageDelayLevel: "1s",
  };
  // --initial-old-space-size=64: as the tidemq bin runs a broker.
  const child = spawn(process.execPath, ["--initial-old-space-size=64", FIXTURE, JSON.stringify(overrides)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve({ child, addr: `127.0.0.1:${m[1]}` });
    });
    child.once("exit", (code) => reject(new Error(`broker exited ${code}`)));
  });
}

function sendReq(i) {
  const header = {
    producerGroup: "PG_BENCH",
    topic: TOPIC,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: QUEUES,
    queueId: i % QUEUES,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: encodeProperties({ UNIQ_KEY: `U${i}`, DELAY: "1", WAIT: "true" }),
    reconsumeTimes: 0,
    unitMode: false,
  };
  return createRequest(RequestCode.SEND_MESSAGE_V2, sendHeaderToV2(header), Buffer.alloc(100, 120));
}

async function pullQueue(client, addr, topic, queueId, each) {
  let offset = 0;
  for (let round = 0; round < 1_000_000; round++) {
    const res = await client.invoke(
      addr,
      createRequest(RequestCode.PULL_MESSAGE, {
        consumerGroup: "CG_BENCH",
        topic,
        queueId,
        queueOffset: offset,
        maxMsgNums: 512,
        sysFlag: PullSysFlag.SUBSCRIPTION,
        commitOffset: 0,
        suspendTimeoutMillis: 0,
        subscription: "*",
        subVersion: 0,
      }),
    );
    if (res.code !== 0 || !res.body) break;
    for (const m of decodeMessages(res.body)) each(m);
    const next = Number(res.extFields.nextBeginOffset);
    if (!(next > offset)) break;
    offset = next;
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function run(rate, seconds) {
  const dir = mkdtempSync(join(os.tmpdir(), "tidemq-delay-bench-"));
  const { child, addr } = await startBroker(dir);
  const client = new RemotingClient({ requestTimeoutMs: 30_000, logger: silent });
  try {
    const create = createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: TOPIC,
      defaultTopic: "TBW102",
      readQueueNums: QUEUES,
      writeQueueNums: QUEUES,
      perm: 6,
      topicFilterType: "SINGLE_TAG",
      topicSysFlag: 0,
      order: false,
    });
    await client.invoke(addr, create);
    // Paced producer: every 5 ms send what the clock says is owed (at most 4000 in flight).
    const total = rate * seconds;
    let sent = 0;
    let acked = 0;
    let failed = 0;
    let inflight = 0;
    const start = Date.now();
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const owed = Math.min(total, Math.floor(((Date.now() - start) * rate) / 1000));
        while (sent < owed && inflight < 4000) {
          inflight++;
          client.invoke(addr, sendReq(sent++)).then(
            (r) => {
              inflight--;
              if (r.code === 0) acked++;
              else failed++;
            },
            () => {
              inflight--;
              failed++;
            },
          );
        }
        if (sent >= total && inflight === 0) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    const sendSeconds = (Date.now() - start) / 1000;
    // Wait until the last one is due and delivered (1 s delay + slack), then read both sides.
    const deadline = Date.now() + 30_000;
    let delivered = 0;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      delivered = 0;
      for (let q = 0; q < QUEUES; q++) {
        const res = await client.invoke(
          addr,
          createRequest(RequestCode.GET_MAX_OFFSET, { topic: TOPIC, queueId: q }),
        );
        delivered += Number(res.extFields.offset);
      }
      if (delivered >= acked) break;
    }
    const due = new Map();
    await pullQueue(client, addr, "SCHEDULE_TOPIC_XXXX", 0, (m) =>
      due.set(m.properties.UNIQ_KEY, Number(m.properties.DELAY_DUE_MS)),
    );
    const late = [];
    let early = 0;
    let dupes = 0;
    const seen = new Set();
    for (let q = 0; q < QUEUES; q++) {
      await pullQueue(client, addr, TOPIC, q, (m) => {
        const k = m.properties.UNIQ_KEY;
        if (seen.has(k)) {
          dupes++;
          return;
        }
        seen.add(k);
        const d = m.storeTimestamp - due.get(k);
        if (d < 0) early++;
        late.push(d);
      });
    }
    late.sort((a, b) => a - b);
    return {
      rate,
      seconds,
      sendRate: Math.round(acked / sendSeconds),
      acked,
      failed,
      delivered: seen.size,
      lost: acked - seen.size,
      early,
      duplicates: dupes,
      p50: pct(late, 50),
      p99: pct(late, 99),
      max: late[late.length - 1],
    };
  } finally {
    await client.close();
    child.kill("SIGKILL");
    await new Promise((r) =>
      child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

const machine = `${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`;
const results = [];
for (const rate of opt.rates.split(",").map(Number)) results.push(await run(rate, Number(opt.seconds)));
if (opt.json) {
  console.log(JSON.stringify({ machine, results }));
} else {
  console.log(`machine: ${machine}`);
  console.log("due/s   sent/s  refused  delivered  lost  early  dupes  lateness p50 / p99 / max (ms)");
  for (const r of results) {
    console.log(
      `${String(r.rate).padEnd(7)} ${String(r.sendRate).padEnd(7)} ${String(r.failed).padEnd(8)} ${String(r.delivered).padEnd(10)} ${String(r.lost).padEnd(5)} ${String(r.early).padEnd(6)} ${String(r.duplicates).padEnd(6)} ${r.p50} / ${r.p99} / ${r.max}`,
    );
  }
}
