#!/usr/bin/env node
// Delayed and timer messages across kill -9 of a DLedger group's leader: a producer of our
// client parks messages (delay level 1 = 1 s, and timers due in 1.5 s) while the leader is
// killed --kills times; a consumer records every delivery. Prints what was acknowledged, what
// never arrived (must be 0), what arrived before its due time (must be 0) and the duplicates
// (deliveries of an already delivered message). Plain messages sent alongside give the stored
// duplicates of sends retried across a kill, which both kinds share.
// Usage: node bench/dledger-delay-failover.mjs [--kills 6]
import os from "node:os";
import { ConsumeResult, Producer, PushConsumer } from "../packages/client/dist/src/index.js";
import { createLogger } from "../packages/remoting/dist/src/index.js";
import { Cluster } from "./dledgerCluster.mjs";

const argv = process.argv.slice(2);
const KILLS = Number(argv[argv.indexOf("--kills") + 1] || 6) || 6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logger = createLogger("bench", "error");
const c = await Cluster.start({ size: 3, extra: { messageDelayLevel: "1s 2s 5s" } });
try {
  await c.leader(60_000);
  const topic = `DelayFailover${Date.now()}`;
  const p = new Producer({
    endpoints: c.nsAddr,
    logger,
    sendMsgTimeout: 8000,
    pollNameServerInterval: 30_000,
  });
  await p.startup();
  const due = new Map(); // body → earliest legal delivery time (client clock before the send)
  const got = new Map(); // body → { at, n }
  const dupAt = []; // times of duplicate deliveries
  const cons = new PushConsumer({
    endpoints: c.nsAddr,
    consumerGroup: `DFG${Date.now()}`,
    subscriptions: new Map([[topic, "*"]]),
    logger,
    persistConsumerOffsetInterval: 200,
    messageListener: {
      consume(m) {
        const b = m.body.toString();
        const e = got.get(b);
        if (e) {
          e.n++;
          dupAt.push(Date.now());
        } else got.set(b, { at: Date.now(), n: 1 });
        return ConsumeResult.SUCCESS;
      },
    },
  });
  await cons.startup();
  let running = true;
  let seq = 0;
  const workers = Array.from({ length: 6 }, async (_, w) => {
    for (let i = 0; running; i++) {
      const kind = i % 3; // 0 delay level, 1 timer, 2 plain
      const body = `${["d", "t", "p"][kind]}-${w}-${seq++}`;
      const t0 = Date.now();
      try {
        if (kind === 0) await p.send({ topic, body, delayLevel: 1 });
        else if (kind === 1) await p.send({ topic, body, deliveryTimestamp: t0 + 1500 });
        else await p.send({ topic, body });
        due.set(body, kind === 0 ? t0 + 1000 : kind === 1 ? t0 + 1500 : t0);
      } catch {
        await sleep(20);
      }
      await sleep(5);
    }
  });
  const kills = [];
  for (let k = 0; k < KILLS; k++) {
    await sleep(3000);
    const leader = c.leaderNow() ?? (await c.leader(30_000));
    const t0 = Date.now();
    await c.kill(leader.id);
    const next = await c.leader(30_000, leader.id);
    if (!next) throw new Error(`kill ${k + 1}: no new leader in 30 s`);
    kills.push(t0);
    await c.startReplica(leader.id);
    console.log(`kill ${k + 1}: ${leader.id} → ${next.id} in ${Date.now() - t0} ms`);
  }
  await sleep(3000);
  running = false;
  await Promise.all(workers);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && [...due.keys()].some((b) => !got.has(b))) await sleep(100);
  await cons.shutdown();
  await p.shutdown();
  const count = (prefix) => {
    const keys = [...due.keys()].filter((b) => b.startsWith(prefix));
    const missing = keys.filter((b) => !got.has(b)).length;
    const early = keys.filter((b) => got.has(b) && got.get(b).at < due.get(b)).length;
    const dups = keys.reduce((s, b) => s + Math.max(0, (got.get(b)?.n ?? 0) - 1), 0);
    return { acked: keys.length, missing, early, dups };
  };
  for (const [name, prefix] of [
    ["delay level 1 (1 s)", "d-"],
    ["timer (1.5 s)", "t-"],
    ["plain (reference)", "p-"],
  ]) {
    const r = count(prefix);
    console.log(
      `${name.padEnd(20)} acknowledged ${r.acked}, never delivered ${r.missing}, early ${r.early}, duplicates ${r.dups}`,
    );
  }
  console.log(
    `${KILLS} kills; machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}`,
  );
} finally {
  await c.stop();
}
