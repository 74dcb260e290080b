import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Admin, Producer } from "../src/index.js";
import { FAST, testLogger, uniq, until, waitFor } from "./cluster.js";
import { DLedgerGroup } from "./dledgerGroup.js";

/*
 * A follower whose disk fills up (here: a preloaded fault makes statfs report 100 % used, so
 * its store refuses appends above diskSpaceWarningLevelRatio) holds what the leader sends and
 * acknowledges nothing; when space returns it appends what it held, catches up and
 * acknowledges again, by itself — no restart. Proven by then killing the other follower: the
 * group still commits, so the once-full follower is acknowledging.
 */

const STATFS_FULL = fileURLToPath(new URL("../../../../bench/faults/statfsFull.mjs", import.meta.url));

test("a follower whose disk is full pauses (acknowledges nothing) and resumes by itself once space is freed: it catches up and counts for the majority again", async () => {
  const group = await DLedgerGroup.start(3);
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  let p: Producer | undefined;
  try {
    const leader = await group.leader();
    const victim = group.replicas.find((r) => r.id !== leader.id)!;
    const other = group.replicas.find((r) => r.id !== leader.id && r.id !== victim.id)!;
    await group.kill(victim.id);
    group.nodeArgs.set(victim.id, ["--import", STATFS_FULL]);
    await group.startReplica(victim.id);
    group.nodeArgs.delete(victim.id);

    const topic = uniq("DDF");
    const cur = await group.leader();
    await admin.createTopic({ topic, brokerAddr: cur.addr, readQueueNums: 1, writeQueueNums: 1 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    p = new Producer({
      endpoints: group.nsAddr,
      producerGroup: uniq("DDFp"),
      logger: testLogger("producer"),
      ...FAST,
    });
    await p.startup();
    let n = 0;
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) await p!.send({ topic, body: `m${n++}` });
    };
    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    await send(20);
    await until(
      async () => (await info(victim.addr)).commitLogMaxOffset === (await info(cur.addr)).commitLogMaxOffset,
      20_000,
      "the victim in step before its disk fills",
    );

    process.kill(victim.child!.pid!, "SIGUSR2"); // its disk reads 100 % used from now on
    await waitFor(
      () => /refusing appends/.test(victim.stderr ?? ""),
      10_000,
      "the victim's store refusing appends",
    );
    await send(20); // committed by the leader and the other follower
    const stalled = Number((await info(victim.addr)).commitLogMaxOffset);
    assert.ok(
      stalled < Number((await info(cur.addr)).commitLogMaxOffset),
      "the victim holds, and writes, nothing",
    );

    process.kill(victim.child!.pid!, "SIGUSR2"); // space is back
    await until(
      async () => (await info(victim.addr)).commitLogMaxOffset === (await info(cur.addr)).commitLogMaxOffset,
      20_000,
      "the victim catching up by itself once space is freed",
    );
    assert.ok(group.alive(victim), "the victim was never restarted");

    // The other follower goes: the leader and the victim must now make the majority.
    await group.kill(other.id);
    await send(10); // acknowledged: committed on the leader and the victim
    await until(
      async () => (await info(victim.addr)).commitLogMaxOffset === (await info(cur.addr)).commitLogMaxOffset,
      20_000,
      "the victim holding what was just committed",
    );
  } finally {
    await p?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});
