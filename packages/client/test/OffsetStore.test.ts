import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LocalOffsetStore, OffsetTable } from "../src/index.js";
import { RemoteBrokerOffsetStore } from "../src/OffsetStore.js";

const mq0 = { topic: "T", brokerName: "a", queueId: 0 };
const mq1 = { topic: "T", brokerName: "b", queueId: 1 };

test("OffsetTable: increase-only updates never go back; plain updates do", () => {
  const t = new OffsetTable();
  assert.equal(t.read(mq0), undefined);
  t.update(mq0, 10, true);
  t.update(mq0, 5, true);
  assert.equal(t.read(mq0), 10);
  t.update(mq0, 3, false);
  assert.equal(t.read(mq0), 3);
  t.update(mq0, -1, false);
  assert.equal(t.read(mq0), 3, "negative offsets are ignored");
  t.remove(mq0);
  assert.equal(t.read(mq0), undefined);
});

test("LocalOffsetStore keeps broadcast offsets in a file across restarts", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-offsets-"));
  try {
    const path = join(dir, "sub", "offsets.json");
    const a = new LocalOffsetStore(path);
    await a.load();
    assert.equal(await a.readFromStore(mq0), -1);
    a.update(mq0, 7, true);
    a.update(mq1, 3, true);
    await a.persistAll([mq0]);
    const b = new LocalOffsetStore(path);
    await b.load();
    assert.equal(await b.readFromStore(mq0), 7);
    assert.equal(await b.readFromStore(mq1), 3, "every known queue is written");
    assert.ok(JSON.parse(await readFile(path, "utf8")).offsetTable);
    // A corrupt file means "first boot", not a crash.
    await writeFile(path, "{not json");
    const c = new LocalOffsetStore(path);
    await c.load();
    assert.equal(await c.readFromStore(mq0), -1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("LocalOffsetStore without a path stays in memory", async () => {
  const s = new LocalOffsetStore(undefined);
  await s.load();
  s.update(mq0, 4, false);
  await s.persistAll([mq0]);
  assert.equal(await s.readFromStore(mq0), 4);
});

test("RemoteBrokerOffsetStore: unchanged offsets are not re-sent, but an explicit set always is", async () => {
  const commits: number[] = [];
  const store = new RemoteBrokerOffsetStore({
    query: async () => -1,
    commit: async (_mq, offset) => {
      commits.push(offset);
    },
  });
  const mq = { topic: "T", brokerName: "b", queueId: 0 };
  store.update(mq, 0, false);
  await store.persistAll([mq]);
  await store.persistAll([mq]);
  store.update(mq, 5, true);
  await store.persistAll([mq]);
  store.update(mq, 5, true);
  await store.persistAll([mq]);
  assert.deepEqual(commits, [0, 5]);
  // A reset to the value last committed: the broker may hold another one by now, so it goes out.
  store.update(mq, 5, false);
  await store.persistAll([mq]);
  assert.deepEqual(commits, [0, 5, 5]);
});
