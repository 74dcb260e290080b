/**
 * Producer de-duplication of sends that share one store append: single sends of one turn
 * coalesced into one put (PutCoalescer), and batches, whose later messages' window entries
 * follow the first's (DuplicateWindow followers: one settle per batch). Over a real
 * MessageStore and a real PutCoalescer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { type MessageInput, MessageStore, type PutResult } from "@tidemq/store";
import { DuplicateDetector } from "../src/dedup/DuplicateDetector.js";
import { PutCoalescer } from "../src/processors/PutCoalescer.js";
import { removeDir, tempDir } from "./helpers.js";

const logger = createLogger("test-dedup-batches", "warn");

function input(
  topic: string,
  uniqKey: string | undefined,
  queueId = 0,
  body = `body-${uniqKey}`,
): MessageInput {
  return {
    topic,
    queueId,
    flag: 0,
    body: Buffer.from(body),
    properties: uniqKey === undefined ? {} : { UNIQ_KEY: uniqKey },
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { host: "127.0.0.1", port: 5000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    tagsCode: 0,
    uniqKey,
  };
}

async function withStore(name: string, fn: (store: MessageStore) => Promise<void>): Promise<void> {
  const dir = await tempDir(name);
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: 1024 * 1024,
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  try {
    await fn(store);
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
