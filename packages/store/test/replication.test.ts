import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeMessages } from "@tidemq/protocol";
import type { MessageStore } from "../src/index.js";
import { msg, openStore, removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
const stores: MessageStore[] = [];
after(async () => {
  for (const s of stores) await s.shutdown().catch(() => undefined);
  for (const d of dirs) await removeDir(d);
});

async function open(extra = {}): Promise<{ dir: string; store: MessageStore }> {
  const dir = await tempDir("tidemq-repl-");
  dirs.push(dir);
  const store = await openStore(dir, extra);
  stores.push(store);
  return { dir, store };
}

/** Copies everything confirmed on `src` past `dst`'s end, chunk by chunk (what a slave does). */
async function copy(src: MessageStore, dst: MessageStore, maxBytes: number): Promise<number> {
  let chunks = 0;
  for (let i = 0; i < 100_000; i++) {
    const c = await src.readReplicationChunk(dst.maxPhysicalOffset, maxBytes);
    if (!c) return chunks;
    if (c.data.length > 0) await dst.appendReplicated(c.offset, c.data, c.segmentSize);
    else assert.fail("empty chunk");
    chunks++;
  }
  return chunks;
}

test("replicated appends: byte-identical records at the source's offsets, across segment rolls and a record larger than a segment; the replica's queues and index work", async () => {
  const { store: master } = await open();
  const { dir: slaveDir, store: slave } = await open();
  const bodies: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    // ~700 KiB per segment of 1 MiB: several rolls; one body of 1.5 MiB gets a segment of its own.
    const body = i === 1500 ? Buffer.alloc(1_500_000, 7) : Buffer.from(`m${i}-${"x".repeat(i % 900)}`);
    bodies.push(body);
  }
  const results = [];
  for (let i = 0; i < bodies.length; i += 50) {
    results.push(
      ...(await master.putMessagesBatch(
        bodies.slice(i, i + 50).map((b, k) => msg("T", (i + k) % 3, b, { KEYS: `k${i + k}` })),
      )),
    );
  }
  const chunks = await copy(master, slave, 32 * 1024);
  assert.ok(chunks > 10, `chunks ${chunks}`);
  assert.equal(slave.maxPhysicalOffset, master.maxPhysicalOffset);
  for (let q = 0; q < 3; q++) {
    assert.equal(slave.getMaxOffsetInQueue("T", q), master.getMaxOffsetInQueue("T", q));
    const a = await master.getMessage("T", q, 0, 64);
    const b = await slave.getMessage("T", q, 0, 64);
    assert.equal(b.status, "FOUND");
    assert.deepEqual(b.body, a.body);
  }
  // offsetMsgId look-ups and key queries hit the same records.
  const r = results[1500]!;
  const rec = await slave.lookMessageByOffset(r.commitLogOffset);
  assert.ok(rec);
  assert.equal(decodeMessages(rec)[0]!.body.length, 1_500_000);
  const byKey = await slave.queryMessage("T", "k2999", 4, 0, Date.now() + 1000);
  assert.equal(byKey.messages.length, 1);

  // A restarted replica continues where it stopped, after more writes on the source.
  await slave.shutdown();
  const reopened = await openStore(slaveDir);
  stores.push(reopened);
  assert.equal(reopened.maxPhysicalOffset, master.maxPhysicalOffset);
  await master.putMessage(msg("T", 0, "after restart"));
  await copy(master, reopened, 32 * 1024);
  const max = master.getMaxOffsetInQueue("T", 0);
  assert.equal(reopened.getMaxOffsetInQueue("T", 0), max);
  const last = await reopened.getMessage("T", 0, max - 1, 1);
  assert.equal(decodeMessages(last.body)[0]!.body.toString(), "after restart");
});

test("replicated bytes that do not continue the log, or do not decode, are refused and change nothing", async () => {
  const { store: master } = await open();
  const { store: slave } = await open();
  await master.putMessage(msg("T", 0, "one"));
  await master.putMessage(msg("T", 0, "two"));
  const c = (await master.readReplicationChunk(0, 1 << 20))!;
  await slave.appendReplicated(c.offset, c.data, c.segmentSize);
  assert.equal(slave.getMaxOffsetInQueue("T", 0), 2);
  await assert.rejects(
    slave.appendReplicated(c.offset + 5, c.data, c.segmentSize),
    /do not continue the log/,
  );
  await assert.rejects(
    slave.appendReplicated(slave.maxPhysicalOffset, Buffer.alloc(200, 1), c.segmentSize),
    /./,
  );
  assert.equal(slave.maxPhysicalOffset, c.data.length);
  // A replica asking from inside a record, or past the end, is told the logs diverged.
  await assert.rejects(master.readReplicationChunk(7, 1024), /not a record boundary/);
  await assert.rejects(master.readReplicationChunk(master.maxPhysicalOffset + 100, 1024), /diverged/);
});

test("a replica whose first segment does not end where the source's does is refused at the source's blank filler, and nothing changes", async () => {
  const { store: source } = await open({ mappedFileSizeCommitLog: 64 * 1024 });
  const { store: replica } = await open();
  // ~10 KiB records: the first segment fills and ends with a blank filler.
  for (let i = 0; i < 8; i++) await source.putMessage(msg("T", 0, Buffer.alloc(10_000, i)));
  const first = (await source.readReplicationChunk(0, 1))!; // one record
  // The replica begins after that record, its first segment sized as if it began there (a
  // guess — what a snapshot with a wrong segment end did): it would end 64 KiB further.
  let from = first.next;
  let chunk = (await source.readReplicationChunk(from, 20_000))!;
  await replica.appendReplicated(chunk.offset, chunk.data, chunk.segmentSize);
  let refused: Error | undefined;
  for (let i = 0; i < 20 && !refused; i++) {
    from = chunk.next;
    chunk = (await source.readReplicationChunk(from, 20_000))!;
    const end = replica.maxPhysicalOffset;
    refused = await replica.appendReplicated(chunk.offset, chunk.data, chunk.segmentSize).then(
      () => undefined,
      (err: Error) => err,
    );
    if (refused) assert.equal(replica.maxPhysicalOffset, end, "nothing reserved");
  }
  assert.match(
    String(refused?.message),
    /blank filler, which ends its segment at 65536, but this log's segment ends at \d+: the segments do not line up/,
  );
});

test("a commit gate holds visibility: records past the committed offset are stored but neither readable nor acknowledged", async () => {
  const { store } = await open();
  const gate = { committedOffset: 0 };
  store.setCommitGate(gate);
  let acked = false;
  const put = store.putMessage(msg("G", 0, "held")).then((r) => {
    acked = true;
    return r;
  });
  // The write itself completes (the log's confirmed offset moves), visibility does not.
  // (No event tells a gated write landed: poll, bounded.)
  for (let i = 0; i < 1000 && store.confirmedPhysicalOffset === 0; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.ok(store.confirmedPhysicalOffset > 0);
  assert.equal(store.visibleOffset, 0);
  assert.equal(store.getMaxOffsetInQueue("G", 0), 0);
  assert.equal(await store.lookMessageByOffset(0), undefined);
  assert.equal(acked, false);
  gate.committedOffset = store.confirmedPhysicalOffset;
  store.commitAdvanced();
  const r = await put;
  assert.equal(r.status, "PUT_OK");
  assert.equal(store.getMaxOffsetInQueue("G", 0), 1);
  assert.ok(await store.lookMessageByOffset(0));
});

test("truncateUncommitted takes back what the commit gate holds (puts refused, queue offsets reused, log cut durably) and never anything visible", async () => {
  const { dir, store } = await open();
  const gate = { committedOffset: 0 };
  store.setCommitGate(gate);
  const puts = Array.from({ length: 6 }, (_, i) => store.putMessage(msg("R", 0, `m${i}`)));
  const settled = puts.map((p) =>
    p.then(
      (r) => ({ ok: r }),
      (err: Error) => ({ err }),
    ),
  );
  // Confirmed locally (written) but committed only up to the end of the third record.
  for (let i = 0; i < 1000 && store.confirmedPhysicalOffset < store.maxPhysicalOffset; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const sizes = (await master3(store)).map((r) => r.length);
  const cut = sizes[0]! + sizes[1]! + sizes[2]!;
  gate.committedOffset = cut;
  store.commitAdvanced();
  const first3 = await Promise.all(puts.slice(0, 3));
  assert.deepEqual(
    first3.map((r) => r.queueOffset),
    [0, 1, 2],
  );
  await assert.rejects(store.truncateUncommitted(cut - 1), /visible|boundary/);
  await assert.rejects(store.truncateUncommitted(sizes[0]!), /visible/);
  await assert.rejects(store.truncateUncommitted(cut + 5), /not a record boundary/);
  await store.truncateUncommitted(cut);
  const outcomes = await Promise.all(settled);
  for (const o of outcomes.slice(3)) assert.match(String((o as { err?: Error }).err), /taken back/);
  assert.equal(store.maxPhysicalOffset, cut);
  // The next append reuses queue offset 3 at the cut, and becomes visible once committed.
  const next = store.putMessage(msg("R", 0, "after the cut"));
  for (let i = 0; i < 1000 && store.confirmedPhysicalOffset <= cut; i++)
    await new Promise((r) => setTimeout(r, 5));
  gate.committedOffset = store.confirmedPhysicalOffset;
  store.commitAdvanced();
  const r = await next;
  assert.equal(r.queueOffset, 3);
  assert.equal(r.commitLogOffset, cut);
  // A crash now: recovery finds exactly four records.
  await store.halt();
  const reopened = await openStore(dir);
  stores.push(reopened);
  assert.equal(reopened.getMaxOffsetInQueue("R", 0), 4);
  const all = await reopened.getMessage("R", 0, 0, 10);
  assert.deepEqual(
    decodeMessages(all.body).map((m) => m.body.toString()),
    ["m0", "m1", "m2", "after the cut"],
  );
});

/** The first three records of queue R/0, read from the log by physical offset. */
async function master3(store: MessageStore): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let off = 0;
  for (let i = 0; i < 3; i++) {
    const c = (await store.readReplicationChunk(off, 1))!;
    out.push(c.data);
    off = c.next;
  }
  return out;
}

test("a store opened behind a commit gate (a Raft log after a crash) keeps uncommitted records pending: readable only once committed, queue offsets continue past them, and they can still be taken back", async () => {
  const { dir, store } = await open();
  const gate = { committedOffset: 0 };
  store.setCommitGate(gate);
  const seen: Array<[number, number]> = [];
  store.setLocalAppendListener((prevEnd, offset, bytes) => seen.push([prevEnd, offset + bytes.length]));
  const puts = Array.from({ length: 4 }, (_, i) => store.putMessage(msg("G", 0, `g${i}`)));
  for (const p of puts) p.catch(() => undefined);
  // Every local append is reported with its byte range before it is written (one Raft entry each).
  assert.equal(seen.length, 4);
  assert.equal(seen[0]![0], 0);
  for (let i = 1; i < 4; i++) assert.equal(seen[i]![0], seen[i - 1]![1]);
  await store.whenConfirmed(store.maxPhysicalOffset);
  const firstEnd = seen[0]![1];
  gate.committedOffset = firstEnd;
  store.commitAdvanced();
  assert.equal((await puts[0])!.queueOffset, 0);
  await store.halt();

  // Reopened with the gate where the group's commit index was: one record readable.
  const gate2 = { committedOffset: firstEnd };
  const reopened = await openStore(dir, { commitGate: gate2 });
  stores.push(reopened);
  assert.equal(reopened.getMaxOffsetInQueue("G", 0), 1);
  assert.equal(reopened.maxPhysicalOffset, seen[3]![1]);
  // Committing one more makes it readable.
  gate2.committedOffset = seen[1]![1];
  reopened.commitAdvanced();
  for (let i = 0; i < 1000 && reopened.getMaxOffsetInQueue("G", 0) < 2; i++)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(reopened.getMaxOffsetInQueue("G", 0), 2);
  // The last two are taken back (a new leader's log differs); the next append reuses offset 2.
  await reopened.truncateUncommitted(seen[1]![1]);
  const next = reopened.putMessage(msg("G", 0, "new"));
  await reopened.whenConfirmed(reopened.maxPhysicalOffset);
  gate2.committedOffset = reopened.maxPhysicalOffset;
  reopened.commitAdvanced();
  assert.equal((await next).queueOffset, 2);
  const all = await reopened.getMessage("G", 0, 0, 10);
  assert.deepEqual(
    decodeMessages(all.body).map((m) => m.body.toString()),
    ["g0", "g1", "new"],
  );
});
