#!/usr/bin/env node
// Failover time of a 3-replica DLedger group with default settings: kill -9 of the leader, over and
// over, under a producer of our client (window 16). Per kill: ms until another replica is the
// writable leader (its "DLedger … leader" line), and ms until our client's next acknowledged send.
// Also counts what a consumer group re-reads after a failover: the group's consumer stops
// (committing its offsets to the old leader) just before the kill, and a fresh one starts on the
// new leader; re-read = a queue offset consumed twice (offsets the new leader did not have),
// stored duplicates (a send retried after the kill whose first attempt was stored) counted apart.
// Usage: node bench/dledger-failover.mjs [--kills 20]
import os from "node:os";
import { ConsumeResult, Producer, PushConsumer } from "../packages/client/dist/src/index.js";
import { createLogger } from "../packages/remoting/dist/src/index.js";
import { Cluster } from "./dledgerCluster.mjs";

const argv = process.argv.slice(2);
const KILLS = Number(argv[argv.indexOf("--kills") + 1] || 20) || 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logger = createLogger("bench", "error");
const c = await Cluster.start({ size: 3 });
const leaderAtStart = await c.leader(60_000);
if (!leaderAtStart) throw new Error("no leader");
const topic = `Failover${Date.now()}`;
const group = `FG${Date.now()}`;
const p = new Producer({ endpoints: c.nsAddr, logger, sendMsgTimeout: 8000, pollNameServerInterval: 30_000 });
await p.startup();
let lastAck = 0;
let running = true;
const workers = Array.from({ length: 16 }, async () => {
  for (let i = 0; running; i++) {
    try {
      await p.send({ topic, body: `m${Date.now()}-${i}` });
      lastAck = Date.now();
    } catch {
      await sleep(10);
    }
  }
});
// A consumer that is replaced after each failover: what the new one re-reads is the duplicate cost.
const seen = new Set();
const seenAt = new Set();
let dup = 0;
let reread = 0;
let consumedTotal = 0;
const newConsumer = async () => {
  const cons = new PushConsumer({
    endpoints: c.nsAddr,
    consumerGroup: group,
    subscriptions: new Map([[topic, "*"]]),
    logger,
    persistConsumerOffsetInterval: 200,
    messageListener: {
      consume(m) {
        consumedTotal++;
        const at = `${m.messageQueue.queueId}:${m.queueOffset}`;
        if (seenAt.has(at)) reread++;
        else {
          seenAt.add(at);
          if (seen.has(m.messageId)) dup++;
          else seen.add(m.messageId);
        }
        return ConsumeResult.SUCCESS;
      },
    },
  });
  await cons.startup();
  return cons;
};
let consumer = await newConsumer();
const elect = [];
const resume = [];
const dups = [];
const stored = [];
for (let k = 0; k < KILLS; k++) {
  await sleep(2500);
  const leader = c.leaderNow() ?? (await c.leader(30_000));
  // The consumer commits to the leader and stops; the leader dies right after.
  const before = reread;
  const storedBefore = dup;
  await consumer.shutdown();
  const t0 = Date.now();
  await c.kill(leader.id);
  const next = await c.leader(30_000, leader.id);
  if (!next) throw new Error(`kill ${k + 1}: no new leader in 30 s`);
  elect.push(Date.now() - t0);
  for (let i = 0; i < 6000 && lastAck < t0 + 1; i++) await sleep(5);
  resume.push(lastAck - t0);
  // A new consumer: it starts from the offsets the new leader has.
  consumer = await newConsumer();
  await sleep(1500);
  dups.push(reread - before);
  stored.push(dup - storedBefore);
  await c.startReplica(leader.id);
  console.log(
    `kill ${k + 1}: ${leader.id} → ${next.id}: new leader ${elect.at(-1)} ms, client's next ack ${resume.at(-1)} ms, re-read by a new consumer ${dups.at(-1)}, stored duplicates ${stored.at(-1)}`,
  );
}
running = false;
await Promise.all(workers);
await consumer.shutdown();
await p.shutdown();
await c.stop();
const stat = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${s[Math.floor(s.length / 2)]} ms, max ${s.at(-1)} ms (n=${s.length})`;
};
console.log(`leader kill -9 → another replica takes writes: ${stat(elect)}`);
console.log(`leader kill -9 → our client's next acknowledged send: ${stat(resume)}`);
console.log(
  `messages re-read by a consumer started after each failover: ${dups.join(",")} (total ${dups.reduce((a, b) => a + b, 0)}; consumed ${consumedTotal})`,
);
console.log(`stored duplicates (sends retried across the kill): ${stored.join(",")}`);
console.log(
  `machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
