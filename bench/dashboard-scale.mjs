#!/usr/bin/env node
// The web console at scale (issue 13: "with 1,000 topics and 2,000 groups every page
// answers in < 1 s"). Starts a dev cluster in a child process (`tidemq dev`, data in a temp
// dir), creates --topics topics (one message each) and --groups consumer groups (each with
// a committed offset on one topic, so its lag is computed), then starts the console in this
// process and times every page's API calls: the first call (cold caches) and the median /
// max of --rounds later calls. Prints a table, the machine, and one JSON line.
// --dlq-groups of the groups get one dead letter each, and one topic gets 2 delayed messages
// (the Dead letters and Scheduled pages).
// --browser: then also the full render time of every page in headless Chromium (in-app
// navigation and a cold tab; see bench/dashboardRenderTimes.mjs), --browser-rounds times each.
// Usage: node bench/dashboard-scale.mjs [--topics 1000] [--groups 2000] [--dlq-groups 200] [--rounds 5]
//        [--browser] [--browser-rounds 3] [--compare DIR]
// --compare DIR: also start the console built in DIR (a copy of packages/dashboard's dist/ and
// public/ from another commit, e.g. the base) over the same cluster, and time the browser pages
// on both, alternating, so a change is measured against its base under the same load.
// Build first: npx tsc -b
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    topics: { type: "string", default: "1000" },
    groups: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    "dlq-groups": { type: "string", default: "200" },
    browser: { type: "boolean", default: false },
    "browser-rounds": { type: "string", default: "3" },
    compare: { type: "string" },
  },
});
const TOPICS = Number(opt.topics);
const GROUPS = Number(opt.groups);
const ROUNDS = Number(opt.rounds);
const DLQ_GROUPS = Math.min(Number(opt["dlq-groups"]), Number(opt.groups));
const root = new URL("..", import.meta.url).pathname;
const { Admin, Producer } = await import("../packages/client/dist/src/index.js");
const { DashboardServer } = await import("../packages/dashboard/dist/src/index.js");
const { createLogger } = await import("../packages/remoting/dist/src/index.js");
const { decodeOffsetMsgId } = await import("../packages/protocol/dist/src/index.js");

const dir = mkdtempSync(join(tmpdir(), "tidemq-dash-scale-"));
const child = spawn(
  process.execPath,
  [
    "--initial-old-space-size=64", // the bin's shebang flag (skipped when run through node)
    join(root, "packages/cli/bin/tidemq.js"),
    "dev",
    "--replicas",
    "1",
    "--data",
    dir,
    "--namesrv-port",
    "0",
    "--broker-port",
    "0",
    "--no-dashboard",
  ],
  { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn" } },
);
const stop = () => {
  if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
};
process.on("exit", stop);
const nsAddr = await new Promise((resolve, reject) => {
  let out = "";
  const timer = setTimeout(() => reject(new Error(`dev cluster not ready in 30 s:\n${out}`)), 30_000);
  child.stdout.on("data", (c) => {
    out += c;
    const m = /NameServer\s+(\S+)/.exec(out);
    if (m && out.includes("Press Ctrl-C")) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  child.once("exit", (code) => reject(new Error(`tidemq dev exited (${code}):\n${out}`)));
});

const logger = createLogger("bench", "warn");
// Setup creates thousands of things on a machine that may be busy: a long timeout per request.
const admin = new Admin({ endpoints: nsAddr, logger, requestTimeout: 15_000 });
const [brokerAddr] = await admin.getClusterMasters("DefaultCluster");
const t0 = Date.now();
async function pool(n, width, f) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await f(next++);
    }),
  );
}
const topic = (i) => `ScaleTopic_${String(i).padStart(4, "0")}`;
const group = (i) => `ScaleGroup_${String(i).padStart(4, "0")}`;
await pool(TOPICS, 16, (i) =>
  admin.createTopic({ topic: topic(i), brokerAddr, readQueueNums: 4, writeQueueNums: 4 }),
);
const producer = new Producer({
  endpoints: nsAddr,
  producerGroup: "ScaleProducers",
  logger,
  heartbeatBrokerInterval: 1000,
});
await producer.startup();
await pool(TOPICS, 16, (i) =>
  producer.send({ topic: topic(i), keys: [`key-${i}`], body: `message of ${topic(i)}` }),
);
await pool(GROUPS, 16, async (i) => {
  await admin.updateSubscriptionGroup(brokerAddr, {
    groupName: group(i),
    consumeEnable: true,
    consumeFromMinEnable: true,
    consumeBroadcastEnable: true,
    retryQueueNums: 1,
    retryMaxTimes: 16,
    brokerId: 0,
    whichBrokerWhenConsumeSlowly: 1,
    notifyConsumerIdsChangedEnable: true,
  });
  await admin.updateConsumerOffset(
    brokerAddr,
    group(i),
    { topic: topic(i % TOPICS), brokerName: "broker-a", queueId: 0 },
    0,
  );
});
// Dead letters: what a consumer that gives up does (send back with delay level -1).
await pool(DLQ_GROUPS, 16, async (i) => {
  const r = await producer.send({
    topic: topic(i % TOPICS),
    keys: [`dead-${i}`],
    body: `dead letter of ${group(i)}`,
  });
  await admin.api.consumerSendMessageBack(brokerAddr, {
    offset: decodeOffsetMsgId(r.offsetMessageId).commitLogOffset,
    group: group(i),
    delayLevel: -1,
    originMsgId: r.messageId,
    originTopic: topic(i % TOPICS),
    maxReconsumeTimes: 16,
  });
});
for (let i = 0; i < 2; i++) await producer.send({ topic: topic(3), body: `in 2h ${i}`, delayLevel: 18 });
const setupMs = Date.now() - t0;

const server = new DashboardServer({ namesrv: nsAddr, port: 0, auditFile: join(dir, "audit.log"), logger });
const started = performance.now();
await server.start();

let cookie = "";
async function get(path) {
  const s = performance.now();
  const res = await fetch(new URL(path, server.url), { headers: cookie ? { cookie } : {} });
  const body = await res.text();
  const ms = performance.now() - s;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${body}`);
  const sc = res.headers.get("set-cookie");
  if (sc) cookie = sc.split(";")[0];
  return { ms, json: JSON.parse(body) };
}
await get("/api/session");
// How long after start the console has the lag of every group (computed in the background;
// until then the Consumers page answers at once, saying the lag is pending).
let lagReadyMs = -1;
for (let i = 0; i < 600; i++) {
  const r = await get("/api/consumers?size=1");
  if (!r.json.lagPending) {
    lagReadyMs = performance.now() - started;
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
await new Promise((r) => setTimeout(r, 5500)); // let those caches expire: the first calls below are cold
const sent = await producer.send({ topic: topic(7), keys: ["find-me"], body: '{"scale":true}' });
const calls = [
  ["Cluster", "/api/cluster"],
  ["Dashboard", "/api/dashboard/tps"],
  ["Topics: list", "/api/topics?page=0&size=100"],
  ["Topics: search", "/api/topics?search=Topic_09&type=normal"],
  ["Topics: detail", `/api/topics/detail?topic=${topic(7)}`],
  ["Consumers: list by lag", "/api/consumers?sort=lag"],
  ["Consumers: detail", `/api/consumers/detail?group=${group(7)}`],
  ["Producers", `/api/producers?topic=${topic(7)}&group=ScaleProducers`],
  ["Messages: by time", `/api/messages/byTime?topic=${topic(7)}&begin=0&end=${Date.now() + 60_000}`],
  ["Messages: by key", `/api/messages/byKey?topic=${topic(7)}&key=find-me`],
  ["Messages: by id", `/api/messages/byId?topic=${topic(7)}&id=${sent.messageId}`],
  ["Messages: detail", `/api/messages/detail?offsetMsgId=${sent.offsetMessageId}`],
  ...(DLQ_GROUPS > 0
    ? [
        ["Dead letters: list", "/api/deadLetters?page=0&size=50"],
        ["Dead letters: group", `/api/deadLetters/messages?group=${group(7 % DLQ_GROUPS)}`],
        ["Dead letters: export", `/api/deadLetters/export?group=${group(7 % DLQ_GROUPS)}&format=json`],
      ]
    : []),
  ["Scheduled", "/api/scheduled"],
];
const rows = [];
for (const [name, path] of calls) {
  const first = await get(path);
  const times = [];
  for (let r = 0; r < ROUNDS; r++) times.push((await get(path)).ms);
  times.sort((a, b) => a - b);
  const j = first.json;
  const shown =
    (j.lagPending ? "lag pending; " : "") +
    (j.items
      ? `${j.items.length} of ${j.total}${j.cut ? " (cut, said)" : ""}`
      : j.brokers
        ? `${j.brokers.length} brokers`
        : j.exported !== undefined
          ? `${j.exported} of ${j.count} exported`
          : "");
  rows.push({
    name,
    firstMs: first.ms,
    medianMs: times[Math.floor(times.length / 2)],
    maxMs: times.at(-1),
    shown,
  });
}
// After the caches' fresh time (5 s): answered from the stale value while one refresh runs.
await new Promise((r) => setTimeout(r, 5500));
const stale = await get("/api/consumers?sort=lag");
const consumersCold = rows.find((r) => r.name.startsWith("Consumers: list"));

const pad = (s, n) => String(s).padEnd(n);
const num = (x) => x.toFixed(1).padStart(9);
console.log(
  `\nTideMQ console at ${TOPICS} topics / ${GROUPS} groups (setup ${(setupMs / 1000).toFixed(1)} s)`,
);
console.log(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}; cluster in a child process, console in this one\n`,
);
console.log(
  `${pad("page API", 24)} ${"first ms".padStart(9)} ${"median ms".padStart(9)} ${"max ms".padStart(9)}  answer`,
);
for (const r of rows)
  console.log(`${pad(r.name, 24)} ${num(r.firstMs)} ${num(r.medianMs)} ${num(r.maxMs)}  ${r.shown}`);
console.log(
  `lag of all ${GROUPS} groups ready ${lagReadyMs.toFixed(0)} ms after the console started (background)`,
);
console.log(
  `${pad("Consumers after 5.5 s", 24)} ${num(stale.ms)}  (stale-while-revalidate; cold was ${consumersCold.firstMs.toFixed(1)} ms)`,
);
const worst = Math.max(...rows.map((r) => Math.max(r.firstMs, r.maxMs)));
console.log(`\nslowest answer: ${worst.toFixed(1)} ms (${worst < 1000 ? "under" : "OVER"} the 1 s bound)`);
console.log(
  JSON.stringify({
    bench: "dashboard-scale",
    topics: TOPICS,
    groups: GROUPS,
    lagReadyMs,
    rows,
    staleMs: stale.ms,
    worstMs: worst,
  }),
);
let browserRows;
let compareServer;
if (opt.browser) {
  const { timePagesInBrowser } = await import("./dashboardRenderTimes.mjs");
  // Started only now, so its background work (sampler, lag of all groups) does not load the
  // API timings above; both consoles then run theirs during the browser timings.
  if (opt.compare) {
    const m = await import(pathToFileURL(join(opt.compare, "dist/src/index.js")).href);
    compareServer = new m.DashboardServer({
      namesrv: nsAddr,
      port: 0,
      auditFile: join(dir, "audit-compare.log"),
      logger,
    });
    await compareServer.start();
    // Wait, as for the first console, until it has the lag of every group.
    const base = compareServer.url;
    const first = await fetch(new URL("/api/session", base));
    const c = (first.headers.get("set-cookie") ?? "").split(";")[0];
    for (let i = 0; i < 600; i++) {
      const r = await fetch(new URL("/api/consumers?size=1", base), { headers: { cookie: c } });
      if (!(await r.json()).lagPending) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const dlq = group(7 % Math.max(1, DLQ_GROUPS));
  const r = await timePagesInBrowser({
    url: server.url,
    compareUrl: compareServer?.url,
    rounds: Number(opt["browser-rounds"]),
    pages: [
      ["Cluster", "#/cluster"],
      ["Dashboard", "#/dashboard"],
      ["Topics", "#/topics"],
      ["Topics: search", "#/topics?search=Topic_09&type=normal"],
      ["Topics: detail", `#/topics?topic=${topic(7)}`],
      ["Consumers", "#/consumers"],
      ["Consumers: detail", `#/consumers?group=${group(7)}`],
      ["Producers", `#/producers?topic=${topic(7)}&group=ScaleProducers`],
      ["Messages", `#/messages?topic=${topic(7)}`],
      ["Dead letters", "#/deadLetters"],
      ...(DLQ_GROUPS > 0 ? [["Dead letters: group", `#/deadLetters?group=${dlq}`]] : []),
      ["Scheduled", "#/scheduled"],
      ["Transactions", "#/transactions"],
      ["Message trace", `#/trace?msgId=${sent.messageId}`],
    ],
  });
  if (r.skipped) console.log(`\nbrowser render times skipped: ${r.skipped}`);
  else {
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const max = (xs) => (xs.includes(-1) ? -1 : Math.max(...xs));
    const cell = (x) => (x < 0 ? "  > 30 s" : num(x));
    console.log(
      `\nFull render time in headless Chromium (${r.chromium}), ${opt["browser-rounds"]} rounds: until the DOM stopped changing`,
    );
    console.log(
      `${pad("page", 24)} ${"in-app med".padStart(10)} ${"max".padStart(9)} ${"cold med".padStart(10)} ${"max".padStart(9)}`,
    );
    const summary = (x) => ({
      inAppMedianMs: med(x.inAppMs),
      inAppMaxMs: max(x.inAppMs),
      coldMedianMs: med(x.coldMs),
      coldMaxMs: max(x.coldMs),
    });
    browserRows = r.rows.map((row) => ({
      name: row.name,
      ...summary(row),
      ...(row.compare ? { compare: summary(row.compare) } : {}),
      errors: row.errors,
    }));
    const line = (name, b) =>
      `${pad(name, 24)} ${cell(b.inAppMedianMs).padStart(10)} ${cell(b.inAppMaxMs)} ${cell(b.coldMedianMs).padStart(10)} ${cell(b.coldMaxMs)}`;
    for (const b of browserRows) {
      console.log(`${line(b.name, b)}${b.errors.length ? `  page errors: ${b.errors.join("; ")}` : ""}`);
      if (b.compare) console.log(line(`  (--compare build)`, b.compare));
    }
    const worstRender = Math.max(
      ...browserRows.map((b) =>
        b.inAppMaxMs < 0 || b.coldMaxMs < 0 ? 1e9 : Math.max(b.inAppMaxMs, b.coldMaxMs),
      ),
    );
    console.log(
      `slowest full render: ${worstRender >= 1e9 ? "> 30 s" : `${worstRender.toFixed(0)} ms`}; requests that left 127.0.0.1: ${r.outside.length}`,
    );
    console.log(
      JSON.stringify({
        bench: "dashboard-render",
        topics: TOPICS,
        groups: GROUPS,
        rows: browserRows,
        outside: r.outside,
      }),
    );
  }
}
await server.stop();
await compareServer?.stop();
await producer.shutdown();
await admin.shutdown();
stop();
process.exit(0);
