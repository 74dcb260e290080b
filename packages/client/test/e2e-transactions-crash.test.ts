/**
 * Transactions through a broker killed with SIGKILL while half messages are pending and
 * while END_TRANSACTION requests are being stored: after the restart, the check-back settles
 * every half from the producer's own records, and each half is resolved exactly once —
 * every committed one is in its topic once, no rolled-back one ever.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Admin, Producer, type Transaction, TransactionResolution, transactionStatus } from "../src/index.js";
import { killChild, sigkill, spawnChildBroker } from "./childBroker.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";
import { assertResolvedOnce, settled } from "./resolvedOnce.js";

let cluster: TestCluster;
let child: ChildProcess | undefined;
let admin: Admin;
const SETTINGS = JSON.stringify({
  transactionCheckInterval: 200,
  transactionTimeOut: 1000,
  transactionCheckMax: 1000,
  // Checkpoints often: the kill can land right after one, with END_TRANSACTIONs after it.
  transactionCheckpointInterval: 100,
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

async function startBroker(): Promise<string> {
  const started = spawnChildBroker(cluster.nsAddr, "broker-tx", join(cluster.dir, "broker-tx"), SETTINGS);
  child = started.child;
  return started.ready;
}

async function killBroker(): Promise<void> {
  await sigkill(child!);
}

test("kill -9 with halves pending and commits in flight: after restart each half is resolved exactly once", async () => {
  let addr = await startBroker();
  const topic = uniq("TxCrash");
  await cluster.createTopic(topic, 4, [addr]);
  // The producer's local database: the orders whose row was written. Even ones commit.
  const N = 300;
  const rows = new Set<string>();
  // Until the rows are written the local transactions are open: a check-back then must get
  // UNKNOWN (ask again later). The broker checks halves older than transactionTimeOut (1 s),
  // and sending 300 halves can take longer than that, so without this the first halves were
  // rolled back although their rows were about to be written (25 or 75 orders short).
  let decided = false;
  let checksWhileOpen = 0;
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: uniq("TxCrashP"),
    topic,
    logger: testLogger("p"),
    ...FAST,
    checker: {
      check: (m) => {
        if (!decided) {
          checksWhileOpen++;
          return TransactionResolution.UNKNOWN;
        }
        return rows.has(m.keys[0]!) ? TransactionResolution.COMMIT : TransactionResolution.ROLLBACK;
      },
    },
  });
  await p.startup();
  try {
    const txs: Array<{ id: string; tx: Transaction; msgId: string }> = [];
    for (let i = 0; i < N; i += 50) {
      const part = await Promise.all(
        Array.from({ length: 50 }, async (_, k) => {
          const id = `order-${i + k}`;
          const tx = p.beginTransaction();
          const r = await p.send({ topic, keys: [id], body: id }, tx);
          return { id, tx, msgId: r.messageId };
        }),
      );
      txs.push(...part);
    }
    // Every run covers a check-back that comes while the local transactions are still open.
    await waitFor(() => checksWhileOpen > 0, 30_000, "a check-back while the local transactions are open");
    for (let i = 0; i < N; i += 2) rows.add(`order-${i}`);
    decided = true;
    // Two thirds get their END_TRANSACTION now, in 4 lanes of sequential requests; the broker
    // is killed the moment the 40th is acknowledged, with up to 4 more in flight. The rest
    // (the ones cut, the ones after, and the third never ended) are settled by the check-back.
    const toEnd = txs.filter((_, i) => i % 3 !== 2);
    let ended = 0;
    let failed = 0;
    let exited: Promise<unknown> | undefined;
    const lane = async (k: number) => {
      for (let i = k; i < toEnd.length; i += 4) {
        const { id, tx } = toEnd[i]!;
        await (rows.has(id) ? tx.commit() : tx.rollback()).then(
          () => {
            if (++ended === 40) {
              const c = child!;
              exited = new Promise((res) => c.once("exit", res));
              c.kill("SIGKILL");
            }
          },
          () => {
            failed++;
          },
        );
      }
    };
    await Promise.all([0, 1, 2, 3].map(lane));
    await exited;
    assert.ok(ended >= 40 && ended <= 44, `${ended} END_TRANSACTIONs acknowledged before the kill`);
    assert.equal(failed, toEnd.length - ended);

    addr = await startBroker();
    // The check-back asks the producer about every half still pending, and commits or rolls back.
    await settled(admin, addr);

    // Kill once more with everything resolved: a second recovery (from whatever checkpoint was
    // written last, plus the records after it) must not resolve anything again.
    await killBroker();
    addr = await startBroker();
    const s = await transactionStatus(admin, addr);
    assert.equal(s.pending, 0, "nothing pending after a second restart");
    assert.ok(s.startup, "start-up reported");

    await assertResolvedOnce({
      nsAddr: cluster.nsAddr,
      admin,
      brokerAddr: addr,
      brokerName: "broker-tx",
      topic,
      committed: txs.filter((t) => rows.has(t.id)).map((t) => t.id),
      isCommitted: (id) => rows.has(id),
      consumerGroup: uniq("TxCrashC"),
    });
  } finally {
    await p.shutdown();
  }
});
