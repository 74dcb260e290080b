import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { decodeMessage, decodeMessages, MAGIC_BLANK } from "@tidemq/protocol";
import { bodyBytes, msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

test("segments roll over with an end-of-file blank record and 20-digit start-offset names", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  const offsets: number[] = [];
  try {
    for (let i = 0; i < 60; i++) {
      const r = await store.putMessage(msg("Roll", i % 3, bodyBytes(i, 50_000)));
      offsets.push(r.commitLogOffset);
    }
    for (let i = 1; i < offsets.length; i++)
      assert.ok(offsets[i]! > offsets[i - 1]!, "physical offsets grow");
  } finally {
    await store.shutdown();
  }
  const cl = path.join(dir, "commitlog");
  const names = fs.readdirSync(cl).sort();
  assert.ok(names.length >= 3, `several segments: ${names.join(",")}`);
  names.forEach((n, i) => {
    assert.equal(n, String(i * 1024 * 1024).padStart(20, "0"));
  });
  for (const n of names) assert.equal(fs.statSync(path.join(cl, n)).size, 1024 * 1024);
  // Segment 0 ends with a blank record covering exactly the rest of the file.
  const seg0 = fs.readFileSync(path.join(cl, names[0]!));
  let pos = 0;
  while (seg0.readInt32BE(pos + 4) !== MAGIC_BLANK)
    pos += decodeMessage(seg0, pos, { verifyCrc: true }).storeSize;
  assert.equal(seg0.readInt32BE(pos), seg0.length - pos);
  assert.ok(seg0.length - pos >= 8);
  // A record never spans files: every acknowledged offset is readable and decodes.
  const reopened = await openStore(dir);
  try {
    for (const off of offsets) {
      const rec = await reopened.lookMessageByOffset(off);
      assert.ok(rec, `record at ${off}`);
      const m = decodeMessage(rec, 0, { verifyCrc: true });
      assert.equal(m.commitLogOffset, off);
      assert.ok(Math.floor(off / (1024 * 1024)) === Math.floor((off + m.storeSize - 1) / (1024 * 1024)));
    }
    let total = 0;
    for (let q = 0; q < 3; q++) {
      const g = await reopened.getMessage("Roll", q, 0, 100);
      assert.equal(g.messageCount, 20);
      total += decodeMessages(g.body, { verifyCrc: true }).length;
    }
    assert.equal(total, 60);
  } finally {
    await reopened.shutdown();
  }
});

test("a record larger than a segment gets a segment of its own; reads stay correct", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir);
  try {
    await store.putMessage(msg("Big", 0, "small"));
    const big = bodyBytes(7, 3 * 1024 * 1024);
    const r = await store.putMessage(msg("Big", 0, big));
    await store.putMessage(msg("Big", 0, "after"));
    assert.equal(r.commitLogOffset, 1024 * 1024, "the big record starts a new segment");
    const g = await store.getMessage("Big", 0, 0, 10);
    const ms = decodeMessages(g.body, { verifyCrc: true });
    assert.deepEqual(
      ms.map((m) => m.body.length),
      [5, big.length, 5],
    );
    assert.ok(ms[1]!.body.equals(big));
  } finally {
    await store.shutdown();
  }
  const names = fs.readdirSync(path.join(dir, "commitlog")).sort();
  assert.ok(names.length >= 2);
  const bigSize = fs.statSync(path.join(dir, "commitlog", names[1]!)).size;
  assert.ok(bigSize > 3 * 1024 * 1024);
  for (let i = 0; i + 1 < names.length; i++) {
    const size = fs.statSync(path.join(dir, "commitlog", names[i]!)).size;
    assert.equal(Number(names[i + 1]), Number(names[i]) + size, "segments follow each other");
  }
  const again = await openStore(dir);
  try {
    assert.equal(again.getMaxOffsetInQueue("Big", 0), 3);
    const g = await again.getMessage("Big", 0, 1, 1);
    assert.ok(decodeMessage(g.body, 0, { verifyCrc: true }).body.length === 3 * 1024 * 1024);
  } finally {
    await again.shutdown();
  }
});

test("old data is read from files after it left the in-memory tail; pulls come back as one buffer", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { maxTailCacheBytes: 0, writeBlockBytes: 64 * 1024 });
  try {
    const bodies: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const b = bodyBytes(i, 500 + (i % 7) * 100);
      bodies.push(b);
      await store.putMessages([msg("R", i % 2, b)]);
    }
    for (let q = 0; q < 2; q++) {
      let offset = 0;
      let seen = 0;
      for (let i = 0; i < 100 && offset < store.getMaxOffsetInQueue("R", q); i++) {
        const g = await store.getMessage("R", q, offset, 32);
        assert.equal(g.status, "FOUND");
        const ms = decodeMessages(g.body, { verifyCrc: true });
        assert.equal(ms.length, g.messageCount);
        for (const m of ms) {
          assert.ok(m.body.equals(bodies[m.queueOffset * 2 + q]!));
          seen++;
        }
        offset = g.nextBeginOffset;
      }
      assert.equal(seen, 200);
    }
  } finally {
    await store.shutdown();
  }
});
