/**
 * A de-dup window entry that does not read back as its key's message (a hash collision, or
 * an entry that outlived its record) must never cost a duplicate: lookups answer with the
 * oldest entry of a key, so such an entry older than the one of the real stored copy used to
 * make the resend be stored again. After a read-back miss the next younger entry of the key
 * is tried. Real MessageStore; the stale entries are made by entering a key at the offset of
 * another stored record.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import type { MessageStore, PutResult } from "@tidemq/store";
import { type DuplicateDetector, type OriginalSend, recordOffset } from "../src/dedup/DuplicateDetector.js";
import { withDetectorStore } from "./detectorStore.js";
import { keyedInput } from "./helpers.js";

const logger = createLogger("dedup-stale", "warn");

/** A client-format UNIQ_KEY (20-digit producer prefix, 12-digit time and counter): the producer-run path. */
const CLIENT_KEY = "7F0000010FA018B4AAC2000000000001";

const withStore = (name: string, body: (store: MessageStore, d: DuplicateDetector) => Promise<void>) =>
  withDetectorStore(name, logger, body);

function answerOf(r: PutResult, queueId: number, i = 0): OriginalSend {
  return { msgId: r.msgIds[i]!, queueId, queueOffset: r.queueOffset + i };
}

for (const key of ["K-stale", CLIENT_KEY]) {
  test(`a resend whose oldest entry reads back as another record is answered by the younger entry of its stored copy (key ${key})`, async () => {
    await withStore("dedup-stale", async (store, d) => {
      const now = Date.now();
      const other = await store.putMessages([keyedInput("T", "OTHER", 0)]);
      const real = await store.putMessages([keyedInput("T", key, 1)]);
      // The stale entry first (older), then the real copy's.
      d.window.addUniq("T", key, other.commitLogOffset, now);
      d.window.addUniq("T", key, real.commitLogOffset, now);
      if (key === CLIENT_KEY)
        assert.equal(
          d.window.runs.fastEntries,
          1,
          "the stale entry in its producer's run, the real one in the table",
        );
      const end = store.confirmedPhysicalOffset;

      const r = await d.admit([keyedInput("T", key, 3)], now);
      assert.deepEqual(r, answerOf(real, 1), "the original answer, nothing to store");
      assert.equal(d.collisions, 1, "the stale entry missed on read-back");
      assert.equal(d.youngerTries, 1);
      assert.equal(store.confirmedPhysicalOffset, end, "nothing stored");
    });
  });
}

test("when no live entry of the key reads back as its message, the send is stored as new", async () => {
  await withStore("dedup-stale-none", async (store, d) => {
    const now = Date.now();
    const a = await store.putMessages([keyedInput("T", "A", 0)]);
    const b = await store.putMessages([keyedInput("T", "B", 0)]);
    d.window.addUniq("T", "K", a.commitLogOffset, now);
    d.window.addUniq("T", "K", b.commitLogOffset, now);
    const head = d.window.headSeq;
    const r = await d.admit([keyedInput("T", "K", 0)], now);
    assert.equal(r, head, "a ticket: the send is stored, entered as the window's newest entry");
    assert.equal(d.collisions, 2, "both entries were read back");
    assert.equal(d.youngerTries, 1);
  });
});

test("a resent batch whose keys have stale older entries is answered from their stored copies", async () => {
  await withStore("dedup-stale-batch", async (store, d) => {
    const now = Date.now();
    const other = await store.putMessages([keyedInput("T", "OTHER", 0)]);
    const batch = [keyedInput("T", "B-1", 2), keyedInput("T", "B-2", 2)];
    const real = await store.putMessages(batch);
    d.window.addUniq("T", "B-1", other.commitLogOffset, now);
    d.window.addUniq("T", "B-2", other.commitLogOffset, now);
    d.window.addUniq("T", "B-1", real.commitLogOffset, now);
    d.window.addUniq("T", "B-2", recordOffset(real, 1), now);
    const end = store.confirmedPhysicalOffset;
    const r = await d.admit([keyedInput("T", "B-1", 0), keyedInput("T", "B-2", 0)], now);
    assert.deepEqual(r, { msgId: real.msgIds.join(","), queueId: 2, queueOffset: real.queueOffset });
    assert.equal(d.collisions, 2);
    assert.equal(d.youngerTries, 2);
    assert.equal(store.confirmedPhysicalOffset, end, "nothing stored");
  });
});

test("two resends waiting for an original whose store failed: one is stored, the other waits for it", async () => {
  await withStore("dedup-stale-failed", async (store, d) => {
    const now = Date.now();
    const original = [keyedInput("T", "K-1", 0)];
    const ticket = d.admit(original, now);
    assert.equal(typeof ticket, "number");
    const first = d.admit([keyedInput("T", "K-1", 1)], now);
    const second = d.admit([keyedInput("T", "K-1", 2)], now);
    assert.equal(d.waiting, 2);
    d.released(original, ticket as number); // the original's store failed
    const t1 = await first;
    assert.equal(typeof t1, "number", "the first resend stores itself");
    assert.equal(d.waiting, 1, "the second waits for the first's store, not storing a copy");
    const input = [keyedInput("T", "K-1", 1)];
    const put = await store.putMessages(input);
    d.stored(input, t1 as number, put);
    assert.deepEqual(await second, answerOf(put, 1));
  });
});
