import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeMessage, decodeOffsetMsgId, ResponseCode, tagsHashCode } from "@tidemq/protocol";
import { putInt, putLong } from "../src/BigEndian.js";
import { type MessageInput, StoreError } from "../src/index.js";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

test("putMessagesBatch: independent messages of many queues, one result each, in order", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    await store.putMessage(msg("A", 0, "before"));
    const input: MessageInput[] = [];
    for (let i = 0; i < 30; i++) {
      input.push(msg(i % 3 === 0 ? "A" : "B", i % 2, `m${i}`, { TAGS: `t${i % 4}`, KEYS: `k${i}` }));
    }
    const rs = await store.putMessagesBatch(input);
    assert.equal(rs.length, input.length);
    const next = new Map<string, number>([["A\u00000", 1]]);
    let offset = rs[0]!.commitLogOffset;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      const m = input[i]!;
      assert.equal(r.status, "PUT_OK");
      assert.equal(r.count, 1);
      assert.equal(r.msgIds.length, 1);
      assert.equal(r.commitLogOffset, offset, "records are contiguous, in input order");
      assert.equal(decodeOffsetMsgId(r.msgIds[0]!).commitLogOffset, r.commitLogOffset);
      const key = `${m.topic}\u0000${m.queueId}`;
      const qo = next.get(key) ?? 0;
      assert.equal(r.queueOffset, qo, `message ${i}: consecutive queue offsets per queue`);
      next.set(key, qo + 1);
      const rec = await store.lookMessageByOffset(r.commitLogOffset);
      assert.ok(rec);
      const d = decodeMessage(rec, 0, { verifyCrc: true });
      assert.equal(d.topic, m.topic);
      assert.equal(d.queueId, m.queueId);
      assert.equal(d.queueOffset, qo);
      assert.equal(d.body.toString(), `m${i}`);
      assert.equal(d.storeTimestamp, r.storeTimestamp);
      offset += rec.length;
    }
    // Consume queues and the index got every message.
    for (const [key, max] of next) {
      const [topic, q] = key.split("\u0000");
      assert.equal(store.getMaxOffsetInQueue(topic!, Number(q)), max);
    }
    const got = await store.getMessage("B", 1, 0, 100, (code) => code === tagsHashCode("t1"));
    assert.equal(got.status, "FOUND");
    assert.ok(got.messageCount > 0);
    const byKey = await store.queryMessage("B", "k7", 10, 0, Date.now() + 1000);
    assert.equal(byKey.messages.length, 1);
    assert.equal(decodeMessage(byKey.messages[0]!, 0).body.toString(), "m7");
    assert.deepEqual(await store.putMessagesBatch([]), []);
  } finally {
    await store.shutdown();
  }
  // Survives a restart like any other put.
  const again = await openStore(dir);
  try {
    assert.equal(again.getMaxOffsetInQueue("A", 0), 6);
    const r = await again.putMessagesBatch([msg("A", 0, "after")]);
    assert.equal(r[0]!.queueOffset, 6);
    // msgIds: false — the same records and offsets (B 1 holds 10 already), results without ids.
    const quiet = await again.putMessagesBatch([msg("A", 0, "q1"), msg("B", 1, "q2")], { msgIds: false });
    assert.deepEqual(
      quiet.map((x) => [x.queueOffset, x.count, x.msgIds.length]),
      [
        [7, 1, 0],
        [10, 1, 0],
      ],
    );
    const rec = await again.lookMessageByOffset(quiet[1]!.commitLogOffset);
    assert.equal(decodeMessage(rec!, 0, { verifyCrc: true }).body.toString(), "q2");
  } finally {
    await again.shutdown();
  }
});

test("putMessagesBatch: one bad message refuses the whole call and stores nothing", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { maxMessageSize: 1024 });
  try {
    const before = store.stats.commitLogMaxOffset;
    const bad: MessageInput[][] = [
      [msg("A", 0, "ok"), msg("A", 0, Buffer.alloc(2048))],
      [msg("A", 0, "ok"), msg("../x", 0, "bad topic")],
      [msg("A", 0, "ok"), msg("A", -1, "bad queue")],
      [msg("A", 0, "ok"), msg("A", 0, "bad props", { K: "a\u0001b" })],
      [msg("A", 0, "ok"), { ...msg("A", 0, "x"), body: "not a buffer" as unknown as Buffer }],
    ];
    for (const b of bad) {
      await assert.rejects(
        store.putMessagesBatch(b),
        (e: unknown) => e instanceof StoreError && e.code === ResponseCode.MESSAGE_ILLEGAL,
      );
    }
    await store.putMessage(msg("A", 0, "fine"));
    assert.equal(store.getMaxOffsetInQueue("A", 0), 1, "no queue offset was taken by a refused batch");
    const rec = await store.lookMessageByOffset(before);
    assert.equal(decodeMessage(rec!, 0).body.toString(), "fine");
  } finally {
    await store.shutdown();
  }
});

test("putMessagesBatch under SYNC_FLUSH resolves after the covering fsync; visible only then", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { flushDiskType: "SYNC_FLUSH" });
  try {
    const batches = await Promise.all(
      Array.from({ length: 8 }, (_, b) =>
        store.putMessagesBatch(Array.from({ length: 16 }, (_, i) => msg("S", i % 4, `b${b}-${i}`))),
      ),
    );
    for (const rs of batches) {
      for (const r of rs) {
        assert.equal(r.status, "PUT_OK");
        assert.ok(store.stats.flushedOffset > r.commitLogOffset, "acknowledged after the fsync");
      }
    }
    for (let q = 0; q < 4; q++) assert.equal(store.getMaxOffsetInQueue("S", q), 32);
    assert.equal(store.stats.confirmedOffset, store.stats.flushedOffset);
  } finally {
    await store.shutdown();
  }
});

test("many small concurrent puts: every put answered once, queue offsets dense, records intact", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    const n = 3000;
    const rs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        i % 3 === 0
          ? store.putMessages([msg("C", i % 4, `x${i}`), msg("C", i % 4, `y${i}`)])
          : i % 3 === 1
            ? store.putMessagesBatch([msg("C", i % 4, `x${i}`), msg("D", 0, `z${i}`)])
            : store.putMessage(msg("C", i % 4, `x${i}`)),
      ),
    );
    assert.equal(rs.length, n);
    let total = 0;
    for (let q = 0; q < 4; q++) {
      const max = store.getMaxOffsetInQueue("C", q);
      total += max;
      let off = 0;
      for (let guard = 0; off < max && guard < 1000; guard++) {
        const got = await store.getMessage("C", q, off, 256);
        assert.equal(got.status, "FOUND");
        let p = 0;
        for (let k = 0; k < got.messageCount; k++) {
          const d = decodeMessage(got.body, p, { verifyCrc: true });
          assert.equal(d.queueOffset, off + k);
          assert.equal(d.queueId, q);
          p += d.storeSize;
        }
        off = got.nextBeginOffset;
      }
      assert.equal(off, max);
    }
    assert.equal(total, (n / 3) * 2 + (n / 3) * 1 + n / 3);
    assert.equal(store.getMaxOffsetInQueue("D", 0), n / 3);
  } finally {
    await store.shutdown();
  }
});

test("BigEndian putInt/putLong agree with Buffer's writers (negative, large, edge values)", () => {
  const longs = [0, 1, -1, 255, 256, -2147483648, 2147483647, 4294967295, 4294967296, -4294967297];
  longs.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1_099_511_627_776 + 12345);
  const a = Buffer.alloc(8);
  const b = Buffer.alloc(8);
  for (const v of longs) {
    putLong(a, 0, v);
    b.writeBigInt64BE(BigInt(v));
    assert.ok(a.equals(b), `putLong(${v})`);
  }
  for (const v of [0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678]) {
    putInt(a, 2, v);
    b.writeInt32BE(v, 2);
    assert.ok(a.subarray(2, 6).equals(b.subarray(2, 6)), `putInt(${v})`);
  }
});
