import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type TimerEntry, TimerKind, TimerSlots, TimerStore } from "../src/index.js";
import { removeDir, tempDir } from "./helpers.js";

const { dayOf, loadAtMs, loadedAction, placement, rollsNeeded, slotIndex, slotSecOf, slotsToLoad } =
  TimerSlots;

test("slot arithmetic: seconds, ring positions, placement, loading, rolls", () => {
  assert.equal(slotSecOf(0), 0);
  assert.equal(slotSecOf(999), 0);
  assert.equal(slotSecOf(1000), 1);
  assert.equal(slotSecOf(-1), -1);
  assert.equal(slotIndex(0, 10), 0);
  assert.equal(slotIndex(25, 10), 5);
  assert.equal(slotIndex(-1, 10), 9, "never negative");
  // Loaded up to second 100, a 10-slot wheel holds seconds 100..109 this lap.
  assert.equal(placement(99_999, 100, 10), "late");
  assert.equal(placement(100_000, 100, 10), "near");
  assert.equal(placement(109_999, 100, 10), "near");
  assert.equal(placement(110_000, 100, 10), "far");
  assert.equal(loadedAction(100_500, 100), "deliver");
  assert.equal(loadedAction(95_000, 100), "deliver", "an overdue entry (after a restart) is delivered");
  assert.equal(loadedAction(101_000, 100), "roll");
  assert.equal(loadAtMs(100, 500), 99_500);
  assert.equal(slotsToLoad(100, 99_499, 500, 50), 0, "not yet");
  assert.equal(slotsToLoad(100, 99_500, 500, 50), 1, "on time: one slot");
  assert.equal(slotsToLoad(100, 100_999, 500, 50), 1);
  assert.equal(slotsToLoad(100, 130_000, 500, 50), 30, "behind: every passed slot");
  assert.equal(slotsToLoad(100, 1_000_000, 500, 50), 50, "at most the batch");
  assert.equal(rollsNeeded(109_000, 100, 10), 0);
  assert.equal(rollsNeeded(110_000, 100, 10), 1);
  assert.equal(rollsNeeded(135_000, 100, 10), 3);
  assert.equal(dayOf(86_400_000 * 3 + 5), 3);
});

function entry(dueMs: number, n: number, kind: number = TimerKind.MESSAGE): TimerEntry {
  return { dueMs, commitLogOffset: n * 100, cqOffset: n, size: 100, uniqHash: n, kind };
}

/**
 * Loads slots up to `to` as the broker does: entries due are returned by second, entries of a
 * later lap come back as rolled copies (new consume-queue offsets from `cq.next`).
 */
async function loadRange(s: TimerStore, to: number, cq = { next: 1000 }): Promise<Map<number, TimerEntry[]>> {
  const out = new Map<number, TimerEntry[]>();
  while (s.loadedUpToSec < to) {
    const sec = s.loadedUpToSec;
    const due: TimerEntry[] = [];
    for (const e of await s.loadSlot(sec)) {
      if (loadedAction(e.dueMs, sec) === "deliver") due.push(e);
      else {
        const copy = { ...e, cqOffset: cq.next };
        assert.notEqual(s.add(copy, cq.next++, true), "late");
      }
    }
    if (due.length > 0) out.set(sec, due);
  }
  return out;
}

test("timer store: near, far (rolled) and late entries come out in their own second", async () => {
  const dir = await tempDir("tidemq-timer-");
  try {
    const base = 1_000_000;
    const s = await TimerStore.open({ dir, slots: 10, nowMs: base * 1000, segmentEntries: 2000 });
    assert.equal(s.add(entry(base * 1000 + 1500, 1), 0), "near");
    assert.equal(s.add(entry((base + 25) * 1000 + 7, 2), 1), "far");
    assert.equal(s.add(entry((base + 5) * 1000, 3), 2), "near");
    assert.equal(s.add(entry((base - 3) * 1000, 4), 3), "late", "already passed: the caller delivers it");
    assert.equal(s.enqueuedCq, 4);
    assert.equal(s.pending, 4);
    const got = await loadRange(s, base + 30);
    assert.deepEqual(
      [...got].map(([sec, es]) => [sec - base, es.map((e) => e.uniqHash)]),
      [
        [1, [1]],
        [5, [3]],
        [25, [2]],
      ],
    );
    assert.equal(got.get(base + 25)![0]!.dueMs, (base + 25) * 1000 + 7);
    // The far entry was rolled twice (at +5 → +15 → +25): three log entries for it.
    assert.equal(s.logBytes, 48 * 5, "entries 1 and 3, entry 2 three times; the late one is not logged");
    assert.equal(s.pending, 4, "a rolled copy is not counted again");
    const st = s.stats();
    assert.equal(st.pending, 4, "pending until the service says delivered");
    for (const e of [1, 2, 3, 4]) s.settled(base * 1000 + e);
    assert.equal(s.stats().pending, 0);
    await s.close(true);
  } finally {
    await removeDir(dir);
  }
});

test("timer store: a restart without a clean close goes back to the oldest unfinished epoch and redoes it", async () => {
  const dir = await tempDir("tidemq-timer-");
  try {
    const base = 2_000_000;
    let s = await TimerStore.open({ dir, slots: 10, nowMs: base * 1000 });
    s.add(entry((base + 1) * 1000 + 10, 1), 0);
    s.add(entry((base + 2) * 1000 + 20, 2), 1);
    s.add(entry((base + 14) * 1000, 3), 2);
    // Epoch A loads slots base and base+1; its delivery is not stored yet.
    const a = s.beginEpoch();
    await s.loadSlot(base);
    const dueA = await s.loadSlot(base + 1);
    assert.deepEqual(
      dueA.map((e) => e.uniqHash),
      [1],
    );
    s.hold(a);
    // Epoch B loads base+2 and base+3 and finishes; more timers arrive meanwhile.
    const b = s.beginEpoch();
    const dueB = await s.loadSlot(base + 2);
    s.hold(b);
    s.release(b);
    await s.loadSlot(base + 3);
    s.add(entry((base + 8) * 1000, 4), 3);
    assert.deepEqual(
      dueB.map((e) => e.uniqHash),
      [2],
    );
    await s.persist();
    // "kill -9": no close. The snapshot is epoch A's start: A's delivery is redone.
    s = await TimerStore.open({ dir, slots: 99 });
    assert.equal(s.slots, 10, "the stored wheel keeps its size");
    assert.equal(s.loadedUpToSec, base);
    assert.equal(s.enqueuedCq, 3, "entry 4 comes again from the timer topic");
    s.add(entry((base + 8) * 1000, 4), 3);
    const cq = { next: 4 };
    const got = await loadRange(s, base + 20, cq);
    assert.deepEqual(
      [...got].map(([sec, es]) => [sec - base, es.map((e) => e.uniqHash)]),
      [
        [1, [1]],
        [2, [2]],
        [8, [4]],
        [14, [3]],
      ],
    );
    // Finish everything, close cleanly: the next open continues where this one stopped.
    await s.close(true);
    s = await TimerStore.open({ dir });
    assert.equal(s.loadedUpToSec, base + 20);
    assert.equal(s.enqueuedCq, cq.next, "the rolled copy's offset too");
    assert.deepEqual(await loadRange(s, base + 40), new Map());
    await s.close(true);
  } finally {
    await removeDir(dir);
  }
});

test("timer store: recall lookup, damaged snapshot refused, old log segments deleted", async () => {
  const dir = await tempDir("tidemq-timer-");
  try {
    const base = 3_000_000;
    const s = await TimerStore.open({ dir, slots: 10, nowMs: base * 1000, segmentEntries: 1365 });
    const due = (base + 3) * 1000 + 1;
    s.add(entry(due, 7), 0);
    assert.deepEqual(await s.findPending(due, 7), { message: true, recalled: false });
    assert.deepEqual(await s.findPending(due, 8), { message: false, recalled: false });
    assert.deepEqual(await s.findPending(due + 1, 7), { message: false, recalled: false });
    s.add(entry(due, 7, TimerKind.RECALL), 1);
    assert.deepEqual(await s.findPending(due, 7), { message: true, recalled: true });
    // Two segments' worth of timers due soon, loaded and finished: their segments go.
    for (let i = 0; i < 2 * 1365; i++) s.add(entry((base + 1) * 1000 + (i % 1000), 100 + i), 2 + i);
    s.beginEpoch();
    await loadRange(s, base + 5);
    s.beginEpoch();
    await s.persist();
    const segs = () => fs.readdirSync(join(dir, "log")).length;
    assert.equal(segs(), 1, "only the segment at the end is left");
    await s.close(true);
    const snap = join(dir, "wheel.snapshot");
    const bytes = fs.readFileSync(snap);
    bytes[100] = bytes[100]! ^ 0xff;
    fs.writeFileSync(snap, bytes);
    await assert.rejects(TimerStore.open({ dir }), /checksum/);
  } finally {
    await removeDir(dir);
  }
});

test("timer store: persists after the first go to a journal of changed positions; a torn journal tail is ignored; a big journal is folded into a snapshot", async () => {
  const dir = await tempDir("tidemq-timer-");
  try {
    const base = 4_000_000;
    let s = await TimerStore.open({ dir, slots: 10, nowMs: base * 1000 });
    s.add(entry((base + 2) * 1000, 1), 0);
    await s.persist(); // a new store: the full snapshot
    const journal = join(dir, "wheel.journal");
    assert.equal(fs.statSync(journal).size, 0);
    s.add(entry((base + 3) * 1000, 2), 1);
    s.beginEpoch();
    await s.persist();
    s.add(entry((base + 25) * 1000, 3), 2);
    s.add(entry((base + 4) * 1000, 4), 3);
    s.beginEpoch();
    await s.persist();
    const journalSize = fs.statSync(journal).size;
    assert.ok(journalSize > 0 && journalSize < 1000, `two small records, ${journalSize} bytes`);
    // A crash in the middle of the next record: a torn tail.
    fs.appendFileSync(journal, Buffer.from([0x31, 0x4a, 0x4d, 0x54, 0xff, 0x00, 0x00]));
    s = await TimerStore.open({ dir });
    assert.equal(s.enqueuedCq, 4);
    assert.equal(s.pending, 4);
    assert.equal(fs.statSync(journal).size, journalSize, "the torn tail is cut");
    const got = await loadRange(s, base + 30, { next: 4 });
    assert.deepEqual(
      [...got].map(([sec, es]) => [sec - base, es.map((e) => e.uniqHash)]),
      [
        [2, [1]],
        [3, [2]],
        [4, [4]],
        [25, [3]],
      ],
    );
    await s.close(true);
    // Folding: with a tiny journal limit the second persist writes a snapshot again.
    assert.ok(fs.statSync(journal).size > 0, "the close wrote a journal record");
    s = await TimerStore.open({ dir, journalMaxBytes: 1 });
    s.add(entry((base + 40) * 1000, 5), 10);
    s.beginEpoch();
    await s.persist();
    assert.equal(fs.statSync(journal).size, 0, "folded into the snapshot");
    s.add(entry((base + 41) * 1000, 6), 11);
    s.beginEpoch();
    await s.persist();
    assert.ok(fs.statSync(journal).size > 0, "then a record again");
    s = await TimerStore.open({ dir });
    assert.equal(s.enqueuedCq, 12);
    const later = await loadRange(s, base + 45);
    assert.deepEqual(
      [...later].map(([sec, es]) => [sec - base, es.map((e) => e.uniqHash)]),
      [
        [40, [5]],
        [41, [6]],
      ],
    );
    await s.close(true);
  } finally {
    await removeDir(dir);
  }
});

test("timer store: at a settled point (every delivery stored) a persist writes the state of that moment, so a crash redoes nothing and the pending count is exact", async () => {
  const dir = await tempDir("tidemq-timer-");
  try {
    const base = 3_000_000;
    let s = await TimerStore.open({ dir, slots: 10, nowMs: base * 1000 });
    for (let i = 0; i < 5; i++) s.add(entry((base + 1) * 1000 + i, i), i);
    s.add(entry((base + 6) * 1000, 9), 5);
    await s.persist();
    const a = s.beginEpoch();
    await s.loadSlot(base);
    const due = await s.loadSlot(base + 1);
    assert.equal(due.length, 5);
    for (const _ of due) s.hold(a);
    assert.equal(s.settledPoint(), false, "deliveries still outstanding: not a settled point");
    for (const e of due) {
      s.release(a);
      s.settled(e.dueMs);
    }
    assert.equal(s.pending, 1);
    assert.equal(s.settledPoint(), true);
    assert.equal(s.settledPoint(), false, "nothing changed since: no new epoch");
    await s.persist();
    // "kill -9": no close.
    s = await TimerStore.open({ dir });
    assert.equal(s.pending, 1, "the five delivered are not pending again");
    assert.equal(s.loadedUpToSec, base + 2, "and are not loaded (delivered) again");
    const got = await loadRange(s, base + 10, { next: 100 });
    assert.deepEqual(
      [...got].map(([sec, es]) => [sec - base, es.map((e) => e.uniqHash)]),
      [[6, [9]]],
    );
    await s.close(true);
  } finally {
    await removeDir(dir);
  }
});

test("timer store: without a settled point a crash goes back to the last deliveries' epoch (they count as pending again)", async () => {
  const dir = await tempDir("tidemq-timer-");
  try {
    const base = 4_000_000;
    let s = await TimerStore.open({ dir, slots: 10, nowMs: base * 1000 });
    for (let i = 0; i < 5; i++) s.add(entry((base + 1) * 1000 + i, i), i);
    const a = s.beginEpoch();
    await s.loadSlot(base);
    for (const e of await s.loadSlot(base + 1)) {
      s.hold(a);
      s.release(a);
      s.settled(e.dueMs);
    }
    await s.persist();
    s = await TimerStore.open({ dir });
    assert.equal(s.pending, 5, "redone after the crash");
    assert.equal(s.loadedUpToSec, base);
    await s.close(true);
  } finally {
    await removeDir(dir);
  }
});
