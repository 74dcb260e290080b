/**
 * Producer de-duplication of sends that share one store append: single sends of one turn
 * coalesced into one put (PutCoalescer), and batches, whose later messages' window entries
 * follow the first's (DuplicateWindow followers: one settle per batch). Over a real
 * MessageStore and a real PutCoalescer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createOffsetMsgId } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { type MessageInput, MessageStore, type PutResult } from "@tidemq/store";
import {
  DuplicateDetector,
  type OriginalSend,
  offsetOfMsgId,
  recordOffset,
} from "../src/dedup/DuplicateDetector.js";
import { windowSnapshotPath } from "../src/dedup/openDuplicateDetection.js";
import { PutCoalescer } from "../src/processors/PutCoalescer.js";
import { keyedInput, removeDir, tempDir } from "./helpers.js";

const logger = createLogger("test-dedup-batches", "warn");

const input = keyedInput;

async function withStore(
  name: string,
  fn: (store: MessageStore, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await tempDir(name);
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: 1024 * 1024,
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  try {
    await fn(store, dir);
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
}

function detector(store: MessageStore, maxEntries = 1000): DuplicateDetector {
  return new DuplicateDetector({ windowSeconds: 600, maxEntries, rebuildMaxBytes: 0, store, logger });
}

/** Admits and stores each request through one PutCoalescer turn (one append), as the broker does. */
async function storeTogether(
  d: DuplicateDetector,
  coalescer: PutCoalescer,
  requests: MessageInput[][],
): Promise<PutResult[]> {
  const now = Date.now();
  const tickets = requests.map((r) => d.admit(r, now));
  for (const t of tickets) assert.equal(typeof t, "number", "new keys are admitted at once");
  // Same turn: the coalescer makes one group of them all.
  const puts = requests.map((r) => coalescer.put(r));
  const results = await Promise.all(puts);
  for (let i = 0; i < results.length; i++) d.stored(requests[i]!, tickets[i] as number, results[i]!);
  return results;
}

test("single sends coalesced into one append: a resend of each gets its own original answer", async () => {
  await withStore("dedup-coalesced", async (store) => {
    const d = detector(store);
    const coalescer = new PutCoalescer(store);
    const keys = ["S-1", "S-2", "S-3", "S-4"];
    const results = await storeTogether(
      d,
      coalescer,
      keys.map((k) => [input("T", k, 1, `a body of its own length ${k.repeat(keys.indexOf(k) + 1)}`)]),
    );
    assert.equal(new Set(results.map((r) => r.msgIds[0])).size, 4);
    // Each its own first record (what stored() enters it at), not the append's first.
    for (const r of results) assert.equal(r.commitLogOffset, offsetOfMsgId(r.msgIds[0]!));
    for (let i = 0; i < keys.length; i++) {
      const again = await d.admit([input("T", keys[i], 2)], Date.now());
      assert.deepEqual(
        again,
        { msgId: results[i]!.msgIds[0], queueId: 1, queueOffset: results[i]!.queueOffset },
        keys[i],
      );
    }
    assert.equal(d.collisions, 0);
  });
});

const batchOf = (keys: string[], queueId: number): MessageInput[] =>
  keys.map((k, i) => input("T", k, queueId, `batch body ${i} ${"x".repeat(i * 7)}`));

test("batches and single sends coalesced into one append: each result starts at its own first record; resends answered", async () => {
  await withStore("dedup-coalesced-mixed", async (store) => {
    const d = detector(store);
    const coalescer = new PutCoalescer(store);
    const requests = [
      batchOf(["M-1", "M-2", "M-3"], 1),
      [input("T", "M-4", 1, "a single send")],
      batchOf(["M-5", "M-6"], 1),
      [input("T", "M-7", 1, "another single send, longer than the first one")],
    ];
    const results = await storeTogether(d, coalescer, requests);
    for (const r of results) assert.equal(r.commitLogOffset, offsetOfMsgId(r.msgIds[0]!));
    assert.equal(new Set(results.map((r) => r.commitLogOffset)).size, 4);
    for (let i = 0; i < requests.length; i++) {
      const again = await d.admit(
        requests[i]!.map((m) => ({ ...m })),
        Date.now(),
      );
      assert.deepEqual(again, joined(results[i]!, 1), `request ${i}`);
    }
    // A resend of one message of a batch alone.
    const alone = await d.admit([input("T", "M-6", 1)], Date.now());
    assert.deepEqual(alone, {
      msgId: results[2]!.msgIds[1],
      queueId: 1,
      queueOffset: results[2]!.queueOffset + 1,
    });
    assert.equal(d.collisions, 0);
  });
});

const joined = (r: PutResult, queueId: number): OriginalSend => ({
  msgId: r.msgIds.join(","),
  queueId,
  queueOffset: r.queueOffset,
});

test("batches (one settle per batch): a whole resend, and a resend of any one message alone, get the original answers", async () => {
  await withStore("dedup-batches", async (store) => {
    const d = detector(store);
    const coalescer = new PutCoalescer(store);
    // Two batches and a single in one turn: one append; the second batch starts mid-append.
    const a = batchOf(["A-0", "A-1", "A-2", "A-3"], 1);
    const b = batchOf(["B-0", "B-1", "B-2"], 1);
    const [ra, , rb] = await storeTogether(d, coalescer, [a, [input("T", "S-0", 1)], b]);
    assert.deepEqual(await d.admit(batchOf(["A-0", "A-1", "A-2", "A-3"], 2), Date.now()), joined(ra!, 1));
    assert.deepEqual(await d.admit(batchOf(["B-0", "B-1", "B-2"], 0), Date.now()), joined(rb!, 1));
    // One message of a batch resent on its own: its own record is found from the batch's first.
    for (const [r, keys] of [
      [ra!, ["A-0", "A-1", "A-2", "A-3"]],
      [rb!, ["B-0", "B-1", "B-2"]],
    ] as const) {
      for (let i = 0; i < keys.length; i++) {
        assert.deepEqual(
          await d.admit([input("T", keys[i], 3)], Date.now()),
          { msgId: r.msgIds[i], queueId: 1, queueOffset: r.queueOffset + i },
          keys[i],
        );
      }
    }
    // A batch holding one key twice (a request-level UNIQ_KEY): entered, not matched against itself.
    const twice = batchOf(["D-0", "D-0"], 0);
    const t = d.admit(twice, Date.now());
    assert.equal(typeof t, "number");
    const rt = await store.putMessages(twice);
    d.stored(twice, t as number, rt);
    // A batch mixing a stored message and a new one is still refused whole.
    await assert.rejects(
      d.admit(batchOf(["A-2", "N-1"], 0), Date.now()) as Promise<unknown>,
      /1 already stored .* and 1 new/,
    );
    // ... and the new one was not left behind as an answer: alone it is admitted.
    assert.equal(typeof d.admit([input("T", "N-1", 0)], Date.now()), "number");
    assert.equal(d.collisions, 0);
  });
});

test("a resend of a batch's later message while the batch is being stored waits for it; if the batch fails, it stores itself", async () => {
  await withStore("dedup-batch-inflight", async (store) => {
    const d = detector(store);
    const now = Date.now();
    const batch = batchOf(["F-0", "F-1", "F-2"], 2);
    const ticket = d.admit(batch, now) as number;
    const waiting = d.admit([input("T", "F-2", 0)], now);
    assert.ok(waiting instanceof Promise, "waits for the batch");
    const r = await store.putMessages(batch);
    d.stored(batch, ticket, r);
    assert.deepEqual(await waiting, { msgId: r.msgIds[2], queueId: 2, queueOffset: r.queueOffset + 2 });

    const failing = batchOf(["G-0", "G-1"], 2);
    const t2 = d.admit(failing, now) as number;
    const resend = d.admit([input("T", "G-1", 0)], now) as Promise<OriginalSend | number>;
    d.released(failing, t2);
    assert.equal(
      typeof (await resend),
      "number",
      "the batch was not stored: the resend gets a ticket of its own",
    );
    assert.equal(typeof d.admit([input("T", "G-0", 0)], now), "number", "the failed batch never answers");
  });
});

test("a batch's later messages never answer once the batch's first has left the window (they are stored again, not misanswered)", async () => {
  await withStore("dedup-batch-evicted", async (store) => {
    const d = detector(store, 8);
    const coalescer = new PutCoalescer(store);
    const [rb] = await storeTogether(d, coalescer, [batchOf(["E-0", "E-1", "E-2", "E-3"], 0)]);
    assert.deepEqual(await d.admit([input("T", "E-3", 1)], Date.now()), {
      msgId: rb!.msgIds[3],
      queueId: 0,
      queueOffset: rb!.queueOffset + 3,
    });
    // 5 more entries: E-0 is pushed out of the 8-entry window, E-1..E-3 are still in it.
    await storeTogether(
      d,
      coalescer,
      ["X-0", "X-1", "X-2", "X-3", "X-4"].map((k) => [input("T", k, 0)]),
    );
    for (const k of ["E-0", "E-1", "E-3"]) {
      assert.equal(typeof d.admit([input("T", k, 1)], Date.now()), "number", `${k} admitted as new`);
    }
    assert.equal(d.collisions, 0);
  });
});

test("a snapshot keeps a batch's later messages with their first; a restart answers each of them", async () => {
  await withStore("dedup-batch-snapshot", async (store, dir) => {
    const make = () =>
      new DuplicateDetector({
        windowSeconds: 600,
        maxEntries: 100,
        rebuildMaxBytes: 1 << 30,
        store,
        logger,
        snapshotPath: windowSnapshotPath(dir),
        coveredOffset: () => store.stats.commitLogMaxOffset,
      });
    const d = make();
    await d.rebuild(store);
    const coalescer = new PutCoalescer(store);
    const keys = ["P-0", "P-1", "P-2", "P-3", "P-4"];
    const [, rb] = await storeTogether(d, coalescer, [[input("T", "S-1", 0)], batchOf(keys, 0)]);
    // A batch still being stored when the snapshot is taken is left out (no offset yet)
    // and never answers after the restart (it was not stored).
    const pending = batchOf(["Q-0", "Q-1"], 0);
    const tq = d.admit(pending, Date.now()) as number;
    const snap = d.snapshot();
    d.released(pending, tq);
    assert.equal(await snap, true);

    const loaded = make();
    const report = await loaded.rebuild(store);
    assert.equal(report.snapshot, 6, "the single and the 5 messages of the batch");
    assert.equal(report.records, 0, "the snapshot covers the whole log");
    assert.deepEqual(await loaded.admit(batchOf(keys, 3), Date.now()), joined(rb!, 0));
    for (let i = 0; i < keys.length; i++) {
      assert.deepEqual(await loaded.admit([input("T", keys[i], 3)], Date.now()), {
        msgId: rb!.msgIds[i],
        queueId: 0,
        queueOffset: rb!.queueOffset + i,
      });
    }
    assert.equal(typeof loaded.admit([input("T", "Q-1", 0)], Date.now()), "number");
  });
});

test("recordOffset: a record's offset from the append's first offset and its msgId's low digits, also across a 4 GiB boundary", () => {
  const host = { host: "127.0.0.1", port: 10911 };
  for (const first of [0, 4096, 2 ** 32 - 100, 2 ** 40 + 7, 2 ** 52 - 2 ** 33]) {
    const offsets = [first, first + 90, first + 150, first + 4 * 1024 * 1024];
    const msgIds = offsets.map((o) => createOffsetMsgId(host, o));
    offsets.forEach((o, i) => {
      assert.equal(recordOffset({ commitLogOffset: first, msgIds }, i), o, `${first} + ${o - first}`);
    });
  }
});
