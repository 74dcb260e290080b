import assert from "node:assert/strict";
import net from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import type { Message } from "@tidemq/raft";
import { createLogger } from "@tidemq/remoting";
import { type MessageInput, MessageStore } from "@tidemq/store";
import { DLedgerNode } from "../src/dledger/DLedgerNode.js";
import { encodeEntryData } from "../src/dledger/EntryData.js";
import { encodeFrame } from "../src/dledger/RaftTransport.js";
import { cleanupsAfterAll, eventually, removeDir, tempDir, testConfig } from "./helpers.js";

/*
 * Regression (fault-injection round "leader partitioned" after a SIGSTOP/SIGCONT round): a
 * leader that has just stepped down in its Raft core still takes a local put before its loop
 * sees the new role; the proposal is refused and the put's records are taken back. That
 * take-back used to run on its own (setImmediate) while the loop appended the new leader's
 * entries: the follower skipped the leader's bytes as "already there" (its own refused records
 * sat at those offsets) or found a gap, and stopped replicating for good — the next fault that
 * took another replica away left the group without a majority (no leader for 30 s+).
 *
 * Here one real replica (DLedgerNode over a MessageStore, real TCP transport) faces two peers
 * played by the test: the peers' answers are scripted Raft messages, and the deposing message,
 * the local put and the new leader's entry are handed to the replica in one turn of the event
 * loop (as they arrive together when a stopped process resumes).
 */

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-take-back", "error");

function msg(body: string): MessageInput {
  return {
    topic: "TakeBack",
    queueId: 0,
    flag: 0,
    body: Buffer.from(body),
    properties: {},
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    bornHost: { host: "192.168.0.7", port: 40000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  };
}

function raftMessage(m: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m };
}

/** A scripted peer: listens on its Raft port, decodes the replica's frames (header only). */
class ScriptedPeer {
  readonly got: Message[] = [];
  private readonly server = net.createServer((s) => this.accept(s));
  port = 0;

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private accept(s: net.Socket): void {
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= 8 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const hlen = buf.readUInt32BE(8);
        const h = JSON.parse(buf.toString("utf8", 12, 12 + hlen));
        this.got.push(raftMessage({ type: h.y, from: h.f, to: h.t, term: h.term, index: h.i, reject: h.r }));
        buf = buf.subarray(8 + len);
      }
    });
    s.on("error", () => {});
  }

  async waitFor(what: string, pred: (m: Message) => boolean): Promise<Message> {
    let found: Message | undefined;
    await eventually(
      () => {
        found = this.got.find(pred);
        return found !== undefined;
      },
      what,
      10_000,
    );
    return found!;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Replica n0 (DLedgerNode over a MessageStore, strict index fsync) whose peers n1, n2 are scripted. */
async function openReplica(dir: string, n1: ScriptedPeer, n2: ScriptedPeer) {
  // n0's own Raft port: a free one (dLegerPeers names real ports; 0 is refused).
  const probe = new ScriptedPeer();
  await probe.listen();
  await probe.close();
  const root = join(dir, "n0");
  const config = await testConfig(root, {
    enableDLegerCommitLog: true,
    dLegerGroup: "broker-t",
    dLegerSelfId: "n0",
    dLegerPeers: `n0-127.0.0.1:${probe.port};n1-127.0.0.1:${n1.port};n2-127.0.0.1:${n2.port}`,
  });
  // The replica logs "stopped replicating" at error level when its Raft loop gives up.
  let failure = "";
  const replicaLogger = {
    ...logger,
    error: (s: string) => {
      failure ||= s;
    },
  };
  const node = DLedgerNode.open(config, replicaLogger);
  const store = await MessageStore.open({
    commitGate: node.gate,
    storePathRootDir: root,
    storePathCommitLog: config.storePathCommitLog,
    flushDiskType: "SYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  cleanups.push(() => store.shutdown());
  await node.start(store);
  cleanups.push(() => node.stop());
  // What the transport hands the replica (the peers' frames), called directly so that several
  // messages and a put land in one turn of the event loop.
  const receive = (m: Message) =>
    (node as unknown as { transport: { onMessage(m: Message): void } }).transport.onMessage(m);
  return { node, store, receive, failure: () => failure };
}

/** Two scripted peers listening, and the bytes of "the new leader n1"'s one record at offset 0. */
async function peersAndLeaderRecord(
  dir: string,
): Promise<{ n1: ScriptedPeer; n2: ScriptedPeer; leaderBytes: Buffer }> {
  const n1 = new ScriptedPeer();
  const n2 = new ScriptedPeer();
  await n1.listen();
  await n2.listen();
  cleanups.push(() => n1.close());
  cleanups.push(() => n2.close());
  const leaderStore = await MessageStore.open({
    storePathRootDir: join(dir, "leader"),
    flushDiskType: "SYNC_FLUSH",
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  cleanups.push(() => leaderStore.shutdown());
  await leaderStore.putMessage(msg("from the new leader n1"));
  const chunk = await leaderStore.readReplicationChunk(0, 1 << 20);
  assert.ok(chunk && chunk.offset === 0);
  return { n1, n2, leaderBytes: chunk.data };
}

/** n0 becomes leader of term 1: n1 hands it leadership, votes for it, acknowledges its no-op. */
async function electN0InTerm1(
  node: DLedgerNode,
  n1: ScriptedPeer,
  receive: (m: Message) => void,
): Promise<void> {
  receive(raftMessage({ type: "timeoutNow", from: "n1", to: "n0", term: 0 }));
  await n1.waitFor("n0's vote request", (m) => m.type === "vote" && m.term === 1);
  receive(raftMessage({ type: "voteResp", from: "n1", to: "n0", term: 1 }));
  await n1.waitFor("n0's no-op", (m) => m.type === "app" && m.term === 1);
  receive(raftMessage({ type: "appResp", from: "n1", to: "n0", term: 1, index: 1 }));
  await eventually(() => node.isWritable, "n0 writable as leader of term 1", 10_000);
}

/** n1, leader of term 2, appends its entry 2 (the record at offset 0) after entry 1 of term 1. */
function n1Entry2OfTerm2(leaderBytes: Buffer): Message {
  return raftMessage({
    type: "app",
    from: "n1",
    to: "n0",
    term: 2,
    index: 1,
    logTerm: 1,
    commit: 1,
    entries: [
      {
        index: 2,
        term: 2,
        type: "normal",
        data: encodeEntryData(leaderBytes.length, [{ offset: 0, bytes: leaderBytes }]),
      },
    ],
  });
}

/**
 * `refused`: the put reaches n0 after its core stepped down (its proposal is refused, the
 * records taken back). `replaced`: the put is proposed as entry 2 of term 1 just before n0
 * hears of term 2, and n1's entry 2 of term 2 replaces it before n0 persisted it — its bytes
 * are in n0's log but in no Raft entry n0 keeps.
 */
async function depose(variant: "refused" | "replaced"): Promise<void> {
  const dir = await tempDir(`dledger-take-back-${variant}`);
  cleanups.push(() => removeDir(dir));
  // The new leader's record, encoded by a store of its own at offset 0 (same size as the
  // refused record: skipping it as "already there" is the silent variant of the bug).
  const { n1, n2, leaderBytes } = await peersAndLeaderRecord(dir);

  const { node, store, receive, failure } = await openReplica(dir, n1, n2);

  await electN0InTerm1(node, n1, receive);

  // One turn: n1 leads term 2 (n0 steps down in its core), a client's put still reaches n0
  // (refused: its records are taken back), and n1's entry 2 with its bytes at offset 0 arrives.
  if (variant === "refused")
    receive(raftMessage({ type: "heartbeat", from: "n1", to: "n0", term: 2, commit: 1 }));
  const refused = store.putMessage(msg("refused by deposed n0!")).then(
    (r) => `answered ${r.status}`,
    (e: Error) => `refused: ${e.message}`,
  );
  if (variant === "replaced")
    receive(raftMessage({ type: "heartbeat", from: "n1", to: "n0", term: 2, commit: 1 }));
  receive(n1Entry2OfTerm2(leaderBytes));

  // The put is not acknowledged (the record was taken back) ...
  assert.match(await refused, /^refused: .*(taken back|not the DLedger leader)/);
  // ... n0 acknowledges entry 2 ...
  await n1.waitFor(
    "n0's acknowledgement of entry 2",
    (m) => m.type === "appResp" && m.term === 2 && m.index === 2 && !m.reject,
  );
  assert.equal(failure(), "", "the replica's Raft loop must not give up");
  // ... and what it acknowledged is the leader's bytes, not its own refused record.
  n1.got.length = 0;
  receive(raftMessage({ type: "heartbeat", from: "n1", to: "n0", term: 2, commit: 2 }));
  await eventually(() => store.visibleOffset >= leaderBytes.length, "entry 2 committed on n0", 10_000);
  const stored = await store.readReplicationChunk(0, 1 << 20);
  assert.ok(stored);
  assert.equal(stored.data.length, leaderBytes.length);
  assert.ok(stored.data.equals(leaderBytes), "n0's log holds the leader's record at offset 0");
  assert.equal(node.status().lastIndex, 2);
  assert.equal(failure(), "");
}

test("a deposed leader's refused put is taken back before the new leader's entry at the same offset is appended: the replica stores and acknowledges the leader's bytes and keeps replicating", () =>
  depose("refused"));

test("a deposed leader's unpersisted proposal replaced by the new leader's entry: its records are cut before the leader's bytes are appended", () =>
  depose("replaced"));

/*
 * Regression (fault injection, rounds partitionLeader/stopLeader/killLeader, strict index
 * fsync): a replica that cut back an uncommitted suffix of its own capped its commit gate at
 * the cut for good — the cap belongs to the lazy index fsync, the only thing that raises it
 * again. Nothing past the cut became visible on it, and once elected it never took writes:
 * the group had no writable leader for 30 s and more.
 */
test("after cutting back its own uncommitted entry (strict index fsync), a replica still makes later commits visible and, elected, takes writes", async () => {
  const dir = await tempDir("dledger-cut-then-lead");
  cleanups.push(() => removeDir(dir));
  const { n1, n2, leaderBytes } = await peersAndLeaderRecord(dir);

  const { node, store, receive, failure } = await openReplica(dir, n1, n2);
  const indexLast = () => (node as unknown as { index: { lastIndex(): number } }).index.lastIndex();
  await electN0InTerm1(node, n1, receive);

  // A put becomes entry 2 of term 1, in n0's Raft index, acknowledged by no peer.
  const cut = store.putMessage(msg("n0's own record, never committed")).then(
    (r) => `answered ${r.status}`,
    (e: Error) => `refused: ${e.message}`,
  );
  await eventually(() => indexLast() === 2, "entry 2 of term 1 in n0's index", 10_000);

  // n1 leads term 2; its entry 2 conflicts: n0 cuts its own back to offset 0 and appends n1's.
  receive(n1Entry2OfTerm2(leaderBytes));
  assert.match(await cut, /^refused: /);
  await n1.waitFor(
    "n0's acknowledgement of entry 2 of term 2",
    (m) => m.type === "appResp" && m.term === 2 && m.index === 2 && !m.reject,
  );
  receive(raftMessage({ type: "heartbeat", from: "n1", to: "n0", term: 2, commit: 2 }));
  // Past the cut: visible once committed (the bug kept the gate at the cut, offset 0).
  await eventually(() => store.visibleOffset >= leaderBytes.length, "entry 2 visible on n0", 10_000);

  // n1 hands leadership back: n0 leads term 3 and takes writes.
  receive(raftMessage({ type: "timeoutNow", from: "n1", to: "n0", term: 2 }));
  await n1.waitFor("n0's vote request of term 3", (m) => m.type === "vote" && m.term === 3);
  receive(raftMessage({ type: "voteResp", from: "n1", to: "n0", term: 3 }));
  await n1.waitFor("n0's no-op of term 3", (m) => m.type === "app" && m.term === 3);
  receive(raftMessage({ type: "appResp", from: "n1", to: "n0", term: 3, index: 3 }));
  await eventually(() => node.isWritable, "n0 writable as leader of term 3", 10_000);
  const put = store.putMessage(msg("to leader n0 of term 3"));
  await n1.waitFor("entry 4 sent to n1", (m) => m.type === "app" && m.term === 3 && m.index === 3);
  receive(raftMessage({ type: "appResp", from: "n1", to: "n0", term: 3, index: 4 }));
  assert.equal((await put).status, "PUT_OK");
  assert.equal(failure(), "");
});

// The frame codec the scripted peers would use to talk back over TCP (kept in step with it).
test("a Raft frame encodes the header the scripted peers decode", () => {
  const f = encodeFrame(raftMessage({ type: "appResp", from: "n0", to: "n1", term: 3, index: 7 }));
  assert.equal(f.readUInt32BE(0), f.length - 8);
  const h = JSON.parse(f.toString("utf8", 12, 12 + f.readUInt32BE(8)));
  assert.deepEqual([h.y, h.f, h.t, h.term, h.i, h.r], ["appResp", "n0", "n1", 3, 7, false]);
});
