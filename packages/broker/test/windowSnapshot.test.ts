/**
 * The de-duplication window across restarts (WindowSnapshot + DuplicateDetector.rebuild):
 * a clean stop writes it and the next start loads it without reading the log; after kill -9
 * the start loads the last snapshot and reads only the log past it (child processes stopped
 * by PID); a snapshot that covers more than the recovered log never answers for the lost
 * records; a damaged snapshot is ignored (the log is read instead); entries older than the
 * window are not loaded.
 */
import assert from "node:assert/strict";
import { cp, readFile, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import { after, test } from "node:test";
import {
  createRequest,
  decodeOffsetMsgId,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { createLogger, type RemotingClient } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import type { BrokerController } from "../src/BrokerController.js";
import { DuplicateDetector } from "../src/dedup/DuplicateDetector.js";
import { hashHi, hashKey } from "../src/dedup/DuplicateWindow.js";
import { windowSnapshotPath } from "../src/dedup/openDuplicateDetection.js";
import { type ChildBroker, kill9, killAllChildren, spawnBroker, stopClean } from "./childBroker.js";
import {
  createTopicRequest,
  eventually,
  keyedInput,
  newClient,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
} from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  await killAllChildren();
  for (const d of dirs) await removeDir(d);
});

const T = "SnapT";
const on = { duplicateDetectionEnable: true };

function send(uniq: string, queueId = 0): RemotingCommand {
  return sendRequest(T, Buffer.from(`body-${uniq}`), {
    queueId,
    properties: { WAIT: "true", UNIQ_KEY: uniq },
  });
}

const answer = (r: RemotingCommand) => ({
  code: r.code,
  msgId: r.extFields?.msgId,
  queueId: r.extFields?.queueId,
  queueOffset: r.extFields?.queueOffset,
});

async function maxOffset(client: RemotingClient, addr: string, queueId = 0): Promise<number> {
  const r = await client.invoke(addr, createRequest(RequestCode.GET_MAX_OFFSET, { topic: T, queueId }));
  return Number(r.extFields!.offset);
}

const detectorOf = (b: BrokerController) => (b as unknown as { dedup: DuplicateDetector }).dedup;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

test("a clean stop writes the window; a start loads it and reads no log; a damaged one is ignored; old entries are not loaded", async () => {
  const dir = await tempDir("dwin");
  dirs.push(dir);
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, on);
    let addr = `127.0.0.1:${broker.port}`;
    await client.invoke(addr, createTopicRequest(T, 4));
    const first = await client.invoke(addr, send("K-1"));
    const second = await client.invoke(addr, send("K-2", 1));
    assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
    await broker.shutdown();
    assert.ok(await exists(windowSnapshotPath(dir)), "written at the clean stop");

    broker = await startBroker(dir, on);
    addr = `127.0.0.1:${broker.port}`;
    const r1 = detectorOf(broker).lastRebuild!;
    assert.equal(r1.snapshot, 2, "both sends from the snapshot");
    assert.equal(r1.records, 0, "no record read from the log");
    assert.deepEqual(answer(await client.invoke(addr, send("K-1", 2))), answer(first));
    assert.deepEqual(answer(await client.invoke(addr, send("K-2", 3))), answer(second));
    assert.equal(await maxOffset(client, addr), 1, "nothing stored again");

    // Loaded at a time past the window: nothing is kept (and nothing read from the log is either).
    const store = broker.context.store;
    const late = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: 100,
      rebuildMaxBytes: 1 << 30,
      store,
      logger: createLogger("late", "error"),
      snapshotPath: windowSnapshotPath(dir),
    });
    const lateReport = await late.rebuild(store, Date.now() + 601_000);
    assert.equal(lateReport.snapshot, 0);
    assert.equal(lateReport.kept, 0);
    await broker.shutdown();

    // One flipped byte: the CRC refuses the file, the log's tail is read instead.
    const path = windowSnapshotPath(dir);
    const bytes = await readFile(path);
    bytes[bytes.length - 3]! ^= 0xff;
    await writeFile(path, bytes);
    broker = await startBroker(dir, on);
    addr = `127.0.0.1:${broker.port}`;
    const r2 = detectorOf(broker).lastRebuild!;
    assert.equal(r2.snapshot, 0, "damaged snapshot not used");
    assert.ok(r2.records >= 2, `the log was read (${r2.records} records)`);
    assert.deepEqual(answer(await client.invoke(addr, send("K-1", 2))), answer(first));
    assert.equal(await maxOffset(client, addr), 1);
  } finally {
    await client.close();
    await broker?.shutdown();
  }
});

test("a snapshot covering records the recovered log lost answers for none of them", async () => {
  // The disk state of a power cut that took the log's tail but not the snapshot (built
  // directly): the store of an earlier moment with the snapshot of a later one.
  const dir = await tempDir("dwin-cut");
  const early = await tempDir("dwin-early");
  dirs.push(dir, early);
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, on);
    let addr = `127.0.0.1:${broker.port}`;
    await client.invoke(addr, createTopicRequest(T, 4));
    const a = await client.invoke(addr, send("A"));
    await broker.shutdown();
    await rm(early, { recursive: true, force: true });
    await cp(dir, early, { recursive: true });

    broker = await startBroker(dir, on);
    addr = `127.0.0.1:${broker.port}`;
    const b = await client.invoke(addr, send("B"));
    const c = await client.invoke(addr, send("C"));
    assert.equal(c.code, ResponseCode.SUCCESS);
    await broker.shutdown();
    await cp(windowSnapshotPath(dir), windowSnapshotPath(early));

    broker = await startBroker(early, { ...on, storePathCommitLog: `${early}/commitlog` });
    addr = `127.0.0.1:${broker.port}`;
    const r = detectorOf(broker).lastRebuild!;
    assert.equal(r.snapshot, 1, "A is in the log");
    assert.equal(r.dropped, 2, "B and C are not: their keys are dropped");
    assert.equal(detectorOf(broker).window.size, 1);
    assert.equal(await exists(windowSnapshotPath(early)), false, "the file is gone before the first send");
    assert.equal(await maxOffset(client, addr), 1, "the log holds A only");
    // A new message now takes B's old offset; the resends of B and C are stored, A's is answered.
    const x = await client.invoke(addr, send("X"));
    assert.equal(
      decodeOffsetMsgId(x.extFields!.msgId!).commitLogOffset,
      decodeOffsetMsgId(b.extFields!.msgId!).commitLogOffset,
    );
    const b2 = await client.invoke(addr, send("B"));
    const c2 = await client.invoke(addr, send("C"));
    assert.equal(b2.code, ResponseCode.SUCCESS);
    assert.equal(b2.extFields!.queueOffset, "2", "B stored (not answered as X's record)");
    assert.equal(c2.extFields!.queueOffset, "3", "C stored");
    assert.deepEqual(answer(await client.invoke(addr, send("A"))), answer(a));
    assert.equal(await maxOffset(client, addr), 4);
    assert.equal(detectorOf(broker).collisions, 0, "nothing even reached the read-back check");
  } finally {
    await client.close();
    await broker?.shutdown();
  }
});

test("child broker: resends after kill -9 (no snapshot yet), after a clean stop, and after kill -9 past a snapshot get the original answers", async () => {
  const dir = await tempDir("dwin-kill");
  dirs.push(dir);
  const overrides = {
    brokerName: "broker-dw",
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 8 * 1024 * 1024,
    flushDiskType: "SYNC_FLUSH",
    duplicateDetectionEnable: true,
    duplicateSnapshotIntervalSeconds: 0, // snapshots at clean stops only: the test decides
  };
  const client = newClient();
  let child: ChildBroker | undefined;
  const originals = new Map<string, ReturnType<typeof answer>>();
  const sendNew = async (key: string) => {
    const r = await client.invoke(child!.addr, send(key));
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    originals.set(key, answer(r));
  };
  const resendAll = async (when: string) => {
    const before = await maxOffset(client, child!.addr);
    for (const [key, original] of originals) {
      assert.deepEqual(answer(await client.invoke(child!.addr, send(key, 3))), original, `${key} ${when}`);
    }
    assert.equal(await maxOffset(client, child!.addr), before, `nothing stored again ${when}`);
    assert.equal(await maxOffset(client, child!.addr, 3), 0);
  };
  try {
    child = await spawnBroker(overrides);
    await client.invoke(child.addr, createTopicRequest(T, 4));
    await sendNew("P-1");
    await sendNew("P-2");
    await kill9(child.child);
    assert.equal(await exists(windowSnapshotPath(dir)), false);

    child = await spawnBroker(overrides);
    await resendAll("after kill -9 with no snapshot (the log's tail is read)");
    await sendNew("P-3");
    await stopClean(child.child);
    assert.ok(await exists(windowSnapshotPath(dir)));

    child = await spawnBroker(overrides);
    await resendAll("after a clean stop (snapshot)");
    await sendNew("P-4");
    await sendNew("P-5");
    await kill9(child.child);

    child = await spawnBroker(overrides);
    await resendAll("after kill -9 past the snapshot (snapshot + the log past it)");
    await stopClean(child.child);
  } finally {
    await client.close();
    if (child) await kill9(child.child);
  }
});

const input = (uniqKey: string) => keyedInput(T, uniqKey);

test("a snapshot waits for sends admitted before it to be stored (or given up); a failed one is not loaded", async () => {
  const dir = await tempDir("dwin-pending");
  dirs.push(dir);
  const store = await MessageStore.open({
    storePathRootDir: dir,
    flushDiskType: "SYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger: createLogger("dwin", "error"),
  });
  try {
    const detector = () =>
      new DuplicateDetector({
        windowSeconds: 600,
        maxEntries: 100,
        rebuildMaxBytes: 1 << 30,
        store,
        logger: createLogger("dwin", "error"),
        snapshotPath: windowSnapshotPath(dir),
        coveredOffset: () => store.stats.commitLogMaxOffset,
      });
    const d = detector();
    await d.rebuild(store);
    // K1: admitted, its record written and visible, its answer (stored()) not run yet.
    const k1 = [input("K1")];
    const t1 = d.admit(k1, Date.now()) as number;
    const r1 = await store.putMessage(k1[0]!);
    // K2: admitted, its store then failed (released).
    const k2 = [input("K2")];
    const t2 = d.admit(k2, Date.now()) as number;
    let done = false;
    const snap = d.snapshot().then((ok) => {
      done = true;
      return ok;
    });
    // Several turns pass: the snapshot is held back by K1 and K2 (their offsets unknown).
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(done, false, "not written while an admitted send's offset is unknown");
    d.released(k2, t2);
    d.stored(k1, t1, r1);
    assert.equal(await snap, true);
    assert.equal(d.snapshots, 1);

    const loaded = detector();
    const report = await loaded.rebuild(store);
    assert.equal(report.snapshot, 1, "K1 only: K2 was never stored");
    assert.equal(report.records, 0, "the snapshot covers the whole log");
    assert.equal(loaded.window.get(hashKey(T, "K1"), hashHi(), Date.now()), r1.commitLogOffset);
    assert.equal(loaded.window.get(hashKey(T, "K2"), hashHi(), Date.now()), -1);
  } finally {
    await store.shutdown();
  }
});

test("DLedger replica: no snapshot (a stale one is removed at start); the window comes back from the committed log", async () => {
  const dir = await tempDir("dwin-dledger");
  dirs.push(dir);
  // A one-member group elects itself; its Raft port is a free one (0 is refused).
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const raftPort = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const dl = {
    ...on,
    enableDLegerCommitLog: true,
    dLegerGroup: "broker-t",
    dLegerSelfId: "n0",
    dLegerPeers: `n0-127.0.0.1:${raftPort}`,
  };
  // A file left by an earlier classic-master life of this store: never trusted by a replica.
  await writeFile(windowSnapshotPath(dir), "stale");
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, dl);
    assert.equal(await exists(windowSnapshotPath(dir)), false, "removed at start");
    let addr = `127.0.0.1:${broker.port}`;
    await client.invoke(addr, createTopicRequest(T, 4));
    let first: RemotingCommand | undefined;
    await eventually(async () => {
      first = await client.invoke(addr, send("D-1"));
      return first.code === ResponseCode.SUCCESS;
    }, "the one-member group's leader takes a send");
    assert.deepEqual(answer(await client.invoke(addr, send("D-1", 1))), answer(first!));
    await broker.shutdown();
    assert.equal(await exists(windowSnapshotPath(dir)), false, "a replica writes none");

    broker = await startBroker(dir, dl);
    addr = `127.0.0.1:${broker.port}`;
    const r = detectorOf(broker).lastRebuild!;
    assert.equal(r.snapshot, 0);
    assert.ok(r.records >= 1, "read from the log");
    let again: RemotingCommand | undefined;
    await eventually(async () => {
      again = await client.invoke(addr, send("D-1", 2));
      return again.code === ResponseCode.SUCCESS;
    }, "the leader answers again after the restart");
    assert.deepEqual(answer(again!), answer(first!));
    assert.equal(await maxOffset(client, addr), 1, "stored once");
  } finally {
    await client.close();
    await broker?.shutdown();
  }
});

test("a running master writes the window every duplicateSnapshotIntervalSeconds", async () => {
  const dir = await tempDir("dwin-timer");
  dirs.push(dir);
  const client = newClient();
  let broker: BrokerController | undefined;
  try {
    broker = await startBroker(dir, { ...on, duplicateSnapshotIntervalSeconds: 1 });
    const addr = `127.0.0.1:${broker.port}`;
    await client.invoke(addr, createTopicRequest(T, 4));
    const d = detectorOf(broker);
    const sent = await client.invoke(addr, send("TICK-1"));
    assert.equal(sent.code, ResponseCode.SUCCESS);
    await eventually(() => d.snapshots >= 1, "the timer's snapshot", 10_000);
    // The file holds the send, covering the log: a detector loading it now reads no record.
    const store = broker.context.store;
    const reader = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: 100,
      rebuildMaxBytes: 1 << 30,
      store,
      logger: createLogger("reader", "error"),
      snapshotPath: windowSnapshotPath(dir),
    });
    const r = await reader.rebuild(store);
    assert.equal(r.snapshot, 1);
    assert.equal(r.records, 0);
  } finally {
    await client.close();
    await broker?.shutdown();
  }
});
