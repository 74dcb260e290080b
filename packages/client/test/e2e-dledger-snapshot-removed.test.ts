import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { Admin, NoRouteError, Producer } from "../src/index.js";
import { FAST, noDiskPressure, testLogger, uniq, until, waitFor } from "./cluster.js";
import { DLedgerGroup, FORCED_RETENTION, type Replica } from "./dledgerGroup.js";

/*
 * DLedger group of three broker processes (n0..n2), retention forced on every replica. A
 * follower V is killed and removed (removeDLedgerPeer, config entry N); the leader L writes
 * until its retention deleted the commit-log bytes of entry N (the Raft log is compacted past
 * it). The other follower W is wiped and restarted empty: it installs L's snapshot, whose
 * metadata names V's removal (SnapshotMetadata.removedAt) — W never holds entry N itself, so
 * what it knows of V comes only from that snapshot (its membership.json base).
 *
 * Then L is killed, so among V's old voters (n0, n1, n2) only W is up, and V is started again
 * on its old data, which still names it a voter: it asks W (and the dead L) for pre-votes, and
 * W alone tells it "you were removed by config entry N". That works with W leaderless: the
 * member answers a removed peer's (pre-)vote in RaftNode.step before any role or term handling
 * (removedPeer.ts tellIfRemoved), from its committed membership, which the snapshot restored
 * with the removal. Without the removal in the snapshot, W's history before its snapshot was
 * gone and V kept pre-campaigning, registered with the NameServer (seen on the build before
 * commit e8f9d1a: "registered: true, role PRECANDIDATE" after 30 s). Then the same once W
 * restarted on its data: it knows the removal from its membership.json base alone.
 */

/** W's dledger/membership.json: the base an installed snapshot left (MembershipLog). */
interface MembershipFile {
  entries: { index: number }[];
  base?: { index: number; voters: string[]; removedAt?: Record<string, number> };
}

test("a member that installed a snapshot covering a replica's removal is the one to tell it, when that replica comes back on its old data: it logs the removal's config entry, unregisters, and stops campaigning", async (t) => {
  const why = await noDiskPressure();
  if (why) {
    t.skip(why);
    return;
  }
  const group = await DLedgerGroup.start(3, { ...FORCED_RETENTION });
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const topic = uniq("DSR");
  let p: Producer | undefined;
  try {
    const L = await group.leader();
    const [V, W] = group.replicas.filter((r) => r.id !== L.id) as [Replica, Replica];
    await admin.createTopic({ topic, brokerAddr: L.addr, readQueueNums: 1, writeQueueNums: 1 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    p = new Producer({
      endpoints: group.nsAddr,
      producerGroup: uniq("DSRp"),
      topic,
      logger: testLogger("producer"),
      ...FAST,
    });
    await p.startup();
    const fill = async (count: number) => {
      for (let i = 0; i < count; i++) await p!.send({ topic, body: `r${i}-${"x".repeat(3000)}` });
    };
    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    await fill(5);

    // 1. V dies and is removed.
    await group.kill(V.id);
    const removed = await group.admin(["removeDLedgerPeer", "-g", group.brokerName, "-i", V.id]);
    assert.equal(removed.code, 0, removed.out);
    const N = Number(/config entry (\d+) committed/.exec(removed.out)?.[1]);
    assert.ok(N > 0, `the removal's config entry in: ${removed.out}`);
    // Entry N's bytes end at or before the leader's end now.
    const removalEnd = Number((await info(L.addr)).commitLogMaxOffset);

    // 2. L's retention deletes the segment holding entry N (64 KiB segments: ~22 sends each).
    await fill(30);
    await until(
      async () => Number((await info(L.addr)).commitLogMinOffset) > removalEnd,
      30_000,
      `${L.id} deleting the segment holding the removal (entry ${N}, ending at or before ${removalEnd})`,
    );

    // 3. W is wiped and restarts empty: it installs L's snapshot (logged at warn).
    await group.kill(W.id);
    await rm(join(group.dir, W.id), { recursive: true, force: true });
    await startLogging(group, W.id);
    const INSTALL = /installing the leader's snapshot at entry (\d+)/;
    await waitFor(() => INSTALL.test(W.stderr ?? ""), 30_000, `${W.id} installing ${L.id}'s snapshot`);
    const at = Number(INSTALL.exec(W.stderr!)![1]);
    assert.ok(at >= N, `the snapshot (entry ${at}) covers the removal (entry ${N})`);
    const membershipPath = join(group.dir, W.id, "dledger", "membership.json");
    const membership = (): MembershipFile => JSON.parse(readFileSync(membershipPath, "utf8"));
    await until(async () => membership().base?.index === at, 10_000, `${W.id}'s membership base at ${at}`);
    const base = membership().base!;
    assert.deepEqual([...base.voters].sort(), [L.id, W.id].sort(), "the voters as of the snapshot");
    assert.deepEqual(base.removedAt, { [V.id]: N }, "the snapshot names V's removal");
    assert.ok(
      membership().entries.every((e) => e.index > at),
      `${W.id} never held entry ${N} itself: ${JSON.stringify(membership().entries)}`,
    );
    await until(
      async () => (await info(W.addr)).commitLogMaxOffset === (await info(L.addr)).commitLogMaxOffset,
      30_000,
      `${W.id} caught up with ${L.id}`,
    );

    // 4. L goes: W is the only one of V's old voters up. V comes back on its old data.
    const TOLD = new RegExp(
      `replica ${V.id} was removed from the group by config entry (\\d+) while it was down \\(told by (\\w+)\\)`,
    );
    const registered = async () => {
      const addrs = (await admin.getClusterInfo()).brokerAddrTable[group.brokerName]?.brokerAddrs ?? {};
      return Object.values(addrs).includes(V.addr);
    };
    /** V starts on its old data; W (knowing the removal from `source`) must tell it. */
    const comesBackAndIsTold = async (source: string) => {
      await startLogging(group, V.id);
      await until(
        async () => TOLD.test(V.stderr ?? "") && !(await registered()),
        30_000,
        `${V.id} told of its removal by ${W.id} (${source}) and unregistered`,
      ).catch(async (err: Error) => {
        const role = await info(V.addr).then((i) => i.dLegerRole, String);
        assert.fail(`${err.message}; registered: ${await registered()}, role ${role}; its log: ${V.stderr}`);
      });
      const [, told, by] = TOLD.exec(V.stderr!)!;
      assert.equal(Number(told), N, "the removal's config entry");
      assert.equal(by, W.id, `told by the member that knows it only from ${source}`);
      assert.match(V.stderr!, /unregisters from the NameServers/);
      // No route at all counts as none to V: with L dead and W just restarted without a leader,
      // no replica has registered the topic (L's registration went with its connection).
      const route = await admin.getTopicRoute(topic).catch((err: unknown) => {
        if (err instanceof NoRouteError) return { brokerDatas: [] };
        throw err;
      });
      const routed = route.brokerDatas.flatMap((b) => Object.values(b.brokerAddrs ?? {}));
      assert.ok(!routed.includes(V.addr), `no route to ${V.id}: ${routed.join(",")}`);
      // It stops campaigning: a follower, not a pre-candidate, for three election timeouts (1 s
      // each; untold, it is a pre-candidate from its first one on, as the build before the
      // change showed).
      for (let i = 0, end = Date.now() + 3_000; Date.now() < end && i < 1000; i++) {
        const role = (await info(V.addr)).dLegerRole;
        assert.equal(role, "FOLLOWER", `${V.id}'s role after being told`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(group.alive(V), "it keeps running (the operator stops it)");
      assert.equal(V.stderr!.match(new RegExp(TOLD.source, "g"))!.length, 1, "told once");
    };
    await group.kill(L.id);
    await comesBackAndIsTold("the snapshot it installed");

    // 5. The same once W restarted (kill -9, alone, on its data): it knows the removal from
    // its membership.json base. V is started again (told only in memory, its data unchanged).
    await group.kill(V.id);
    await group.kill(W.id);
    await startLogging(group, W.id);
    await comesBackAndIsTold("its membership.json");
  } finally {
    await p?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});

/** Starts replica `id` with its warnings logged (to its stderr), the others as the tests' default. */
async function startLogging(group: DLedgerGroup, id: string): Promise<void> {
  const level = process.env.TIDEMQ_LOG_LEVEL;
  process.env.TIDEMQ_LOG_LEVEL = "warn";
  try {
    await group.startReplica(id);
  } finally {
    if (level === undefined) delete process.env.TIDEMQ_LOG_LEVEL;
    else process.env.TIDEMQ_LOG_LEVEL = level;
  }
}
