#!/usr/bin/env node
// Fault injection over real processes: a 3-replica DLedger group (each replica a `tidemq broker`
// child), a NameServer in this process, a producer and a push consumer of our client, and at random
// moments: kill -9 of the leader or a follower, SIGSTOP/SIGCONT of the leader, a network partition
// (loopback TCP proxies on every directed Raft link, cut and healed), a one-directional partition
// between the leader and a follower (one directed link cut: A→B delivered, B→A dropped), a full disk on one replica
// (ENOSPC on every write after SIGUSR2, bench/faults/enospc.mjs), and with --lossy a power cut of
// replica n2 whose store lives on ../shared/tools/lossyfs.py (FUSE: unsynced writes dropped).
// Then a checker: every acknowledged message consumed, at the queue offset its send returned, in
// queue order per producer worker, no phantom, no acknowledged (committed) message lost or changed;
// duplicates counted and bounded by what was in flight at the faults.
//
//   node bench/fault-injection.mjs [--rounds 100] [--seed N] [--lossy] [--window 16] [--rate msg/s] [--cycle] [--quiet]
//                                  [--kinds partitionLeader,killLeader] [--logs DIR] [--max-minutes M] [--dedup]
// --dedup: the replicas run with duplicateDetectionEnable=true; a retried send stored twice is
// then a violation (the new leader's window must answer the producer's resend of whatever the
// group committed).
// --kinds: only these fault kinds (to repeat one kind of round); --logs DIR: each replica's
// output (log level info unless TIDEMQ_LOG_LEVEL says otherwise) in DIR/nK.log, and this
// script's round lines in DIR/harness.log.
// Exit code 0 when every check passed, 1 otherwise; the last line is a JSON summary.
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConsumeResult, Producer, PushConsumer } from "../packages/client/dist/src/index.js";
import { createLogger } from "../packages/remoting/dist/src/index.js";
import { Cluster, freePorts } from "./dledgerCluster.mjs";
import { LinkProxy } from "./faults/linkProxy.mjs";

const argv = process.argv.slice(2);
const arg = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : def;
};
const ROUNDS = Number(arg("--rounds", "100"));
const SEED = Number(arg("--seed", String(Date.now() % 1_000_000)));
const WINDOW = Number(arg("--window", "16"));
const QUIET = argv.includes("--quiet");
const CYCLE = argv.includes("--cycle");
// Sends per second over all workers (0: as fast as acknowledgements come). A store on lossyfs
// (Python FUSE, one global lock) recovers slowly from a large log, so --lossy paces by default.
const RATE = Number(arg("--rate", argv.includes("--lossy") ? "400" : "0"));
const WANT_LOSSY = argv.includes("--lossy");
const LOSSYFS = fileURLToPath(new URL("../../shared/tools/lossyfs.py", import.meta.url));
// lossyfs.py runs under the system python (#!/usr/bin/python3), where Debian puts python3-fusepy.
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const KINDS = arg("--kinds", "")
  .split(",")
  .filter((k) => k);
const LOGS = arg("--logs", "");
const MAX_MS = Number(arg("--max-minutes", "0")) * 60_000;
const DEDUP = argv.includes("--dedup");
if (LOGS) {
  mkdirSync(LOGS, { recursive: true });
  process.env.TIDEMQ_LOG_LEVEL ??= "info";
}
const ENOSPC = fileURLToPath(new URL("./faults/enospc.mjs", import.meta.url));

let state = SEED >>> 0 || 1;
const rand = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
};
const between = (a, b) => a + Math.floor(rand() * (b - a + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => {
  const line = `${new Date().toISOString().slice(11, 23)} ${s}`;
  if (!QUIET) console.log(line);
  if (LOGS) appendFileSync(join(LOGS, "harness.log"), `${line}\n`);
};

/** lossyfs usable here? (FUSE device, fusermount3, python3-fusepy.) */
function lossyAvailable() {
  if (!existsSync("/dev/fuse") || !existsSync(LOSSYFS)) return "no /dev/fuse or lossyfs.py";
  try {
    execFileSync(PYTHON, ["-c", "import fusepy"], { stdio: "ignore" });
  } catch {
    return "python3-fusepy is not installed (apt-get install python3-fusepy fuse3)";
  }
  try {
    execFileSync("sh", ["-c", "command -v fusermount3"], { stdio: "ignore" });
  } catch {
    return "fusermount3 is not installed (apt-get install fuse3)";
  }
  return undefined;
}

/** Is `pid` still the lossyfs daemon? It is no child of ours: once it exits, init reaps it and
 *  its PID can go to any new process (pid_max is 32768 on many machines). */
function isLossyfs(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("lossyfs");
  } catch {
    return false;
  }
}

const lossyWhyNot = WANT_LOSSY ? lossyAvailable() : "not asked (--lossy)";
const lossy = WANT_LOSSY && !lossyWhyNot;
if (WANT_LOSSY && lossyWhyNot) console.log(`power-loss rounds skipped: ${lossyWhyNot}`);

// ---------------------------------------------------------------- the group, behind link proxies
const N = 3;
const raftPorts = await freePorts(N);
const proxies = new Map(); // "i>j" → LinkProxy
for (let i = 0; i < N; i++)
  for (let j = 0; j < N; j++)
    if (i !== j) {
      const p = new LinkProxy(raftPorts[j]);
      await p.listen();
      proxies.set(`${i}>${j}`, p);
    }
let mount;
let lossyPid;
if (lossy) {
  const base = await import("node:fs/promises").then((fs) => fs.mkdtemp(join(os.tmpdir(), "tidemq-lossy-")));
  mkdirSync(join(base, "backing"));
  mkdirSync(join(base, "mnt"));
  mount = join(base, "mnt");
  execFileSync(PYTHON, [LOSSYFS, join(base, "backing"), mount], { stdio: "inherit" });
  lossyPid = Number(/pid=(\d+)/.exec(execFileSync("cat", [join(mount, ".lossyfs-control")]).toString())?.[1]);
  log(`lossyfs mounted at ${mount} (pid ${lossyPid}); replica n2's store lives there`);
}
const cluster = await Cluster.start({
  size: N,
  raftPorts,
  peerPort: (i, j) => proxies.get(`${i}>${j}`).port,
  rootOf: lossy ? (i) => (i === 2 ? join(mount, "n2") : undefined) : undefined,
  preload: ENOSPC,
  ...(LOGS ? { logDir: LOGS } : {}),
  extra: { mappedFileSizeCommitLog: 8 * 1024 * 1024, ...(DEDUP ? { duplicateDetectionEnable: true } : {}) },
});

const stats = {
  seed: SEED,
  rounds: 0,
  faults: {},
  // oneWayLink rounds by the direction dropped, and those after which another replica led.
  oneWay: { leaderToFollowerDropped: 0, followerToLeaderDropped: 0, leaderChanged: 0, reconnectsRefused: 0 },
  sent: 0,
  acked: 0,
  sendErrors: 0,
  consumed: 0,
  lost: 0,
  changed: 0,
  phantom: 0,
  orderViolations: 0,
  storedDuplicates: 0,
  redeliveries: 0,
  staleLeaderAcks: 0,
  // Sends the old leader had replicated before its SIGSTOP, acknowledged when it resumed (it
  // processed its followers' answers before hearing of the new term): committed, so correct —
  // the lost/changed checks verify them like every other acknowledged send.
  inFlightAckedOnResume: 0,
  failoverMs: [],
  // Per fault kind that takes the leader away: ms from the fault until another replica took
  // writes (the most recent samples; the max over all rounds in electionMaxMs).
  electionMs: {},
  electionMaxMs: 0,
  violations: [],
};

// ---------------------------------------------------------------- workload
const topic = `Faults${Date.now()}`;
const quietLogger = createLogger("client", "error");
const FAST = {
  pollNameServerInterval: 1000,
  heartbeatBrokerInterval: 1000,
  rebalanceInterval: 1000,
  persistConsumerOffsetInterval: 500,
};
const producer = new Producer({
  endpoints: cluster.nsAddr,
  logger: quietLogger,
  sendMsgTimeout: 5000,
  ...FAST,
});
const attempted = new Set();
const acked = new Map(); // body → {q, off, at, addr}
const consumed = new Map(); // body → [{q, off}]
const byPos = new Map(); // "q@off" → body set
const consumer = new PushConsumer({
  endpoints: cluster.nsAddr,
  consumerGroup: `FG${Date.now()}`,
  subscriptions: new Map([[topic, "*"]]),
  logger: quietLogger,
  ...FAST,
  messageListener: {
    consume(m) {
      const body = m.body.toString();
      stats.consumed++;
      const list = consumed.get(body) ?? [];
      consumed.set(body, list);
      list.push({ q: m.queueId, off: m.queueOffset });
      const key = `${m.queueId}@${m.queueOffset}`;
      const s = byPos.get(key) ?? new Set();
      byPos.set(key, s);
      s.add(body);
      return ConsumeResult.SUCCESS;
    },
  },
});

const leader0 = await cluster.leader(60_000);
if (!leader0) throw new Error("no leader at start");
const { Admin } = await import("../packages/client/dist/src/index.js");
const admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
await admin.createTopic({ topic, brokerAddr: leader0.addr, readQueueNums: 4, writeQueueNums: 4 });
for (let i = 0; i < 200; i++) {
  const r = await admin.getTopicRoute(topic).catch(() => undefined);
  if (r?.queueDatas?.length) break;
  await sleep(50);
}
await admin.shutdown();
await producer.startup();
await consumer.startup();

let running = true;
let seq = 0;
const lastOffsetOf = []; // per worker: queue → last acked offset
const workers = Array.from({ length: WINDOW }, async (_, w) => {
  lastOffsetOf[w] = new Map();
  while (running) {
    if (RATE > 0) await sleep((WINDOW * 1000) / RATE);
    const body = `m${seq++}`;
    const sentAt = Date.now();
    attempted.add(body);
    stats.sent++;
    try {
      const r = await producer.send({ topic, body });
      const q = r.messageQueue.queueId;
      acked.set(body, { q, off: r.queueOffset, at: Date.now(), sentAt, addr: r.brokerAddr });
      stats.acked++;
      const prev = lastOffsetOf[w].get(q);
      if (prev !== undefined && r.queueOffset <= prev) {
        stats.orderViolations++;
        stats.violations.push(`worker ${w}: ${body} acked at ${q}@${r.queueOffset} after ${q}@${prev}`);
      }
      lastOffsetOf[w].set(q, r.queueOffset);
    } catch {
      stats.sendErrors++;
      await sleep(20);
    }
  }
});

// ---------------------------------------------------------------- faults
const kinds = [
  "killLeader",
  "killFollower",
  "stopLeader",
  "partitionLeader",
  "partitionFollower",
  "diskFull",
];
if (lossy) kinds.push("powerLoss");
// Last, so npm test's 7 --cycle rounds (one of each kind above) stay what they were; in the
// random mix of the bench like the others.
kinds.push("oneWayLink");
for (const k of KINDS) if (!kinds.includes(k)) throw new Error(`--kinds: unknown or unavailable kind ${k}`);
if (KINDS.length > 0) kinds.splice(0, kinds.length, ...KINDS);

function isolate(i, on) {
  for (let j = 0; j < N; j++) {
    if (j === i) continue;
    for (const k of [`${i}>${j}`, `${j}>${i}`]) on ? proxies.get(k).cut() : proxies.get(k).heal();
  }
}

async function ensureAllUp() {
  for (const r of cluster.replicas) {
    if (!cluster.alive(r)) {
      try {
        await cluster.startReplica(r.id);
      } catch (err) {
        stats.violations.push(`restart of ${r.id} failed: ${err.message.slice(0, 300)}`);
        throw err;
      }
    }
  }
}

/** The replica awaitNewLeader found last (leaderNow() may still see the old one as leader too). */
let newLeader;

/** Waits for a writable leader other than `old` (if given); returns ms since `since`, or undefined. */
async function awaitNewLeader(since, old, kind) {
  const l = await cluster.leader(30_000, old);
  if (!l) return undefined;
  newLeader = l;
  const ms = Date.now() - since;
  stats.electionMs[kind] ??= [];
  const list = stats.electionMs[kind];
  list.push(ms);
  if (list.length > 200) list.shift();
  stats.electionMaxMs = Math.max(stats.electionMaxMs, ms);
  return ms;
}

let aborted;
// SIGTERM to this process only (`kill PID`, `timeout --foreground`; plain `timeout` signals the
// replicas and lossyfs too): stop injecting, then drain, check and print the summary of the
// rounds done (it says how many of --rounds ran). --max-minutes does the same from inside.
let stopRequested = false;
process.once("SIGTERM", () => {
  stopRequested = true;
  log("SIGTERM: no more rounds; draining and checking");
});
try {
  const startedAt = Date.now();
  for (let round = 1; round <= ROUNDS && !stopRequested; round++) {
    if (MAX_MS > 0 && Date.now() - startedAt > MAX_MS) {
      log(`--max-minutes reached after ${round - 1} rounds; draining and checking`);
      stopRequested = true;
      break;
    }
    await sleep(between(200, 1200));
    // --cycle: every kind in turn (npm test's few rounds cover them all); else at random.
    const kind = CYCLE ? kinds[(round - 1) % kinds.length] : kinds[Math.floor(rand() * kinds.length)];
    stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
    const leader = cluster.leaderNow() ?? (await cluster.leader(30_000));
    if (!leader) {
      stats.violations.push(`round ${round}: no leader before the fault`);
      break;
    }
    const followers = cluster.replicas.filter((r) => r !== leader);
    const follower = followers[Math.floor(rand() * followers.length)];
    const t0 = Date.now();
    log(`round ${round}: ${kind} (leader ${leader.id})`);
    if (kind === "killLeader") {
      await cluster.kill(leader.id);
      const ms = await awaitNewLeader(t0, leader.id, kind);
      if (ms === undefined) stats.violations.push(`round ${round}: no new leader within 30 s after kill -9`);
      else stats.failoverMs.push(ms);
      await sleep(between(0, 1500));
    } else if (kind === "killFollower") {
      await cluster.kill(follower.id);
      await sleep(between(200, 1500));
    } else if (kind === "stopLeader") {
      process.kill(leader.child.pid, "SIGSTOP");
      const ms = await awaitNewLeader(t0, leader.id, kind);
      if (ms === undefined) stats.violations.push(`round ${round}: no new leader within 30 s after SIGSTOP`);
      await sleep(between(500, 2000));
      const resumedAt = Date.now();
      // A stopped process cannot exit by itself: gone now, it was killed from outside this
      // bench. Said so as a violation (not a bare "kill ESRCH" abort, nor a SIGCONT to whatever
      // process reused its PID); ensureAllUp restarts it.
      if (!cluster.alive(leader)) {
        stats.violations.push(
          `round ${round}: ${leader.id} exited while stopped (${leader.child.signalCode ?? leader.child.exitCode}): killed from outside the bench`,
        );
      } else process.kill(leader.child.pid, "SIGCONT");
      // The old leader must not come back and take writes as leader: no send issued after it
      // was stopped may be acknowledged by it (sends it had replicated before may: see
      // inFlightAckedOnResume).
      await sleep(1500);
      for (const [body, a] of acked) {
        if (a.at < resumedAt || a.addr !== leader.addr || cluster.leaderNow() === leader) continue;
        if (a.sentAt < t0) stats.inFlightAckedOnResume++;
        else {
          stats.staleLeaderAcks++;
          stats.violations.push(
            `round ${round}: ${body} (sent ${a.sentAt - t0} ms after the SIGSTOP) acknowledged by the resumed old leader ${leader.id}`,
          );
        }
      }
    } else if (kind === "partitionLeader" || kind === "partitionFollower") {
      const victim = kind === "partitionLeader" ? leader : follower;
      const i = Number(victim.id.slice(1));
      isolate(i, true);
      if (kind === "partitionLeader") {
        const ms = await awaitNewLeader(t0, leader.id, kind);
        if (ms === undefined)
          stats.violations.push(`round ${round}: no new leader within 30 s after partition`);
        else log(`round ${round}: new leader ${newLeader?.id} after ${ms} ms`);
      }
      await sleep(between(500, 2500));
      isolate(i, false);
    } else if (kind === "oneWayLink") {
      // Raft links are one-way TCP connections (a replica sends on its own outbound connection
      // and never answers on an inbound one), so cutting the proxy of the directed link B>A
      // drops B→A only while A→B is delivered. Leader→follower dropped: the follower hears no
      // leader and pre-votes, which the others must refuse (they have a leader); follower→leader
      // dropped: the leader gets no acks or votes from it and must carry on with the other.
      const fromLeader = rand() < 0.5;
      const [from, to] = fromLeader ? [leader, follower] : [follower, leader];
      const link = proxies.get(`${Number(from.id.slice(1))}>${Number(to.id.slice(1))}`);
      stats.oneWay[fromLeader ? "leaderToFollowerDropped" : "followerToLeaderDropped"]++;
      log(`round ${round}: ${from.id}→${to.id} dropped, ${to.id}→${from.id} delivered`);
      const refusedBefore = link.refused;
      link.cut();
      await sleep(between(1000, 4000));
      link.heal();
      stats.oneWay.reconnectsRefused += link.refused - refusedBefore;
      const now = cluster.leaderNow();
      if (now && now !== leader) {
        stats.oneWay.leaderChanged++;
        log(`round ${round}: leader now ${now.id}`);
      }
    } else if (kind === "diskFull") {
      const victim = rand() < 0.5 ? leader : follower;
      process.kill(victim.child.pid, "SIGUSR2");
      await sleep(between(500, 2000));
      // Space freed: the replica gave up its store after the write errors; restart it.
      await cluster.kill(victim.id);
      // Giving up on ENOSPC is what it should do: not a replica lost to a bug.
      if (/ENOSPC|no space/.test(victim.stoppedReplicating ?? "")) victim.stoppedReplicating = undefined;
    } else if (kind === "powerLoss") {
      const victim = cluster.replica("n2");
      await cluster.kill(victim.id);
      execFileSync("sh", ["-c", `echo crash > ${join(mount, ".lossyfs-control")}`]);
      if (victim === leader) {
        const ms = await awaitNewLeader(t0, leader.id, kind);
        if (ms === undefined) stats.violations.push(`round ${round}: no new leader after power loss`);
      }
    }
    // A replica whose Raft loop gave up is alive but out of the group: the next fault that
    // takes another replica away then leaves no majority. Report it at the round that did it.
    for (const r of cluster.replicas) {
      if (r.stoppedReplicating) {
        stats.violations.push(`round ${round} (${kind}): ${r.stoppedReplicating}`);
        r.stoppedReplicating = undefined; // once per failure
      }
    }
    await ensureAllUp();
    if (!(await cluster.leader(30_000))) {
      stats.violations.push(`round ${round}: no leader 30 s after healing`);
      break;
    }
    stats.rounds++;
  }
} catch (err) {
  aborted = err;
  stats.violations.push(`aborted: ${String(err?.message ?? err).slice(0, 500)}`);
}

// ---------------------------------------------------------------- drain and check
running = false;
await Promise.all(workers);
const drainDeadline = Date.now() + 90_000;
while (Date.now() < drainDeadline) {
  let missing = 0;
  for (const b of acked.keys()) if (!consumed.has(b)) missing++;
  if (missing === 0) break;
  await sleep(200);
}
await sleep(1500); // late redeliveries and phantoms show up too
await consumer.shutdown();
await producer.shutdown();

for (const [body, a] of acked) {
  const got = consumed.get(body);
  if (!got) {
    stats.lost++;
    if (stats.violations.length < 50) stats.violations.push(`LOST: ${body} acked at ${a.q}@${a.off}`);
    continue;
  }
  const others = byPos.get(`${a.q}@${a.off}`);
  if (!others?.has(body) || others.size > 1) {
    stats.changed++;
    if (stats.violations.length < 50)
      stats.violations.push(
        `CHANGED: ${body} acked at ${a.q}@${a.off}, there: ${[...(others ?? [])].join(",")}`,
      );
  }
}
for (const [body, list] of consumed) {
  if (!attempted.has(body)) {
    stats.phantom++;
    stats.violations.push(`PHANTOM: ${body}`);
  }
  const positions = new Set(list.map((x) => `${x.q}@${x.off}`));
  stats.storedDuplicates += positions.size - 1;
  stats.redeliveries += list.length - positions.size;
}
for (const [pos, bodies] of byPos) {
  if (bodies.size > 1) {
    stats.changed++;
    stats.violations.push(`CONFLICT at ${pos}: ${[...bodies].join(",")}`);
  }
}
const faultCount = Object.values(stats.faults).reduce((a, b) => a + b, 0);
// A retried send that was stored after all is a stored duplicate: at most the sends in flight
// at each fault (the window) — more means the group stored what it did not acknowledge twice.
if (DEDUP && stats.storedDuplicates > 0) {
  stats.violations.push(
    `stored duplicates ${stats.storedDuplicates} with duplicateDetectionEnable: resends stored twice`,
  );
} else if (stats.storedDuplicates > faultCount * WINDOW) {
  stats.violations.push(
    `stored duplicates ${stats.storedDuplicates} exceed ${faultCount} faults × window ${WINDOW}`,
  );
}
await cluster.stop();
for (const p of proxies.values()) await p.close();
if (mount) {
  try {
    execFileSync("fusermount3", ["-u", mount]);
  } catch {
    if (lossyPid && isLossyfs(lossyPid)) process.kill(lossyPid, "SIGTERM");
  }
}
const fo = [...stats.failoverMs].sort((a, b) => a - b);
const pct = (p) => (fo.length ? fo[Math.min(fo.length - 1, Math.floor(p * fo.length))] : 0);
const ok =
  stats.lost === 0 &&
  stats.changed === 0 &&
  stats.phantom === 0 &&
  stats.orderViolations === 0 &&
  stats.staleLeaderAcks === 0 &&
  stats.violations.length === 0 &&
  !aborted &&
  (stats.rounds === ROUNDS || (stopRequested && stats.rounds > 0));
console.log(
  `fault injection: ${stats.rounds}/${ROUNDS} rounds (seed ${SEED}${lossy ? ", power loss on" : ", power loss off"}${DEDUP ? ", de-duplication on" : ""}), faults ${JSON.stringify(stats.faults)}\n` +
    `  sends ${stats.sent}, acknowledged ${stats.acked}, send errors ${stats.sendErrors}; consumed ${stats.consumed}\n` +
    `  lost ${stats.lost}, changed ${stats.changed}, phantom ${stats.phantom}, order violations ${stats.orderViolations}, stale-leader acks ${stats.staleLeaderAcks} (in-flight sends acknowledged on resume: ${stats.inFlightAckedOnResume})\n` +
    `  duplicates: stored ${stats.storedDuplicates} (retried sends stored twice), redelivered ${stats.redeliveries} (consumer re-reads after failover)\n` +
    `  one-way links: ${JSON.stringify(stats.oneWay)}\n` +
    `  leader kill -9 → new leader taking writes: ${fo.length} samples, p50 ${pct(0.5)} ms, max ${fo.at(-1) ?? 0} ms\n` +
    `  leader lost → another replica taking writes, max ms per fault: ${JSON.stringify(
      Object.fromEntries(Object.entries(stats.electionMs).map(([k, v]) => [k, Math.max(...v)])),
    )}\n` +
    `  machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}\n` +
    `  ${ok ? `PASS${stats.rounds < ROUNDS ? ` (${stats.rounds} of ${ROUNDS} rounds: stopped early)` : ""}` : `FAIL:\n    ${stats.violations.slice(0, 30).join("\n    ")}`}`,
);
console.log(
  JSON.stringify({
    ok,
    ...stats,
    roundsAsked: ROUNDS,
    dedup: DEDUP,
    failoverMs: undefined,
    failoverP50: pct(0.5),
    failoverMax: fo.at(-1) ?? 0,
    violations: stats.violations.slice(0, 30),
  }),
);
process.exit(ok ? 0 : 1);
