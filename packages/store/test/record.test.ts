import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  decodeMessage,
  decodeMessages,
  decodeOffsetMsgId,
  encodeMessage,
  ResponseCode,
  tagsHashCode,
} from "@tidemq/protocol";
import { StoreError } from "../src/index.js";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

test("stored records are byte-identical to the protocol's encodeMessage and carry store fields", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    const m = msg("TopicA", 2, "hello", { TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "U1" });
    m.flag = 7;
    m.sysFlag = 0;
    m.reconsumeTimes = 3;
    const r = await store.putMessage(m);
    assert.equal(r.status, "PUT_OK");
    assert.equal(r.queueOffset, 0);
    assert.equal(r.commitLogOffset, 0);
    const r2 = await store.putMessage(msg("TopicA", 2, "second"));
    assert.equal(r2.queueOffset, 1);
    assert.equal(r2.commitLogOffset, r.commitLogOffset + (await store.lookMessageByOffset(0))!.length);
    const got = await store.getMessage("TopicA", 2, 0, 32);
    assert.equal(got.status, "FOUND");
    assert.equal(got.messageCount, 2);
    assert.deepEqual(got.queueOffsets, [0, 1]);
    const [a] = decodeMessages(got.body, { verifyCrc: true });
    assert.ok(a);
    assert.equal(a.body.toString(), "hello");
    assert.equal(a.flag, 7);
    assert.equal(a.reconsumeTimes, 3);
    assert.equal(a.queueId, 2);
    assert.equal(a.queueOffset, 0);
    assert.equal(a.commitLogOffset, 0);
    assert.equal(a.storeTimestamp, r.storeTimestamp);
    assert.deepEqual(a.storeHost, { host: "10.1.2.3", port: 10911 });
    assert.deepEqual(a.bornHost, { host: "192.168.0.7", port: 40000 });
    assert.deepEqual(a.properties, { TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "U1" });
    assert.equal(a.msgId, r.msgIds[0]);
    assert.deepEqual(decodeOffsetMsgId(r.msgIds[0]!), {
      storeHost: { host: "10.1.2.3", port: 10911 },
      commitLogOffset: 0,
    });
    const again = encodeMessage({ ...a, properties: a.properties });
    assert.ok(
      again.equals(got.body.subarray(0, a.storeSize)),
      "writeRecord and encodeMessage agree byte for byte",
    );
  } finally {
    await store.shutdown();
  }
});

test("a batch is contiguous with consecutive queue offsets; filters see tag hash codes", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    await store.putMessage(msg("T", 0, "x"));
    const batch = Array.from({ length: 10 }, (_, i) =>
      msg("T", 0, `b${i}`, { TAGS: i % 2 ? "odd" : "even" }),
    );
    const r = await store.putMessages(batch);
    assert.equal(r.count, 10);
    assert.equal(r.queueOffset, 1);
    assert.equal(r.msgIds.length, 10);
    let expected = r.commitLogOffset;
    for (const id of r.msgIds) {
      const off = decodeOffsetMsgId(id).commitLogOffset;
      assert.equal(off, expected);
      expected += (await store.lookMessageByOffset(off))!.length;
    }
    const odd = tagsHashCode("odd");
    const g = await store.getMessage("T", 0, 0, 32, (code) => code === odd);
    assert.equal(g.status, "FOUND");
    assert.equal(g.messageCount, 5);
    assert.deepEqual(g.queueOffsets, [2, 4, 6, 8, 10]);
    assert.equal(g.nextBeginOffset, 11);
    const none = await store.getMessage("T", 0, 0, 32, () => false);
    assert.equal(none.status, "NO_MATCHED_MESSAGE");
    assert.equal(none.nextBeginOffset, 11);
  } finally {
    await store.shutdown();
  }
});

test("getMessage statuses follow RocketMQ for empty, too small, overflow and maxBytes", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    assert.equal((await store.getMessage("T", 0, 0, 32)).status, "NO_MESSAGE_IN_QUEUE");
    for (let i = 0; i < 5; i++) await store.putMessage(msg("T", 0, Buffer.alloc(1000, i)));
    assert.equal((await store.getMessage("T", 0, 5, 32)).status, "OFFSET_OVERFLOW_ONE");
    const bad = await store.getMessage("T", 0, 9, 32);
    assert.equal(bad.status, "OFFSET_OVERFLOW_BADLY");
    assert.equal(bad.nextBeginOffset, 0);
    const limited = await store.getMessage("T", 0, 0, 32, undefined, 2500);
    assert.equal(limited.messageCount, 2);
    assert.equal(limited.nextBeginOffset, 2);
    const one = await store.getMessage("T", 0, 0, 32, undefined, 10);
    assert.equal(one.messageCount, 1, "at least one message even when it exceeds maxBytes");
    assert.equal(store.getMaxOffsetInQueue("T", 0), 5);
    assert.equal(store.getMinOffsetInQueue("T", 0), 0);
    assert.equal(await store.lookMessageByOffset(123), undefined);
    assert.equal(await store.lookMessageByOffset(10 ** 12), undefined);
  } finally {
    await store.shutdown();
  }
});

test("bad input is refused with MESSAGE_ILLEGAL, a stopped store with SERVICE_NOT_AVAILABLE", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { maxMessageSize: 1000 });
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return -1;
    } catch (err) {
      assert.ok(err instanceof StoreError, String(err));
      return err.code;
    }
  };
  assert.equal(await code(store.putMessage(msg("T", 0, Buffer.alloc(1001)))), ResponseCode.MESSAGE_ILLEGAL);
  assert.equal(
    await code(store.putMessage(msg("T", 0, "x", { "a\u0001b": "c" }))),
    ResponseCode.MESSAGE_ILLEGAL,
  );
  assert.equal(await code(store.putMessage(msg("T".repeat(128), 0, "x"))), ResponseCode.MESSAGE_ILLEGAL);
  assert.equal(await code(store.putMessage(msg("T", -1, "x"))), ResponseCode.MESSAGE_ILLEGAL);
  assert.equal(await code(store.putMessage(msg("../etc", 0, "x"))), ResponseCode.MESSAGE_ILLEGAL);
  assert.equal(await code(store.putMessage(msg("..", 0, "x"))), ResponseCode.MESSAGE_ILLEGAL);
  assert.equal(
    await code(store.putMessages([msg("T", 0, "x"), msg("U", 0, "y")])),
    ResponseCode.MESSAGE_ILLEGAL,
  );
  assert.equal(await code(store.putMessages([])), ResponseCode.MESSAGE_ILLEGAL);
  assert.equal(
    await code(store.putMessage(msg("T", 0, "x", { P: "v".repeat(40000) }))),
    ResponseCode.MESSAGE_ILLEGAL,
  );
  assert.equal((await store.putMessage(msg("T", 0, Buffer.alloc(1000)))).status, "PUT_OK");
  await store.shutdown();
  assert.equal(await code(store.putMessage(msg("T", 0, "x"))), ResponseCode.SERVICE_NOT_AVAILABLE);
});

test("prepared and rolled-back transaction records get queue offset 0 and no consume-queue entry", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    await store.putMessage(msg("T", 0, "a"));
    const prepared = msg("T", 0, "half");
    prepared.sysFlag = 0x4;
    const r = await store.putMessage(prepared);
    assert.equal(r.queueOffset, 0);
    await store.putMessage(msg("T", 0, "b"));
    assert.equal(store.getMaxOffsetInQueue("T", 0), 2);
    const rec = await store.lookMessageByOffset(r.commitLogOffset);
    assert.equal(decodeMessage(rec!).body.toString(), "half");
  } finally {
    await store.shutdown();
  }
});
