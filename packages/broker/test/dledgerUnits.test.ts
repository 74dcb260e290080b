import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { crc32 } from "node:zlib";
import { MAGIC_BLANK } from "@tidemq/protocol";
import { type Message, RaftNode } from "@tidemq/raft";
import { createLogger } from "@tidemq/remoting";
import { followerBrokerId, parseDLedgerPeers } from "../src/dledger/DLedgerPeers.js";
import { blankHeader, chunksOfLogBytes, decodeEntryData, encodeEntryData } from "../src/dledger/EntryData.js";
import { RaftLogIndex } from "../src/dledger/RaftLogIndex.js";
import { encodeFrame, encodeFrameParts, RaftTransport } from "../src/dledger/RaftTransport.js";
import { BrokerConfigError } from "../src/loadBrokerConfig.js";
import { cleanupsAfterAll, removeDir, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterAll();

test("dLegerPeers parse as RocketMQ writes them; followers register as selfId + 1", () => {
  const peers = parseDLedgerPeers("n0-127.0.0.1:40911;n1-127.0.0.1:40912; n2-localhost:40913;");
  assert.deepEqual(
    peers.map((p) => `${p.id}@${p.host}:${p.port}`),
    ["n0@127.0.0.1:40911", "n1@127.0.0.1:40912", "n2@localhost:40913"],
  );
  assert.equal(followerBrokerId("n0", peers), 1);
  assert.equal(followerBrokerId("n2", peers), 3);
  assert.equal(followerBrokerId("a", [{ id: "a", host: "h", port: 1 }]), 1);
  assert.throws(() => parseDLedgerPeers("n0-127.0.0.1"), BrokerConfigError);
  assert.throws(() => parseDLedgerPeers("n0-127.0.0.1:70000"), /id-host:port/);
  assert.throws(() => parseDLedgerPeers("n0-h:1;n0-h:2"), /names n0 twice/);
});

function record(size: number, fill: number): Buffer {
  const b = Buffer.alloc(size, fill);
  b.writeInt32BE(size, 0);
  b.writeInt32BE(0x12345678, 4);
  return b;
}

test("entry data round-trips; log bytes spanning a segment end split at the blank filler's header", () => {
  const a = record(40, 1);
  const filler = Buffer.alloc(24);
  filler.writeInt32BE(24, 0);
  filler.writeInt32BE(MAGIC_BLANK, 4);
  const b = record(30, 2);
  const bytes = Buffer.concat([a, filler, b]);
  const chunks = chunksOfLogBytes(1000, bytes);
  assert.deepEqual(
    chunks.map((c) => [c.offset, c.bytes.length]),
    [
      [1000, 48],
      [1064, 30],
    ],
  );
  assert.deepEqual(chunks[0]!.bytes.subarray(40), blankHeader(24));
  const wire = encodeEntryData(1094, chunks);
  const back = decodeEntryData(wire);
  assert.equal(back.end, 1094);
  assert.deepEqual(
    back.chunks.map((c) => [c.offset, c.bytes.toString("hex")]),
    chunks.map((c) => [c.offset, c.bytes.toString("hex")]),
  );
  assert.throws(() => decodeEntryData(wire.subarray(0, wire.length - 1)), /overruns/);
  assert.throws(() => decodeEntryData(Buffer.from([9, 0, 0])), /not a DLedger entry/);
});

test("the Raft index beside the log: append, truncate a suffix, reopen; a torn last record is dropped", async () => {
  const dir = await tempDir("dledger-index");
  cleanups.push(() => removeDir(dir));
  const cl = join(dir, "commitlog");
  fs.mkdirSync(cl, { recursive: true });
  // One segment holding two records, so entries can be read back from the log.
  const seg = Buffer.alloc(4096);
  record(100, 7).copy(seg, 0);
  record(60, 8).copy(seg, 100);
  fs.writeFileSync(join(cl, "0".repeat(20)), seg);
  const ix = RaftLogIndex.open(join(dir, "dledger"), ["n0", "n1", "n2"], cl);
  ix.append([
    { index: 1, term: 1, type: "noop", end: 0 },
    { index: 2, term: 1, type: "normal", end: 100 },
    { index: 3, term: 2, type: "normal", end: 160 },
  ]);
  assert.equal(ix.lastIndex(), 3);
  assert.equal(ix.term(3), 2);
  assert.equal(ix.endOf(2), 100);
  const [e3] = ix.entries(3, 4, 1 << 20);
  const d = decodeEntryData(e3!.data);
  assert.deepEqual([d.end, d.chunks[0]!.offset, d.chunks[0]!.bytes.length], [160, 100, 60]);
  assert.equal(d.chunks[0]!.bytes[10], 8);
  assert.equal(ix.entries(1, 2, 1)[0]!.data.byteLength, 0);
  assert.throws(() => ix.append([{ index: 5, term: 2, type: "normal", end: 200 }]), /does not continue/);
  ix.truncateFrom(3);
  assert.equal(ix.lastIndex(), 2);
  await ix.sync();
  await ix.setHardState({ term: 2, vote: "n1", commit: 2 }, true);
  ix.close();
  // A torn record (half written) at the end.
  fs.appendFileSync(join(dir, "dledger", "index"), Buffer.alloc(10, 1));
  const again = RaftLogIndex.open(join(dir, "dledger"), ["n0", "n1", "n2"], cl);
  assert.equal(again.lastIndex(), 2);
  assert.deepEqual(again.initialState().hardState, { term: 2, vote: "n1", commit: 2 });
  assert.equal(fs.statSync(join(dir, "dledger", "index")).size, 48);
  // Start-up does not read the entries' bytes back (there are no config entries to look for
  // in DLedger mode; reading a large log synchronously kept a restarted replica out of the
  // group): a Raft core starts over this index even with the segment gone.
  fs.rmSync(join(cl, "0".repeat(20)));
  const core = new RaftNode({ id: "n0", storage: again, random: () => 0.5, applied: 2 });
  assert.equal(core.status().lastIndex, 2);
  assert.deepEqual(core.voters(), ["n0", "n1", "n2"]);
  again.close();
});

// Frames go out as parts (prefix, then each entry's data uncopied): over real TCP, a message
// with entries (one of them empty) and one with a snapshot arrive whole, the CRC checked.
test("Raft transport: entries and snapshots written as frame parts arrive intact over TCP", async () => {
  const logger = createLogger("raft-transport-test", "error");
  const rx = new RaftTransport({ id: "n1", host: "127.0.0.1", port: 0 }, [], logger);
  await rx.start();
  const tx = new RaftTransport(
    { id: "n0", host: "127.0.0.1", port: 0 },
    [
      { id: "n0", host: "127.0.0.1", port: 0 },
      { id: "n1", host: "127.0.0.1", port: rx.port },
    ],
    logger,
  );
  try {
    await tx.start();
    const got: Message[] = [];
    let arrived: () => void = () => {};
    rx.onMessage = (m) => {
      got.push(m);
      arrived();
    };
    const big = Buffer.alloc(70_000, 7);
    const base = { from: "n0", to: "n1", term: 2, logTerm: 2, commit: 3, reject: false, rejectHint: 0 };
    const app: Message = {
      ...base,
      type: "app",
      index: 4,
      entries: [
        { index: 5, term: 2, type: "normal", data: big },
        { index: 6, term: 2, type: "noop", data: new Uint8Array(0) },
        { index: 7, term: 2, type: "normal", data: Buffer.from("seven") },
      ],
    };
    const snap: Message = {
      ...base,
      type: "snap",
      index: 0,
      entries: [],
      snapshot: {
        metadata: { index: 9, term: 2, voters: ["n0", "n1"], removedAt: { n2: 7 } },
        data: Buffer.from("state"),
      },
    };
    // The outbound connection comes up asynchronously: send until the first message arrives
    // (sends before it are dropped, as Raft expects of its transport), bounded.
    for (let i = 0; i < 500 && got.length === 0; i++) {
      const wait = new Promise<void>((r) => {
        arrived = r;
        setTimeout(r, 20).unref();
      });
      tx.send([app, snap]);
      await wait;
    }
    for (let i = 0; i < 500 && got.length < 2; i++)
      await new Promise<void>((r) => {
        arrived = r;
        setTimeout(r, 20).unref();
      });
    const a = got[0]!;
    assert.equal(a.type, "app");
    assert.deepEqual(
      a.entries.map((e) => [e.index, e.term, e.type, e.data.byteLength]),
      [
        [5, 2, "normal", 70_000],
        [6, 2, "noop", 0],
        [7, 2, "normal", 5],
      ],
    );
    assert.ok(Buffer.from(a.entries[0]!.data).equals(big));
    assert.equal(Buffer.from(a.entries[2]!.data).toString(), "seven");
    const s = got[1]!;
    assert.equal(s.type, "snap");
    assert.deepEqual(s.snapshot?.metadata, { index: 9, term: 2, voters: ["n0", "n1"], removedAt: { n2: 7 } });
    assert.equal(Buffer.from(s.snapshot!.data).toString(), "state");
    // One encoding, two ways of writing it: the parts concatenated are the whole frame.
    const whole = encodeFrame(app);
    assert.ok(whole.equals(Buffer.concat(encodeFrameParts(app))));
    assert.equal(whole.readUInt32BE(4), crc32(whole.subarray(8)) >>> 0);
  } finally {
    await tx.stop();
    await rx.stop();
  }
});

test("the Raft index keeps the newest entries' wire form up to its cache bound; older ones are read back from the log", async () => {
  const dir = await tempDir("dledger-index-cache");
  cleanups.push(() => removeDir(dir));
  const cl = join(dir, "commitlog");
  fs.mkdirSync(cl, { recursive: true });
  const seg = Buffer.alloc(4096);
  record(100, 7).copy(seg, 0);
  fs.writeFileSync(join(cl, "0".repeat(20)), seg);
  const ix = RaftLogIndex.open(join(dir, "dledger"), ["n0", "n1", "n2"], cl);
  const MiB = 1024 * 1024;
  // Entry 1 covers the record; entries 2..80 cover nothing but carry 1 MiB wire forms each
  // (80 MiB: past the 64 MiB cache), so the oldest ones must be dropped from the cache.
  ix.append([{ index: 1, term: 1, type: "normal", end: 100, wire: Buffer.alloc(MiB, 1) }]);
  for (let i = 2; i <= 80; i++)
    ix.append([{ index: i, term: 1, type: "normal", end: 100, wire: Buffer.alloc(MiB, i) }]);
  const data = (i: number) => ix.entries(i, i + 1, 1 << 30)[0]!.data;
  // Evicted: rebuilt from the commit log (entry 1: the record; entry 2: no bytes).
  const d1 = decodeEntryData(data(1));
  assert.deepEqual([d1.end, d1.chunks.length, d1.chunks[0]!.bytes.length], [100, 1, 100]);
  assert.equal(decodeEntryData(data(2)).chunks.length, 0);
  // The newest 64 are still cached (the wire form as received).
  for (const i of [17, 50, 80]) {
    assert.equal(data(i).byteLength, MiB, `entry ${i} cached`);
    assert.equal(data(i)[0], i);
  }
  assert.equal(data(16).byteLength < MiB, true, "entry 16 evicted");
  // A truncated suffix leaves the cache; new entries at those indexes are cached anew.
  ix.truncateFrom(79);
  ix.append([{ index: 79, term: 2, type: "normal", end: 100, wire: Buffer.alloc(MiB, 200) }]);
  assert.equal(data(79)[0], 200);
  ix.close();
});

test("the Raft index checks each record's CRC at start-up: a torn record that reads as a plausible entry ends the index", async () => {
  const dir = await tempDir("dledger-index-crc");
  cleanups.push(() => removeDir(dir));
  const cl = join(dir, "commitlog");
  fs.mkdirSync(cl, { recursive: true });
  const voters = ["n0", "n1", "n2"];
  const ix = RaftLogIndex.open(join(dir, "dledger"), voters, cl);
  ix.append([
    { index: 1, term: 1, type: "noop", end: 0 },
    { index: 2, term: 1, type: "normal", end: 100 },
    { index: 3, term: 2, type: "normal", end: 160 },
  ]);
  await ix.sync();
  ix.close();
  const path = join(dir, "dledger", "index");
  // Entry 3 torn: its end's low bytes never reached the disk (140 instead of 160 would still
  // look valid: a term, an end past the previous one).
  const bytes = fs.readFileSync(path);
  bytes.writeDoubleBE(140, 48 + 8);
  fs.writeFileSync(path, bytes);
  const torn = RaftLogIndex.open(join(dir, "dledger"), voters, cl);
  assert.equal(torn.lastIndex(), 2);
  assert.equal(torn.endOf(2), 100);
  assert.equal(fs.statSync(path).size, 48, "the torn record is cut");
  torn.close();
  // An index written before records had a CRC (format byte 0) still opens; a record without
  // one after a record with one is torn.
  const legacy = Buffer.alloc(72);
  for (const [i, term, end] of [
    [0, 1, 10],
    [1, 1, 20],
  ] as const) {
    legacy.writeDoubleBE(term, i * 24);
    legacy.writeDoubleBE(end, i * 24 + 8);
    legacy.writeUInt8(0, i * 24 + 16);
  }
  fs.writeFileSync(path, legacy.subarray(0, 48));
  const old = RaftLogIndex.open(join(dir, "dledger"), voters, cl);
  assert.equal(old.lastIndex(), 2);
  old.append([{ index: 3, term: 2, type: "normal", end: 30 }]);
  await old.sync();
  old.close();
  const mixed = fs.readFileSync(path);
  assert.equal(mixed.length, 72);
  const after = Buffer.alloc(24);
  after.writeDoubleBE(2, 0);
  after.writeDoubleBE(40, 8);
  fs.writeFileSync(path, Buffer.concat([mixed, after]));
  const reopened = RaftLogIndex.open(join(dir, "dledger"), voters, cl);
  assert.equal(reopened.lastIndex(), 3);
  assert.equal(reopened.endOf(3), 30);
  reopened.close();
});
