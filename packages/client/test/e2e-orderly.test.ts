/**
 * Orderly consumption under broker queue locks, over real processes: 4 queues, 20,000
 * messages over 200 sharding keys, orderly consumers (child processes) joining, leaving
 * gracefully and one killed with SIGKILL while a backlog is consumed. Per key the delivered
 * sequence must be the sent one, never skipping; a repeat (at-least-once) is allowed only after
 * the kill, and two consumers never run messages of one key at the same time.
 */
import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Producer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

interface Delivery {
  key: string;
  seq: number;
  start: number;
  end: number;
  name: string;
}

const KEYS = 200;
const PER_KEY = 100;
const TOTAL = KEYS * PER_KEY;

let cluster: TestCluster;
const children = new Map<string, ChildProcess>();
before(async () => {
  // Locks expire quickly so the SIGKILLed consumer's queues move on in seconds, not a minute.
  cluster = await TestCluster.start(["broker-a"], { rebalanceLockMaxLiveTime: 3000 });
});
after(async () => {
  for (const c of children.values()) {
    if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, "SIGKILL");
  }
  await cluster?.stop();
});

const deliveries: Delivery[] = [];

function startConsumer(name: string, group: string, topic: string): Promise<ChildProcess> {
  const script = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "orderly-consumer-child.js");
  const child = fork(script, [cluster.nsAddr, group, topic, name], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  children.set(name, child);
  child.on("message", (d: Delivery) => deliveries.push(d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer ${name} did not start in 30 s`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("READY")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`consumer ${name} exited with ${code ?? signal}`));
    });
  });
}

function stopConsumer(name: string, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  const child = children.get(name)!;
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    process.kill(child.pid!, signal);
  });
}

/** Waits until `more` further messages were consumed (bounded). */
async function consumeMore(more: number): Promise<void> {
  const target = Math.min(TOTAL, deliveries.length + more);
  await waitFor(
    () => deliveries.length >= target,
    60_000,
    `${target} deliveries (have ${deliveries.length})`,
  );
}

test("per key, orderly consumers deliver the sent sequence across joins, leaves and a SIGKILL", async () => {
  const topic = uniq("OrderEvents");
  const group = uniq("OrderlyG");
  await cluster.createTopic(topic, 4);
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await producer.startup();
  try {
    // A backlog first, so every handoff below happens while queues still hold work.
    const sends: Promise<unknown>[] = [];
    for (let seq = 0; seq < PER_KEY; seq++) {
      for (let k = 0; k < KEYS; k++) {
        sends.push(
          producer.send({
            topic,
            shardingKey: `order-${k}`,
            body: Buffer.from(`${k}:${seq}`),
            properties: { key: `order-${k}`, seq: String(seq) },
          }),
        );
      }
      // Sends of one key go out in order: await each round before the next.
      await Promise.all(sends.splice(0));
    }
  } finally {
    await producer.shutdown();
  }

  await startConsumer("A", group, topic);
  await consumeMore(2000);
  await startConsumer("B", group, topic);
  await consumeMore(2000);
  await startConsumer("C", group, topic);
  await consumeMore(2000);
  await stopConsumer("B", "SIGTERM");
  await consumeMore(2000);
  await stopConsumer("A", "SIGKILL");
  const killedAt = performance.timeOrigin + performance.now();
  await consumeMore(2000);
  await startConsumer("D", group, topic);

  // Done when every key's last message was delivered.
  await waitFor(
    () => {
      const seen = new Set(deliveries.filter((d) => d.seq === PER_KEY - 1).map((d) => d.key));
      return seen.size === KEYS;
    },
    120_000,
    "the last message of every key",
  );
  await stopConsumer("C", "SIGTERM");
  await stopConsumer("D", "SIGTERM");

  const byKey = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const list = byKey.get(d.key) ?? [];
    list.push(d);
    byKey.set(d.key, list);
  }
  assert.equal(byKey.size, KEYS);
  let repeats = 0;
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start - b.start);
    let maxSeen = -1;
    for (let i = 0; i < list.length; i++) {
      const d = list[i]!;
      if (i > 0) {
        const prev = list[i - 1]!;
        assert.ok(
          prev.end <= d.start || prev.name === d.name,
          `${key}: ${prev.name} ran seq ${prev.seq} until ${prev.end} while ${d.name} started seq ${d.seq} at ${d.start}`,
        );
      }
      if (d.seq === maxSeen + 1) {
        maxSeen = d.seq;
        continue;
      }
      assert.ok(
        d.seq <= maxSeen,
        `${key}: seq ${d.seq} delivered after ${maxSeen}: ${list.map((x) => x.seq).join(" ")}`,
      );
      // A repeat: only the SIGKILLed consumer's uncommitted suffix may come again, after the kill.
      assert.ok(
        d.start >= killedAt,
        `${key}: seq ${d.seq} repeated before any crash: ${list.map((x) => x.seq).join(" ")}`,
      );
      const next = list[i + 1];
      assert.ok(!next || next.seq === d.seq + 1, `${key}: a repeat must continue in order`);
      repeats++;
    }
    assert.equal(maxSeen, PER_KEY - 1, `${key}: delivered up to ${maxSeen}`);
  }
  // Report what at-least-once cost here (bounded by what the killed consumer had in flight).
  console.log(
    `orderly: ${deliveries.length} deliveries of ${TOTAL} messages, ${repeats} repeats after the SIGKILL`,
  );
  assert.ok(repeats <= 4 * 1000, `repeats ${repeats} exceed what 4 queues could have had cached`);
});
