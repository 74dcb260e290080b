/**
 * The de-dup window of a store behind a commit gate (a DLedger replica): only committed
 * records ever enter it. At start-up the log past the commit index may be an uncommitted tail
 * that the replica takes back when it rejoins its group; an entry for such a record outlived
 * it, and, older than the entry of the same key's committed copy, was found first and read
 * back as another record: the resend was stored twice (e2e-dledger-resend-failover has it
 * over real processes). Real MessageStore; the gate is moved by hand, as DLedgerNode does.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import { DuplicateDetector } from "../src/dedup/DuplicateDetector.js";
import { eventually, keyedInput, removeDir, tempDir } from "./helpers.js";

const logger = createLogger("dedup-gate", "error");

test("start-up loads committed records only; the leader catch-up enters the rest once committed", async () => {
  const dir = await tempDir("dedup-gate");
  const gate = { committedOffset: 0 };
  const store = await MessageStore.open({
    storePathRootDir: dir,
    commitGate: gate,
    flushDiskType: "ASYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  try {
    const a = store.putMessages([keyedInput("Gate", "KEY-A")]);
    await eventually(() => store.confirmedPhysicalOffset > 0, "A written");
    const endA = store.confirmedPhysicalOffset;
    const b = store.putMessages([keyedInput("Gate", "KEY-B")]);
    await eventually(() => store.confirmedPhysicalOffset > endA, "B written");
    gate.committedOffset = endA; // A committed, B the uncommitted tail
    store.commitAdvanced();
    await a;

    const d = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: 1024,
      rebuildMaxBytes: 1 << 30,
      store,
      logger,
    });
    const loaded = await d.rebuild(store);
    const now = Date.now();
    assert.equal(loaded.records, 1, "records read at start-up");
    assert.ok(d.window.lookupUniq("Gate", "KEY-A", now) >= 0, "the committed record is in the window");
    assert.equal(d.window.lookupUniq("Gate", "KEY-B", now), -1, "the uncommitted tail is not");

    gate.committedOffset = store.confirmedPhysicalOffset;
    store.commitAdvanced();
    await b;
    await d.catchUp(store);
    assert.equal(d.lastCatchUp?.records, 1, "the catch-up reads from where the start-up load stopped");
    assert.ok(d.window.lookupUniq("Gate", "KEY-B", Date.now()) >= 0, "B, committed now, is in the window");
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
});

test("a leader catch-up cut short by duplicateRebuildMaxBytes says how much of the window it left unread", async () => {
  const dir = await tempDir("dedup-gate-bound");
  const gate = { committedOffset: 0 };
  const store = await MessageStore.open({
    storePathRootDir: dir,
    commitGate: gate,
    flushDiskType: "ASYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  const warnings: string[] = [];
  const watched = { ...logger, warn: (m: string) => warnings.push(m) };
  try {
    const d = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: 1024,
      rebuildMaxBytes: 1 << 30,
      store,
      logger: watched,
    });
    await d.rebuild(store); // an empty log: the window has read up to 0
    // Ten records committed while this replica follows, then a catch-up bounded to about three.
    const puts = [];
    for (let i = 0; i < 10; i++) puts.push(store.putMessages([keyedInput("Gate", `KEY-${i}`)]));
    await eventually(
      () => store.maxPhysicalOffset > 0 && store.confirmedPhysicalOffset === store.maxPhysicalOffset,
      "written",
    );
    gate.committedOffset = store.confirmedPhysicalOffset;
    store.commitAdvanced();
    await Promise.all(puts);
    const per = store.confirmedPhysicalOffset / 10;
    const bounded = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: 1024,
      rebuildMaxBytes: Math.floor(3.5 * per),
      store,
      logger: watched,
    });
    await bounded.catchUp(store);
    assert.equal(bounded.lastCatchUp?.records, 3);
    assert.equal(bounded.lastCatchUp?.missedBytes, 7 * per);
    assert.ok(bounded.window.lookupUniq("Gate", "KEY-9", Date.now()) >= 0);
    assert.equal(bounded.window.lookupUniq("Gate", "KEY-6", Date.now()), -1);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0]!,
      /were not read \(duplicateRebuildMaxBytes \d+\): resends of sends older than \d+ s are stored again/,
    );
    // Unbounded, nothing is left out and nothing is said.
    await d.catchUp(store);
    assert.equal(d.lastCatchUp?.records, 10);
    assert.equal(d.lastCatchUp?.missedBytes, 0);
    assert.equal(warnings.length, 1);
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
});
