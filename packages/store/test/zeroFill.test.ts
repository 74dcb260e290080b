import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { decodeMessages } from "@tidemq/protocol";
import type { MessageStore } from "../src/index.js";
import { bodyBytes, msg, openStore, removeDir, tempDir } from "./helpers.js";

// Under SYNC_FLUSH the commit log writes zeros ahead of its end (so fdatasyncs find the
// blocks allocated); these tests check that the zeros never land on records.

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

/** Reads queue 0 of `topic` from offset 0 and returns the bodies. */
async function bodies(store: MessageStore, topic: string, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < 10_000 && out.length < count; i++) {
    const r = await store.getMessage(topic, 0, out.length, 256);
    assert.equal(r.status, "FOUND");
    for (const m of decodeMessages(r.body, { verifyCrc: true })) out.push(m.body);
  }
  return out;
}

test("SYNC_FLUSH: records written while zeros are filled ahead survive a restart intact", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  // 64 KiB segments: every roll starts a zero fill of the whole new segment while the
  // records of the same turn head for it, so data writes must wait for the fill.
  const cfg = { flushDiskType: "SYNC_FLUSH" as const, mappedFileSizeCommitLog: 64 * 1024 };
  const expected: Buffer[] = [];
  let store = await openStore(dir, cfg);
  try {
    const puts: Promise<{ status: string }>[] = [];
    // One batch of puts per event-loop turn, none awaited: later turns write while the
    // zero fill started by an earlier one is still in the thread pool.
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 8; i++) {
        const body = bodyBytes(round * 100 + i, 200 + ((round * 8 + i) % 7) * 300);
        expected.push(body);
        puts.push(store.putMessage(msg("ZeroFill", 0, body)));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const r of await Promise.all(puts)) assert.equal(r.status, "PUT_OK");
    assert.deepEqual(await bodies(store, "ZeroFill", expected.length), expected);
  } finally {
    await store.halt();
  }
  // A crash restart scans and validates every record from the last checkpoint.
  store = await openStore(dir, cfg);
  try {
    assert.deepEqual(await bodies(store, "ZeroFill", expected.length), expected);
  } finally {
    await store.shutdown();
  }
});

test("SYNC_FLUSH: the current segment has blocks allocated ahead of the log's end", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { flushDiskType: "SYNC_FLUSH", mappedFileSizeCommitLog: 64 << 20 });
  let end = 0;
  try {
    for (let i = 0; i < 20; i++) {
      const r = await store.putMessage(msg("ZeroFill", 0, bodyBytes(i, 1000)));
      end = r.commitLogOffset;
    }
  } finally {
    await store.shutdown(); // waits for the zero fill in flight
  }
  const seg = path.join(dir, "commitlog", "0".repeat(20));
  const st = fs.statSync(seg);
  assert.equal(st.size, 64 << 20, "segment sized up front");
  assert.ok(st.blocks * 512 >= end + 1024 * 1024, `${st.blocks * 512} bytes allocated, log ends near ${end}`);
});
