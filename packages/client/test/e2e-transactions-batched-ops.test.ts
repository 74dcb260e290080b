/**
 * Batched op records (one op record names every half a turn decided alike, as RocketMQ 5's
 * op messages do) through kill -9: a broker killed with END_TRANSACTION_BATCHes in flight
 * rebuilds from those batched records, the check-back settles the rest, and each half is
 * resolved exactly once — every committed one in its topic once, no rolled-back one ever.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Admin, Producer, type Transaction, TransactionResolution, transactionStatus } from "../src/index.js";
import { killChild, sigkill, spawnChildBroker } from "./childBroker.js";
import { FAST, TestCluster, testLogger, uniq } from "./cluster.js";
import { assertResolvedOnce, settled } from "./resolvedOnce.js";

let cluster: TestCluster;
let child: ChildProcess | undefined;
let admin: Admin;
const BROKER = "broker-txops";
const OP_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
// No checkpoint: every start-up reads every op record, so opsRead counts them all. Before the
// kill no half is checked (60 s), so every op record is a decision's; after it, 1 s.
const settings = (transactionTimeOut: number) =>
  JSON.stringify({
    transactionCheckInterval: 200,
    transactionTimeOut,
    transactionCheckMax: 1000,
    transactionCheckpointInterval: 0,
  });

before(async () => {
  cluster = await TestCluster.start([]);
  admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
});
after(async () => {
  killChild(child);
  await admin?.shutdown();
  await cluster?.stop();
});

function startBroker(transactionTimeOut: number): Promise<string> {
  const started = spawnChildBroker(
    cluster.nsAddr,
    BROKER,
    join(cluster.dir, BROKER),
    settings(transactionTimeOut),
  );
  child = started.child;
  return started.ready;
}

test("batched op records through kill -9: each half resolved exactly once, and far fewer op records than decisions", async () => {
  let addr = await startBroker(60_000);
  const topic = uniq("TxOps");
  await cluster.createTopic(topic, 4, [addr]);
  // The producer's local database: orders whose row was written (committed ones).
  const rows = new Set<string>();
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: uniq("TxOpsP"),
    topic,
    logger: testLogger("p"),
    ...FAST,
    checker: {
      check: (m) => (rows.has(m.keys[0]!) ? TransactionResolution.COMMIT : TransactionResolution.ROLLBACK),
    },
  });
  await p.startup();
  const sendHalves = async (from: number, n: number) =>
    Promise.all(
      Array.from({ length: n }, async (_, k) => {
        const id = `order-${from + k}`;
        // Decided before the half is sent: a check-back, whenever it comes, answers the truth.
        if ((from + k) % 2 === 0) rows.add(id);
        const tx: Transaction = p.beginTransaction();
        await p.send({ topic, keys: [id], body: id }, tx);
        return { id, tx };
      }),
    );
  const end = (txs: Array<{ id: string; tx: Transaction }>) =>
    Promise.all(txs.map(({ id, tx }) => (rows.has(id) ? tx.commit() : tx.rollback())));
  try {
    // 1. 120 decisions issued in one turn: one END_TRANSACTION_BATCH, stored as copies plus
    //    one op record per kind (commit, rollback) instead of 120.
    const first = await sendHalves(0, 120);
    const opsBefore = await admin.getMaxOffset(addr, { topic: OP_TOPIC, brokerName: BROKER, queueId: 0 });
    await end(first);
    const opsAfter = await admin.getMaxOffset(addr, { topic: OP_TOPIC, brokerName: BROKER, queueId: 0 });
    assert.equal(opsAfter - opsBefore, 2, "op records for 120 decisions (60 commits, 60 rollbacks)");

    // 2. 160 more halves, ended in 4 batches of 40, one after the other; the broker is killed
    //    the moment the second is acknowledged, with the third in flight. The fourth fails.
    const second = await sendHalves(120, 160);
    let batches = 0;
    let exited: Promise<unknown> | undefined;
    for (let b = 0; b < 4; b++) {
      const ok = await end(second.slice(b * 40, b * 40 + 40)).then(
        () => true,
        () => false,
      );
      if (!ok) break;
      if (++batches === 2) {
        const c = child!;
        exited = new Promise((res) => c.once("exit", res));
        c.kill("SIGKILL");
      }
    }
    await exited;
    assert.ok(batches >= 2 && batches <= 3, `${batches} batches acknowledged around the kill`);

    addr = await startBroker(1000);
    const s1 = await transactionStatus(admin, addr);
    assert.equal(s1.startup?.fromCheckpoint, false);
    // Every decision acknowledged before the kill (>= 200) is known from the batched op records
    // at once: 2 per batch (phase 1, and 2 or 3 batches of phase 2).
    assert.ok(s1.pending <= 160 - 40 * batches, `${s1.pending} pending after restart`);
    assert.ok((s1.startup?.opsRead ?? 0) <= 8, `${s1.startup?.opsRead} op records read for >= 200 decisions`);
    await settled(admin, addr);

    // 3. Once more with everything resolved: nothing is decided again.
    await sigkill(child!);
    addr = await startBroker(1000);
    const s2 = await transactionStatus(admin, addr);
    assert.equal(s2.pending, 0, "nothing pending after a second restart");

    const all = [...first, ...second];
    await assertResolvedOnce({
      nsAddr: cluster.nsAddr,
      admin,
      brokerAddr: addr,
      brokerName: BROKER,
      topic,
      committed: all.filter((t) => rows.has(t.id)).map((t) => t.id),
      isCommitted: (id) => rows.has(id),
      consumerGroup: uniq("TxOpsC"),
    });
  } finally {
    await p.shutdown();
  }
});
