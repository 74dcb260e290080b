#!/usr/bin/env node
// End-to-end throughput of one broker: a NameServer + broker in a child process (fresh temp
// dir), a producer process with a window of in-flight sends, and a consumer process (push
// consumer, long polling). Prints produce msg/s, consume msg/s, end-to-end p50/p99 (from a
// process.hrtime timestamp in the body: CLOCK_MONOTONIC, shared by processes of one machine),
// the broker's peak RSS and the machine.
//
// Usage: node bench/broker-send.mjs [options]       (build first: npx tsc -b packages/cli)
//   --sync            broker SYNC_FLUSH (SEND_OK after fdatasync); default ASYNC_FLUSH
//   --window N        sends in flight (default 128)
//   --batch N         sendBatch of N messages per request (default 1 = send())
//   --size N          body bytes (default 500)
//   --seconds N       measured seconds (default 5, after 1 s of warm-up)
//   --rate N          pace the producer at N msg/s overall (default 0 = as fast as the window allows)
//   --queues N        queues of the topic (default 1, like the peers harness)
//   --pull-batch N    consumer pullBatchSize (default 32, like the peers harness)
//   --raw             producer writes SEND_MESSAGE_V2 frames with @tidemq/remoting (no client logic)
//   --binary          with --raw: ROCKETMQ binary headers instead of JSON
//   --no-consumer     produce only
//   --prof DIR        node --cpu-prof for the broker (.cpuprofile files in DIR)
//   --prof-clients    also profile producer and consumer (same DIR)
//   --dir DIR         parent of the temp data dir (default os.tmpdir(); /dev/shm takes the disk out)
//   --diag            also print the broker's event-loop lateness (p50/p99/max, sampled by a 1 ms
//                     timer), GC counts (scavenge / mark-compact) and pauses of broker and consumer,
//                     and each process's run-queue wait (ms per s spent runnable but off-CPU)
//   --dedup           broker duplicateDetectionEnable=true (A/B of producer de-duplication)
//   --no-dedup        broker duplicateDetectionEnable=false
//   --dedup-entries N broker duplicateWindowMaxEntries=N (the window's memory bound)
//   --no-auto-batch   the producer with autoBatch=false: one request per message
//   --json            one JSON line instead of text
// Env: BROKER_NODE_OPTS / CLIENT_NODE_OPTS = extra node flags for the broker / the clients (e.g.
// "--trace-gc", "--initial-old-space-size=64"): V8 GC flags must be given at start-up like this
// (v8.setFlagsFromString("--single-threaded-gc") at run time can crash V8 in a later GC).
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay, PerformanceObserver, constants as perfConstants } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const dist = (pkg) => new URL(`packages/${pkg}/dist/src/index.js`, `file://${REPO}`).href;
const TOPIC = "BrokerBench";
const quiet = {
  debug() {},
  info() {},
  warn(m) {
    console.error(`[warn] ${m}`);
  },
  error(m) {
    console.error(`[error] ${m}`);
  },
};

const { values: opt } = parseArgs({
  args: process.argv[2]?.startsWith("role=") ? process.argv.slice(3) : process.argv.slice(2),
  options: {
    sync: { type: "boolean", default: false },
    window: { type: "string", default: "128" },
    batch: { type: "string", default: "1" },
    size: { type: "string", default: "500" },
    seconds: { type: "string", default: "5" },
    rate: { type: "string", default: "0" },
    queues: { type: "string", default: "1" },
    "pull-batch": { type: "string", default: "32" },
    raw: { type: "boolean", default: false },
    dedup: { type: "boolean", default: false },
    "no-dedup": { type: "boolean", default: false },
    "dedup-entries": { type: "string" },
    "no-auto-batch": { type: "boolean", default: false },
    binary: { type: "boolean", default: false },
    "no-consumer": { type: "boolean", default: false },
    prof: { type: "string" },
    "prof-clients": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    diag: { type: "boolean", default: false },
    ns: { type: "string" },
    broker: { type: "string" },
    data: { type: "string" },
    dir: { type: "string" },
  },
  allowPositionals: true,
});
const role = process.argv[2]?.startsWith("role=") ? process.argv[2].slice(5) : "main";

const send = (m) => process.send?.(m);
const onMessage = (fn) => process.on("message", fn);

if (role === "broker") await runBroker();
else if (role === "producer") await runProducer();
else if (role === "consumer") await runConsumer();
else await runMain();

// ---------------------------------------------------------------------------- broker
async function runBroker() {
  const { BrokerController, loadBrokerConfig } = await import(dist("broker"));
  const { NameServer } = await import(dist("namesrv"));
  const { createLogger } = await import(dist("remoting"));
  const logger = createLogger("bench-broker", "warn");
  const namesrv = new NameServer({ port: 0, logger });
  await namesrv.start();
  const namesrvAddr = `127.0.0.1:${namesrv.port}`;
  const { config } = await loadBrokerConfig({
    namesrvAddr,
    listenPort: 0,
    overrides: {
      brokerIP1: "127.0.0.1",
      storePathRootDir: opt.data,
      autoCreateTopicEnable: true,
      flushDiskType: opt.sync ? "SYNC_FLUSH" : "ASYNC_FLUSH",
      ...(opt.dedup ? { duplicateDetectionEnable: true } : {}),
      ...(opt["no-dedup"] ? { duplicateDetectionEnable: false } : {}),
      ...(opt["dedup-entries"] ? { duplicateWindowMaxEntries: Number(opt["dedup-entries"]) } : {}),
    },
  });
  const broker = new BrokerController(config, { logger });
  await broker.start();
  const diag = opt.diag ? startDiag(true) : undefined;
  send({ ready: true, ns: namesrvAddr, broker: broker.brokerAddr });
  onMessage(async (m) => {
    if (m.diagReset) diag?.reset();
    if (m.diagReport) send({ diag: diag?.report() });
    if (m.stop) {
      await broker.shutdown().catch(() => undefined);
      await namesrv.stop().catch(() => undefined);
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------------------- --diag
/** Event-loop delay (optional) and GC pauses of this process, from the last reset() on. */
function startDiag(loop) {
  const h = loop ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  h?.enable();
  let gc;
  const reset = () => {
    h?.reset();
    gc = { scavenge: 0, markCompact: 0, other: 0, maxPauseMs: 0, totalPauseMs: 0 };
  };
  reset();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = e.detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gc.scavenge++;
      else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.markCompact++;
      else gc.other++;
      gc.maxPauseMs = Math.max(gc.maxPauseMs, e.duration);
      gc.totalPauseMs += e.duration;
    }
  }).observe({ entryTypes: ["gc"] });
  // The histogram holds timer intervals (1 ms + lateness); the report gives the lateness.
  const late = (ns) => +Math.max(0, ns / 1e6 - 1).toFixed(2);
  return {
    reset,
    report: () => ({
      ...(h
        ? {
            loopLateP50ms: late(h.percentile(50)),
            loopLateP99ms: late(h.percentile(99)),
            loopLateMaxMs: late(h.max),
          }
        : {}),
      gc: { ...gc, maxPauseMs: +gc.maxPauseMs.toFixed(2), totalPauseMs: +gc.totalPauseMs.toFixed(1) },
    }),
  };
}

// ---------------------------------------------------------------------------- producer
function makeBody(size) {
  const b = Buffer.alloc(Math.max(8, size), 0x61);
  b.writeBigUInt64BE(process.hrtime.bigint(), 0);
  return b;
}

async function runProducer() {
  const window = Number(opt.window);
  const batch = Number(opt.batch);
  const size = Number(opt.size);
  const seconds = Number(opt.seconds);
  let sendOne;
  let closeFn;
  if (opt.raw) {
    const protocol = await import(dist("protocol"));
    const { RemotingClient } = await import(dist("remoting"));
    const client = new RemotingClient({ logger: quiet, requestTimeoutMs: 30_000 });
    const serializeType = opt.binary ? protocol.SerializeType.ROCKETMQ : protocol.SerializeType.JSON;
    const props = protocol.encodeProperties({ TAGS: "bench", WAIT: "true" });
    const queues = Number(opt.queues);
    let q = 0;
    sendOne = async () => {
      if (batch > 1) {
        const entries = [];
        for (let i = 0; i < batch; i++)
          entries.push({ flag: 0, body: makeBody(size), properties: { TAGS: "bench" } });
        const header = protocol.sendHeaderToV2({
          producerGroup: "bench_p",
          topic: TOPIC,
          defaultTopic: "TBW102",
          defaultTopicQueueNums: 4,
          queueId: q++ % queues,
          sysFlag: 0,
          bornTimestamp: Date.now(),
          flag: 0,
          properties: protocol.encodeProperties({ WAIT: "true" }),
          reconsumeTimes: 0,
          unitMode: false,
          batch: true,
        });
        const res = await client.invoke(
          opt.broker,
          protocol.createRequest(
            protocol.RequestCode.SEND_BATCH_MESSAGE,
            header,
            protocol.encodeBatchBody(entries),
            {
              serializeType,
            },
          ),
        );
        if (res.code !== 0) throw new Error(`send failed: ${res.code} ${res.remark}`);
        return batch;
      }
      const header = protocol.sendHeaderToV2({
        producerGroup: "bench_p",
        topic: TOPIC,
        defaultTopic: "TBW102",
        defaultTopicQueueNums: 4,
        queueId: q++ % queues,
        sysFlag: 0,
        bornTimestamp: Date.now(),
        flag: 0,
        properties: props,
        reconsumeTimes: 0,
        unitMode: false,
        batch: false,
      });
      const res = await client.invoke(
        opt.broker,
        protocol.createRequest(protocol.RequestCode.SEND_MESSAGE_V2, header, makeBody(size), {
          serializeType,
        }),
      );
      if (res.code !== 0) throw new Error(`send failed: ${res.code} ${res.remark}`);
      return 1;
    };
    closeFn = () => client.close();
  } else {
    const { Producer } = await import(dist("client"));
    const producer = new Producer({
      endpoints: opt.ns,
      producerGroup: "bench_p",
      topics: [TOPIC],
      sendMsgTimeout: 30_000,
      logger: quiet,
      // --no-auto-batch: one request per message (what a producer without auto-batching sends).
      ...(opt["no-auto-batch"] ? { autoBatch: false } : {}),
    });
    await producer.startup();
    sendOne = async () => {
      if (batch > 1) {
        const msgs = [];
        for (let i = 0; i < batch; i++) msgs.push({ topic: TOPIC, tag: "bench", body: makeBody(size) });
        const r = await producer.sendBatch(msgs);
        if (r.sendStatus !== "SEND_OK") throw new Error(`sendStatus ${r.sendStatus}`);
        return batch;
      }
      const r = await producer.send({ topic: TOPIC, tag: "bench", body: makeBody(size) });
      if (r.sendStatus !== "SEND_OK") throw new Error(`sendStatus ${r.sendStatus}`);
      return 1;
    };
    closeFn = () => producer.shutdown();
  }
  const warmEnd = performance.now() + 1000;
  const end = warmEnd + seconds * 1000;
  let counted = 0;
  let failures = 0;
  let lastError = "";
  let measuredStart = 0n;
  const rts = [];
  // --rate: one shared schedule of send slots, interval apart; a lane sleeps until its slot.
  const interval = Number(opt.rate) > 0 ? (1000 * batch) / Number(opt.rate) : 0;
  let nextSlot = performance.now();
  async function lane() {
    while (performance.now() < end) {
      if (interval > 0) {
        const slot = Math.max(nextSlot, performance.now() - 50);
        nextSlot = slot + interval;
        const wait = slot - performance.now();
        if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      }
      const t0 = performance.now();
      try {
        const n = await sendOne();
        if (t0 >= warmEnd) {
          counted += n;
          if (rts.length < 2_000_000) rts.push(performance.now() - t0);
        }
      } catch (err) {
        failures++;
        lastError = err.message;
        if (failures > 1000) throw err;
      }
    }
  }
  const timer = setTimeout(() => {
    measuredStart = process.hrtime.bigint();
  }, 1000);
  await Promise.all(Array.from({ length: window }, lane));
  clearTimeout(timer);
  const elapsed = (performance.now() - warmEnd) / 1000;
  rts.sort((a, b) => a - b);
  const pct = (p) => rts[Math.min(rts.length - 1, Math.floor((rts.length * p) / 100))] ?? 0;
  send({
    done: true,
    produced: counted,
    rate: counted / elapsed,
    rtP50: pct(50),
    rtP99: pct(99),
    failures,
    lastError,
    measuredStart: String(measuredStart),
  });
  await closeFn();
  setTimeout(() => process.exit(0), 200).unref();
}

// ---------------------------------------------------------------------------- consumer
async function runConsumer() {
  const { PushConsumer } = await import(dist("client"));
  let lat = new Float64Array(1 << 20);
  let n = 0;
  let total = 0;
  let first = 0;
  let last = 0;
  let since = 0;
  // The listener runs once per message: times are plain doubles (ns since boot, exact below
  // 2^53 ≈ 104 days), not BigInts, so the bench adds no allocation of its own per message.
  const monoNs = () => {
    const [s, ns] = process.hrtime();
    return s * 1e9 + ns;
  };
  const consumer = new PushConsumer({
    endpoints: opt.ns,
    consumerGroup: "bench_c",
    subscriptions: new Map([[TOPIC, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    pullBatchSize: Number(opt["pull-batch"]),
    maxCacheMessageCount: Math.max(1000, 4 * Number(opt["pull-batch"])),
    consumptionThreadCount: 64,
    logger: quiet,
    messageListener: {
      consume(m) {
        const now = monoNs();
        if (total === 0) first = now;
        last = now;
        total++;
        const body = m.body;
        const born = body.readUInt32BE(0) * 4294967296 + body.readUInt32BE(4);
        if (since !== 0 && born >= since) {
          if (n === lat.length && n < 1 << 25) {
            const bigger = new Float64Array(lat.length * 2);
            bigger.set(lat);
            lat = bigger;
          }
          if (n < lat.length) lat[n++] = (now - born) / 1e6;
        }
        return undefined;
      },
    },
  });
  await consumer.startup();
  const diag = opt.diag ? startDiag(false) : undefined;
  send({ ready: true });
  onMessage(async (m) => {
    if (m.since) since = Number(m.since);
    if (m.diagReset) diag?.reset();
    if (m.poll) send({ total });
    if (m.stop) {
      const l = lat.subarray(0, n).sort();
      const pct = (p) => l[Math.min(l.length - 1, Math.floor((l.length * p) / 100))] ?? 0;
      const max = n > 0 ? l[n - 1] : 0;
      const d = diag?.report();
      send({
        done: true,
        total,
        rate: total / ((last - first) / 1e9),
        p50: pct(50),
        p99: pct(99),
        max,
        n,
        diag: d,
      });
      await consumer.shutdown();
      setTimeout(() => process.exit(0), 200).unref();
    }
  });
}

// ---------------------------------------------------------------------------- main
function child(r, extraArgs, execArgv = []) {
  const c = fork(fileURLToPath(import.meta.url), [`role=${r}`, ...extraArgs], {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiters = [];
  c.on("message", (m) => {
    const i = waiters.findIndex((w) => w.pred(m));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  c.exited = new Promise((resolve) => c.on("exit", resolve));
  c.wait = (pred, ms = 120_000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${r}: no answer within ${ms} ms`)), ms);
      waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
      c.exited.then(() => reject(new Error(`${r} exited`)));
    });
  return c;
}

/** CPU seconds (user + system) a process used so far. */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return process.env.CPU_SPLIT === "user"
      ? Number(f[11]) / 100
      : process.env.CPU_SPLIT === "sys"
        ? Number(f[12]) / 100
        : (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** The main thread's time spent runnable but waiting for a CPU so far, in ms (/proc schedstat). */
function runQueueWaitMs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[1]) / 1e6;
  } catch {
    return 0;
  }
}

function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function runMain() {
  const data = mkdtempSync(join(opt.dir ?? os.tmpdir(), "tidemq-broker-bench-"));
  const prof = (on) => (opt.prof && on ? ["--cpu-prof", `--cpu-prof-dir=${opt.prof}`] : []);
  const pass = process.argv.slice(2);
  const procs = [];
  try {
    // The broker runs with the heap flag `tidemq` starts it with (its shebang): without it V8
    // sizes a few-MiB heap so that it marks several times a second under load, and the figures
    // then measure V8's heuristics (main vs dc859c9 read 30 % apart, the same with the flag).
    // BROKER_NODE_OPTS: extra node flags for the broker (e.g. --perf-basic-prof for `perf record`).
    const brokerOpts = [
      "--initial-old-space-size=64",
      ...(process.env.BROKER_NODE_OPTS ?? "").split(" ").filter(Boolean),
    ];
    const clientOpts = (process.env.CLIENT_NODE_OPTS ?? "").split(" ").filter(Boolean);
    const broker = child("broker", [...pass, "--data", data], [...prof(true), ...brokerOpts]);
    procs.push(broker);
    const ready = await broker.wait((m) => m.ready);
    const addrArgs = ["--ns", ready.ns, "--broker", ready.broker];
    // Create the topic with the wanted number of queues and wait for its route.
    const { Admin } = await import(dist("client"));
    const admin = new Admin({ endpoints: ready.ns, logger: quiet, requestTimeout: 10_000 });
    const q = Number(opt.queues);
    await admin.createTopic({ topic: TOPIC, brokerAddr: ready.broker, readQueueNums: q, writeQueueNums: q });
    for (let i = 0; i < 200; i++) {
      const route = await admin.api.getRouteInfo(ready.ns, TOPIC).catch(() => undefined);
      if (route?.queueDatas?.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await admin.shutdown?.();
    let consumer;
    if (!opt["no-consumer"]) {
      // CLIENT_NODE_OPTS: extra node flags for producer and consumer.
      consumer = child("consumer", [...pass, ...addrArgs], [...prof(opt["prof-clients"]), ...clientOpts]);
      procs.push(consumer);
      await consumer.wait((m) => m.ready);
    }
    let peakRss = 0;
    const rssTimer = setInterval(() => {
      peakRss = Math.max(peakRss, rssMiB(broker.pid));
    }, 100);
    const producer = child("producer", [...pass, ...addrArgs], [...prof(opt["prof-clients"]), ...clientOpts]);
    procs.push(producer);
    // The measured window starts after the producer's 1 s warm-up.
    const sinceNs = process.hrtime.bigint() + 1_000_000_000n;
    consumer?.send({ since: String(sinceNs) });
    // CPU used by each process over the measured window (after the warm-up second).
    const cpu0 = {};
    const cpuTimer = setTimeout(() => {
      for (const [k, c] of Object.entries({ broker, producer, consumer })) if (c) cpu0[k] = cpuSeconds(c.pid);
      cpu0.at = performance.now();
      if (opt.diag) for (const c of [broker, consumer]) c?.send({ diagReset: true });
      for (const [k, c] of Object.entries({ broker, producer, consumer }))
        if (c) cpu0[`${k}Wait`] = runQueueWaitMs(c.pid);
    }, 1000);
    const p = await producer.wait((m) => m.done, (Number(opt.seconds) + 60) * 1000);
    clearTimeout(cpuTimer);
    const cpuPct = {};
    const span = (performance.now() - cpu0.at) / 1000;
    // Run-queue wait of each main thread, ms per second of the window: CPU contention, not our code.
    const runQueueWait = {};
    for (const [k, c] of Object.entries({ broker, producer, consumer }))
      if (c && cpu0[`${k}Wait`] !== undefined)
        runQueueWait[k] = +((runQueueWaitMs(c.pid) - cpu0[`${k}Wait`]) / span).toFixed(1);
    for (const [k, c] of Object.entries({ broker, producer, consumer }))
      if (c && cpu0[k] !== undefined) cpuPct[k] = Math.round((100 * (cpuSeconds(c.pid) - cpu0[k])) / span);
    let c;
    if (consumer) {
      // Wait for the consumer to catch up (bounded).
      const expected = p.produced;
      const deadline = Date.now() + 30_000;
      let lastTotal = -1;
      let stalls = 0;
      while (Date.now() < deadline) {
        consumer.send({ poll: true });
        const { total } = await consumer.wait((m) => m.total !== undefined && !m.done);
        if (total >= expected) break;
        stalls = total === lastTotal ? stalls + 1 : 0;
        if (stalls > 20) break;
        lastTotal = total;
        await new Promise((r) => setTimeout(r, 100));
      }
      consumer.send({ stop: true });
      c = await consumer.wait((m) => m.done);
      // Let it exit on its own while the broker is still up (a --cpu-prof profile is written at exit).
      await Promise.race([consumer.exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    clearInterval(rssTimer);
    peakRss = Math.max(peakRss, rssMiB(broker.pid));
    let brokerDiag;
    if (opt.diag) {
      broker.send({ diagReport: true });
      brokerDiag = (await broker.wait((m) => m.diag !== undefined)).diag;
    }
    const cpus = os.cpus();
    const result = {
      machine: `${cpus[0]?.model ?? "?"}, ${cpus.length} cores, node ${process.version}`,
      mode: opt.sync ? "SYNC_FLUSH" : "ASYNC_FLUSH",
      producer: opt.raw
        ? `raw ${opt.binary ? "ROCKETMQ" : "JSON"}`
        : opt["no-auto-batch"]
          ? "@tidemq/client autoBatch=false"
          : "@tidemq/client",
      window: Number(opt.window),
      batch: Number(opt.batch),
      size: Number(opt.size),
      produceRate: Math.round(p.rate),
      sendRtP50ms: +p.rtP50.toFixed(3),
      sendRtP99ms: +p.rtP99.toFixed(3),
      failures: p.failures,
      consumeRate: c ? Math.round(c.rate) : undefined,
      e2eP50ms: c ? +c.p50.toFixed(3) : undefined,
      e2eP99ms: c ? +c.p99.toFixed(3) : undefined,
      e2eMaxMs: c ? +c.max.toFixed(3) : undefined,
      consumed: c?.total,
      brokerPeakRssMiB: Math.round(peakRss),
      cpuPercent: cpuPct,
      // CPU µs each process spent per message produced: comparable between runs on a busy machine.
      cpuUsPerMsg: Object.fromEntries(
        Object.entries(cpuPct).map(([k, v]) => [k, +((v * 1e4) / Math.max(1, p.rate)).toFixed(1)]),
      ),
      ...(opt.diag
        ? { diag: { broker: brokerDiag, consumer: c?.diag, runQueueWaitMsPerS: runQueueWait } }
        : {}),
    };
    if (opt.json) console.log(JSON.stringify(result));
    else {
      console.log(`machine: ${result.machine}`);
      console.log(
        `${result.mode} ${result.producer} window ${result.window} batch ${result.batch} size ${result.size}: ` +
          `produce ${result.produceRate} msg/s (send rt p50 ${result.sendRtP50ms} ms, p99 ${result.sendRtP99ms} ms, failures ${result.failures}${p.lastError ? `: ${p.lastError}` : ""})` +
          (c
            ? `, consume ${result.consumeRate} msg/s (${c.total} consumed), e2e p50 ${result.e2eP50ms} ms p99 ${result.e2eP99ms} ms max ${result.e2eMaxMs} ms`
            : "") +
          `, broker peak RSS ${result.brokerPeakRssMiB} MiB, CPU% ${JSON.stringify(cpuPct)}, CPU µs/msg ${JSON.stringify(result.cpuUsPerMsg)}`,
      );
      if (result.diag) console.log(`diag: ${JSON.stringify(result.diag)}`);
    }
    broker.send({ stop: true });
    await Promise.race([broker.exited, new Promise((r) => setTimeout(r, 10_000))]);
  } finally {
    for (const c of procs) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(data, { recursive: true, force: true });
  }
}
