import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
let child: ChildProcess | undefined;
before(async () => {
  cluster = await TestCluster.start([]);
});
after(async () => {
  killChild();
  await cluster?.stop();
});

function killChild(): void {
  if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
}

/** Starts broker-t in a child process on its store directory; resolves with its address. */
function startChildBroker(): Promise<string> {
  const script = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "broker-child.js");
  const proc = spawn(process.execPath, [script, cluster.nsAddr, "broker-t", join(cluster.dir, "broker-t")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  child = proc;
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("broker-t did not start in 30 s")), 30_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`broker-t exited with ${code}`));
    });
  });
}

async function sigkill(): Promise<void> {
  const proc = child!;
  const exited = new Promise<void>((r) =>
    proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once("exit", () => r()),
  );
  process.kill(proc.pid!, "SIGKILL");
  await exited;
}

test("kill -9 while 10,000 timers are pending and due ones are being delivered: after restart each is delivered, none early, no recalled one", async () => {
  const addr = await startChildBroker();
  const topic = uniq("TimerCrash");
  await cluster.createTopic(topic, 4, [addr]);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  /** messageId → first arrival (ms) and how often it came. */
  const arrived = new Map<string, { at: number; times: number }>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("TG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume(m) {
        const a = arrived.get(m.messageId);
        if (a) a.times++;
        else arrived.set(m.messageId, { at: Date.now(), times: 1 });
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await p.startup();
  await c.startup();
  try {
    const N = 10_000;
    const t0 = Date.now();
    const due = new Map<string, number>();
    const handles: Array<{ id: string; handle: string; dueMs: number }> = [];
    // Due times 6–16 s ahead in a scrambled order, sent 200 at a time; every 100th is due
    // 17–18 s ahead and recalled.
    for (let i = 0; i < N; i += 200) {
      const batch = [];
      for (let k = i; k < i + 200; k++) {
        const dueMs = k % 100 === 0 ? t0 + 17_000 + (k % 1000) : t0 + 6000 + ((k * 7919) % 10_000);
        batch.push(
          p.send({ topic, body: Buffer.from(`t${k}`), deliveryTimestamp: dueMs }).then((r) => {
            due.set(r.messageId, dueMs);
            if (k % 100 === 0) handles.push({ id: r.messageId, handle: r.recallHandle!, dueMs });
          }),
        );
      }
      await Promise.all(batch);
    }
    const recalled = new Set<string>();
    for (const h of handles) {
      await p.recallMessage(topic, h.handle);
      recalled.add(h.id);
    }
    assert.equal(recalled.size, N / 100);
    // Kill while due messages are being delivered.
    await waitFor(
      () => arrived.size >= Number(process.env.TIMER_KILL_AT ?? 300),
      30_000,
      "deliveries under way",
    );
    const beforeKill = arrived.size;
    await sigkill();
    await startChildBroker();
    const expected = [...due.keys()].filter((id) => !recalled.has(id));
    // A sentinel due after all of them: when it is here, every slot before it was processed.
    const sentinelDue = t0 + 19_000;
    const sentinel = await p.send({ topic, body: Buffer.from("sentinel"), deliveryTimestamp: sentinelDue });
    await waitFor(
      () => arrived.has(sentinel.messageId) && expected.every((id) => arrived.has(id)),
      90_000,
      "every timer delivered after the restart",
    );
    for (const [id, a] of arrived) {
      const d = id === sentinel.messageId ? sentinelDue : due.get(id);
      assert.ok(d !== undefined, `unexpected message ${id}`);
      assert.ok(a.at >= d, `message ${id} arrived ${d - a.at} ms early`);
    }
    for (const id of recalled) assert.equal(arrived.has(id), false, `recalled message ${id} was delivered`);
    const dups = [...arrived.values()].filter((a) => a.times > 1).length;
    testLogger("timer-crash").info(`killed after ${beforeKill} deliveries; ${dups} delivered more than once`);
  } finally {
    await c.shutdown();
    await p.shutdown();
    killChild();
  }
});
