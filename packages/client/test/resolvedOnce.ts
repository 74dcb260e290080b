import assert from "node:assert/strict";
import { type Admin, ConsumeResult, PushConsumer, transactionStatus } from "../src/index.js";
import { FAST, testLogger, waitFor } from "./cluster.js";

/** Waits (at most `timeoutMs`) until the broker at `addr` reports no pending half. */
export async function settled(admin: Admin, addr: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const s = await transactionStatus(admin, addr).catch(() => undefined);
    if (s && s.pending === 0) return;
    if (Date.now() > deadline)
      assert.fail(`halves still pending after ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`halves still pending after 100,000 polls`);
}

export interface ResolvedOnceCheck {
  nsAddr: string;
  admin: Admin;
  brokerAddr: string;
  brokerName: string;
  /** A topic of 4 queues on that one broker; each half's id is its message's first key. */
  topic: string;
  /** The ids of the halves that were committed. */
  committed: string[];
  /** Whether a half was committed (its row written), for the ids a consumer gets. */
  isCommitted: (id: string) => boolean;
  /** A fresh consumer group, reading from the first offset. */
  consumerGroup: string;
}

/**
 * Each half resolved exactly once: the topic holds one record per committed half (its
 * queues' max offsets add up to their number), and a consumer gets every committed one and
 * no rolled-back one.
 */
export async function assertResolvedOnce(c: ResolvedOnceCheck): Promise<void> {
  // Every record of the topic, counted by offsets: exactly the committed ones, once each.
  let records = 0;
  for (let q = 0; q < 4; q++) {
    const mq = { topic: c.topic, brokerName: c.brokerName, queueId: q };
    records += await c.admin.getMaxOffset(c.brokerAddr, mq);
  }
  assert.equal(records, c.committed.length, "one record per committed half, none for a rolled-back one");
  const got = new Map<string, number>();
  const consumer = new PushConsumer({
    endpoints: c.nsAddr,
    consumerGroup: c.consumerGroup,
    subscriptions: new Map([[c.topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    messageListener: {
      consume(m) {
        got.set(m.keys[0]!, (got.get(m.keys[0]!) ?? 0) + 1);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("c"),
    ...FAST,
  });
  await consumer.startup();
  try {
    // Generous: on a loaded machine a fresh group's first pulls after a restart can be slow.
    await waitFor(() => got.size >= c.committed.length, 150_000, `${c.committed.length} committed orders`);
    for (const id of c.committed) assert.ok(got.has(id), `${id} committed and delivered`);
    for (const [id] of got) assert.ok(c.isCommitted(id), `${id} was rolled back but delivered`);
  } finally {
    await consumer.shutdown();
  }
}
