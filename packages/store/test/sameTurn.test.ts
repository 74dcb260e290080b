import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { PutResult } from "../src/index.js";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

/**
 * Starts `start()` right after queueing a setImmediate, and tells whether its promise settled
 * before that immediate ran: in the same turn, without waiting for a later loop phase.
 */
function settlesInSameTurn(start: () => Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    setImmediate(() => resolve(settled));
    start().then(() => {
      settled = true;
    });
  });
}

test("ASYNC_FLUSH: a put is written and acknowledged in the turn it was made in", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { flushDiskType: "ASYNC_FLUSH" });
  try {
    // The first put opens the segment file (asynchronously); time the ones after it.
    await store.putMessage(msg("T", 0, "warm-up"));
    for (let i = 0; i < 3; i++) {
      let put: Promise<PutResult> | undefined;
      const sameTurn = await settlesInSameTurn(() => {
        put = store.putMessage(msg("T", 0, `m${i}`));
        return put;
      });
      assert.equal(sameTurn, true, "acknowledged without waiting for a later loop phase");
      const r = await put!;
      // Acknowledged means written to the file (page cache): a kill -9 cannot lose it.
      assert.ok(store.stats.confirmedOffset > r.commitLogOffset);
      assert.ok(await store.lookMessageByOffset(r.commitLogOffset));
    }
    // Puts of one turn still share one append and are acknowledged together.
    let puts: Promise<PutResult>[] = [];
    const sameTurn = await settlesInSameTurn(() => {
      puts = [0, 1, 2, 3].map((i) => store.putMessage(msg("T", 0, `same-turn-${i}`)));
      return Promise.all(puts);
    });
    assert.equal(sameTurn, true);
    const offsets = (await Promise.all(puts)).map((r) => r.queueOffset);
    assert.deepEqual(offsets, [4, 5, 6, 7]);
  } finally {
    await store.shutdown();
  }
});

test("SYNC_FLUSH: a put is acknowledged only once the flushed offset covers it", async () => {
  const dir = await tempDir();
  dirs.push(dir);
  const store = await openStore(dir, { flushDiskType: "SYNC_FLUSH" });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await store.putMessage(msg("T", 0, `s${i}`));
      assert.equal(r.status, "PUT_OK");
      assert.ok(store.stats.flushedOffset > r.commitLogOffset, "fdatasync covered the record before the ack");
    }
  } finally {
    await store.shutdown();
  }
});
