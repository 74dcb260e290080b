import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeMessage } from "@tidemq/protocol";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("queryMessage finds KEYS tokens and UNIQ_KEY within a time range, across restarts and index files", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  let store = await openStore(dir, { maxIndexEntriesPerFile: 50 });
  const t0 = Date.now();
  for (let i = 0; i < 120; i++) {
    await store.putMessage(
      msg("Q", i % 4, `m${i}`, { KEYS: `order-${i % 10} cust-${i}`, UNIQ_KEY: `U${i}` }),
    );
  }
  await store.putMessage(msg("Other", 0, "other", { KEYS: "order-1" }));
  const t1 = Date.now();
  const check = async () => {
    const r = await store.queryMessage("Q", "order-3", 64, t0 - 1, t1 + 1);
    assert.equal(r.messages.length, 12);
    const bodies = r.messages.map((b) => decodeMessage(b).body.toString()).sort();
    assert.deepEqual(bodies, Array.from({ length: 12 }, (_, k) => `m${k * 10 + 3}`).sort());
    const u = await store.queryMessage("Q", "U77", 64, t0 - 1, t1 + 1);
    assert.equal(u.messages.length, 1);
    assert.equal(decodeMessage(u.messages[0]!).body.toString(), "m77");
    assert.equal((await store.queryMessage("Q", "cust-5", 64, t0 - 1, t1 + 1)).messages.length, 1);
    assert.equal((await store.queryMessage("Q", "nope", 64, t0 - 1, t1 + 1)).messages.length, 0);
    assert.equal((await store.queryMessage("Q", "order-3", 64, t1 + 10_000, t1 + 20_000)).messages.length, 0);
    assert.equal((await store.queryMessage("Q", "order-3", 5, t0 - 1, t1 + 1)).messages.length, 5);
    assert.equal((await store.queryMessage("Other", "order-1", 64, t0 - 1, t1 + 1)).messages.length, 1);
    assert.ok(r.indexLastUpdatePhyoffset > 0);
    assert.ok(r.indexLastUpdateTimestamp >= t0);
  };
  await check();
  await store.shutdown();
  store = await openStore(dir, { maxIndexEntriesPerFile: 50 });
  await check();
  await store.halt();
  store = await openStore(dir, { maxIndexEntriesPerFile: 50 });
  await check();
  await store.shutdown();
});

test("offset by time, earliest time, store timestamps", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    assert.equal(await store.getOffsetInQueueByTime("Tm", 0, Date.now()), 0, "empty queue: 0");
    assert.equal(await store.getEarliestMessageTime("Tm", 0), -1);
    const stamps: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await store.putMessage(msg("Tm", 0, `x${i}`));
      stamps.push(r.storeTimestamp);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 15));
    }
    assert.equal(await store.getEarliestMessageTime("Tm", 0), stamps[0]);
    assert.equal(await store.getMessageStoreTimestamp("Tm", 0, 12), stamps[12]);
    assert.equal(await store.getMessageStoreTimestamp("Tm", 0, 30), -1);
    assert.equal(await store.getOffsetInQueueByTime("Tm", 0, 0), 0);
    assert.equal(
      await store.getOffsetInQueueByTime("Tm", 0, stamps[29]! + 1000),
      30,
      "after the last: max offset",
    );
    const at = stamps[10]!;
    const expected = stamps.findIndex((s) => s >= at);
    assert.equal(await store.getOffsetInQueueByTime("Tm", 0, at), expected);
    assert.ok(store.stats.earliestMessageTimeStamp > 0);
  } finally {
    await store.shutdown();
  }
});

test("SYNC_FLUSH: a put resolves after the fsync that covers it; arrival is announced after it is visible", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { flushDiskType: "SYNC_FLUSH" });
  try {
    const arrived: [string, number, number][] = [];
    store.onMessageArrived((t, q, max) => {
      arrived.push([t, q, max]);
      assert.ok(store.getMaxOffsetInQueue(t, q) >= max, "visible when announced");
      assert.ok(store.stats.flushedOffset >= store.stats.confirmedOffset);
    });
    const rs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.putMessage(msg("S", i % 2, `s${i}`))),
    );
    for (const r of rs) {
      assert.equal(r.status, "PUT_OK");
      assert.ok(store.stats.flushedOffset > r.commitLogOffset);
    }
    await until(() => arrived.some(([, q, max]) => q === 0 && max === 25));
    assert.equal(store.getMaxOffsetInQueue("S", 0), 25);
    assert.equal(store.stats.confirmedOffset, store.stats.flushedOffset);
  } finally {
    await store.shutdown();
  }
});

test("deleteTopics removes the topic's consume queues", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    await store.putMessage(msg("Del", 0, "a"));
    await store.putMessage(msg("Keep", 0, "b"));
    await store.deleteTopics(["Del"]);
    assert.equal(store.getMaxOffsetInQueue("Del", 0), 0);
    assert.equal(store.getMaxOffsetInQueue("Keep", 0), 1);
    const r = await store.putMessage(msg("Del", 0, "c"));
    assert.equal(r.queueOffset, 0);
  } finally {
    await store.shutdown();
  }
});
