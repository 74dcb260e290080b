import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { createTopicOn, FAST, testLogger, uniq, waitFor } from "./cluster.js";
import { DLedgerGroup, type Replica } from "./dledgerGroup.js";

/*
 * dLegerLazyIndexSync over real broker processes: a replica acknowledges an entry once its
 * commit-log bytes are fsynced and fsyncs its Raft index off that path (the test-only hook
 * TIDEMQ_DLEDGER_INDEX_SYNC_DELAY_MS starts every index fsync 200 ms late, so a crash always
 * finds acknowledged entries whose index records are not on disk).
 *
 * The scenario the amnesia mark exists for, step by step: a follower X is paused, so the
 * leader L and the other follower F commit entries X lacks; F is killed and loses the tail of
 * its index (what a power cut does to records not yet fsynced — the test cuts them off the
 * file); L is killed too (the second failure). F restarts without those entries. Without the
 * mark, F would vote for X (X's log is as long as F's shortened one), X would lead, and L's
 * committed, acknowledged tail would be overwritten when L rejoins. With it, F votes for no
 * one until its log passes the mark: no leader until L is back; then nothing acknowledged is
 * lost.
 */

const INDEX_RECORD = 24;
let group: DLedgerGroup;
before(async () => {
  process.env.TIDEMQ_DLEDGER_INDEX_SYNC_DELAY_MS = "200"; // inherited by the replicas
  group = await DLedgerGroup.start(3, { dLegerLazyIndexSync: true });
});
after(async () => {
  await group?.stop();
});

/**
 * SIGCONT to a replica this test paused. A paused process cannot exit by itself: if it is gone,
 * something outside the test killed it, and the scenario (X and F a majority) no longer holds —
 * said so, with how it ended, instead of a bare "kill ESRCH" (or a signal to a reused PID).
 */
function resume(r: Replica): void {
  if (!group.alive(r))
    throw new Error(
      `${r.id} exited while paused (${r.child?.exitCode ?? r.child?.signalCode}): killed from outside the test`,
    );
  process.kill(r.child!.pid!, "SIGCONT");
}

const createTopic = async (topic: string) =>
  createTopicOn(group.nsAddr, (await group.leader()).addr, topic, 4, 10_000);

test("lazy index sync: a follower that lost index records of acknowledged entries votes for no one until caught up; with the leader killed too, nothing acknowledged is lost", {
  timeout: 180_000,
}, async () => {
  const topic = uniq("DLZ");
  await createTopic(topic);
  const leader = await group.leader();
  const [f, x] = group.replicas.filter((r) => r.id !== leader.id);
  assert.ok(f && x);
  assert.deepEqual(group.amnesiaMark(leader.id), { lazy: true, recoverTo: 0 });

  const p = new Producer({ endpoints: group.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const acked: string[] = [];
  let stop = false;
  let seq = 0;
  // Eight senders at once: entries keep coming, so index fsyncs are always behind.
  const senders = Array.from({ length: 8 }, async () => {
    for (let n = 0; n < 100_000 && !stop; n++) {
      const body = `m${seq++}`;
      try {
        await p.send({ topic, body });
        acked.push(body);
      } catch {
        // not acknowledged (no leader for a while): may or may not be stored
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  const c = new PushConsumer({
    endpoints: group.nsAddr,
    consumerGroup: uniq("DLZG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume(m) {
        got.add(m.body.toString());
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  const got = new Set<string>();
  try {
    await waitFor(() => acked.length >= 300, 30_000, "sends under way");
    // 1. X paused: L and F commit without it.
    process.kill(x.child!.pid!, "SIGSTOP");
    let xStopped = true;
    const indexPath = join(group.dir, f.id, "dledger", "index");
    try {
      const sizeAtPause = fs.statSync(indexPath).size;
      const before = acked.length;
      await waitFor(() => acked.length >= before + 300, 30_000, "sends acknowledged by L and F alone");
      // 2. F killed; its index loses its tail: half the records appended since X paused, and
      //    none its store already dispatched (its checkpoint covers only entries whose index
      //    records were fsynced: DLedgerNode caps the commit gate there). A power cut loses
      //    only records not fsynced yet (with the hook, those of up to the last ~400 ms); this
      //    may lose more, a harsher fault the mark covers all the same (it needs only the
      //    bytes to survive, which they do). F's log stays longer than X's, so without the
      //    mark X would vote for F, which lacks acknowledged entries L holds.
      //    F is killed while it holds such entries: a pause of the sends under load (no entry
      //    for an index fsync's 200 ms delay) lets it dispatch and checkpoint all it holds, and
      //    a kill then would leave nothing to lose. So its files are read until they show
      //    entries past its checkpoint, and the kill follows in the same turn (bounded).
      const atPause = sizeAtPause / INDEX_RECORD;
      const cut = () => {
        const index = fs.readFileSync(indexPath);
        const records = Math.floor(index.length / INDEX_RECORD);
        const checkpoint = JSON.parse(fs.readFileSync(join(group.dir, f.id, "checkpoint"), "utf8")) as {
          logicsOffset: number;
        };
        let keep = atPause + Math.floor((records - atPause) / 2);
        while (keep < records && index.readDoubleBE((keep - 1) * INDEX_RECORD + 8) <= checkpoint.logicsOffset)
          keep++;
        return { records, keep };
      };
      await waitFor(
        () => {
          const seen = cut();
          return seen.records - atPause >= 8 && seen.keep < seen.records;
        },
        30_000,
        `${f.id}'s files to show 8 entries since ${x.id} paused, some past its checkpoint`,
      );
      await group.kill(f.id); // its SIGKILL goes out in this turn, right after the read
      const { records, keep } = cut();
      assert.ok(records - atPause >= 8, `only ${records - atPause} entries while ${x.id} was paused`);
      assert.ok(keep < records, `${f.id} dispatched every entry it holds: nothing to lose`);
      fs.truncateSync(indexPath, keep * INDEX_RECORD);
      // 3. The second failure: L killed. X, resumed, lacks what L and F committed while it slept.
      await group.kill(leader.id);
      resume(x);
      xStopped = false;
    } finally {
      // Cleanup after a failure above: X may be gone too (nothing to resume then).
      if (xStopped && group.alive(x)) process.kill(x.child!.pid!, "SIGCONT");
    }
    const ackedBeforeOutage = acked.length;
    // 4. F restarts amnesiac: it may have acknowledged entries ending up to its log's end.
    await group.startReplica(f.id);
    const mark = group.amnesiaMark(f.id);
    assert.ok(mark && mark.recoverTo > 0, `no amnesia mark on ${f.id}: ${JSON.stringify(mark)}`);
    // X and F are a majority, but F grants no vote and does not campaign: no leader. Four
    // seconds are two to four election timeouts of X campaigning.
    const deadline = Date.now() + 4_000;
    while (Date.now() < deadline) {
      const leaders = group.replicas.filter((r) => r.role === "leader" && group.alive(r));
      assert.deepEqual(
        leaders.map((r) => r.id),
        [],
        `${leaders.map((r) => r.id)} leads while ${f.id} is amnesiac and ${leader.id} down`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    // 5. L returns: it leads (its log is the longest), F catches up and clears its mark.
    await group.startReplica(leader.id);
    await group.leader(30_000);
    await waitFor(() => acked.length >= ackedBeforeOutage + 200, 30_000, "sends acknowledged again");
    await waitFor(() => group.amnesiaMark(f.id)?.recoverTo === 0, 30_000, `${f.id}'s amnesia mark cleared`);
    stop = true;
    await Promise.all(senders);
    // 6. Every acknowledged send is consumed.
    await c.startup();
    await waitFor(() => acked.every((b) => got.has(b)), 60_000, "every acknowledged message consumed");
  } finally {
    stop = true;
    await Promise.all(senders);
    await c.shutdown();
    await p.shutdown();
  }
});
