import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { Admin, Producer } from "../src/index.js";
import { FAST, noDiskPressure, testLogger, uniq, until, waitFor } from "./cluster.js";
import { DLedgerGroup, FORCED_RETENTION, FORCED_RETENTION_SEGMENT, freePorts } from "./dledgerGroup.js";

/*
 * DLedger group of three broker processes, 64 KiB segments, retention forced on every replica
 * (the disk counts as over diskMaxUsedSpaceRatio 10 %, a pass every 200 ms). A follower is
 * killed and its store wiped; the leader's retention deletes the start of its log; the
 * follower restarts empty, gets a snapshot (the leader's metadata, and where its log begins),
 * catches up from the leader's oldest data, and after a leadership transfer to it serves
 * every acknowledged message still retained, the topic, the subscription group and the
 * consumer offset written before the deleted segments, and takes writes. Then the third
 * replica is replaced by a new empty one (removeDLedgerPeer / addDLedgerPeer) after the new
 * leader's own retention moved: it gets a snapshot too and, leading after a transfer, serves
 * the same.
 */

const SEG = FORCED_RETENTION_SEGMENT;

test("a wiped follower restarting, and a new replica added, after the leader's retention deleted the log's start install a snapshot, catch up, and as leader after a transfer lose no acknowledged message still retained nor any metadata", async (t) => {
  const why = await noDiskPressure();
  if (why) {
    t.skip(why);
    return;
  }
  const group = await DLedgerGroup.start(3, {
    ...FORCED_RETENTION,
    autoCreateTopicEnable: false,
  });
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const topic = uniq("DSn");
  const cg = uniq("DSg");
  let p: Producer | undefined;
  try {
    const leader = await group.leader();
    await admin.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 2, writeQueueNums: 2 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    const groups = await admin.getAllSubscriptionGroups(leader.addr);
    const template = Object.values(groups)[0]!;
    await admin.updateSubscriptionGroup(leader.addr, { ...template, groupName: cg, retryMaxTimes: 7 });
    p = new Producer({
      endpoints: group.nsAddr,
      producerGroup: uniq("DSp"),
      topic,
      logger: testLogger("producer"),
      ...FAST,
    });
    await p.startup();
    /** Acknowledged sends: queue → queue offset → body. */
    const acked = new Map<number, Map<number, string>>([
      [0, new Map()],
      [1, new Map()],
    ]);
    let n = 0;
    const fill = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const body = `m${n++}-${"x".repeat(3000)}`;
        const r = await p!.send({ topic, body });
        acked.get(r.messageQueue.queueId)!.set(r.queueOffset, body);
      }
    };
    await fill(20);
    const mq0 = { topic, brokerName: group.brokerName, queueId: 0 };
    await admin.updateConsumerOffset(leader.addr, cg, mq0, 5);

    const follower = group.replicas.find((r) => r.id !== leader.id)!;
    await group.kill(follower.id);
    await rm(join(group.dir, follower.id), { recursive: true, force: true });
    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    // The leader's retention deletes the segments holding the topic, group and offset records.
    await fill(90);
    await until(
      async () => Number((await info(leader.addr)).commitLogMinOffset) >= 3 * SEG,
      30_000,
      "the leader deleting its first three segments",
    );

    await group.startReplica(follower.id);
    await until(
      async () => {
        const [li, fi] = await Promise.all([info(leader.addr), info(follower.addr)]);
        return li.commitLogMaxOffset === fi.commitLogMaxOffset && Number(fi.commitLogMinOffset) > 0;
      },
      30_000,
      "the wiped follower catching up from the leader's oldest data",
    );
    assert.ok(group.alive(follower), "the follower is up");
    await fill(10);

    await admin.transferDLedgerLeader(leader.addr, follower.id);
    await until(async () => follower.role === "leader", 20_000, `${follower.id} leading`);
    assert.equal((await group.leader()).id, follower.id);
    await fill(10); // it takes writes
    /** The replica at `a` has the metadata and every acknowledged message it still retains. */
    const check = async (a: string, who: string) => {
      assert.ok((await admin.getAllTopicConfig(a))[topic], `${who}: the topic, from a snapshot`);
      assert.equal(
        (await admin.getAllSubscriptionGroups(a))[cg]?.retryMaxTimes,
        7,
        `${who}: the group, from a snapshot`,
      );
      assert.equal(
        await admin.queryConsumerOffset(a, cg, mq0),
        5,
        `${who}: the consumer offset, from a snapshot`,
      );
      for (const [queueId, sent] of acked) {
        const mq = { topic, brokerName: group.brokerName, queueId };
        const min = await admin.getMinOffset(a, mq);
        const max = await admin.getMaxOffset(a, mq);
        assert.equal(
          max,
          Math.max(...sent.keys()) + 1,
          `${who} queue ${queueId}: every acknowledged message's offset`,
        );
        assert.ok(min > 0 && min < max, `${who} queue ${queueId}: retained [${min}, ${max})`);
        const got = new Map<number, string>();
        // Retention is forced on every replica: the segment holding `off` may be deleted while
        // this reads (seen under load: the pull after the first batch came back empty). What
        // it deleted is no longer "retained"; everything from the queue's min then is.
        let from = min;
        for (let off = min, i = 0; off < max && i < 1000; i++) {
          const r = await admin.pullMessages(a, mq, off, 32);
          for (const m of r.messages) got.set(m.queueOffset, m.body.toString());
          if (r.messages.length === 0) {
            const now = await admin.getMinOffset(a, mq);
            if (now <= off) break;
            from = now;
            off = now;
            continue;
          }
          off = r.nextBeginOffset;
        }
        assert.ok(from < max, `${who} queue ${queueId}: still retained [${from}, ${max})`);
        for (let off = from; off < max; off++) {
          assert.equal(got.get(off), sent.get(off), `${who} queue ${queueId} offset ${off}`);
        }
        for (const [off, body] of got)
          assert.equal(body, sent.get(off), `${who} queue ${queueId} offset ${off}`);
      }
    };
    await check(follower.addr, follower.id);

    // Replacing a replica: the third one dies and is removed; a new empty one (n3) is added
    // once this leader's own retention deleted the start of its log (the leader began at a
    // snapshot itself), gets a snapshot, catches up and, after a transfer, serves the same.
    const third = group.replicas.find((r) => r.id !== leader.id && r.id !== follower.id)!;
    const firstSeg = Number((await info(follower.addr)).commitLogMinOffset);
    await fill(70);
    await until(
      async () => Number((await info(follower.addr)).commitLogMinOffset) > firstSeg,
      30_000,
      `${follower.id} (leading) deleting the first segment it had`,
    );
    await group.kill(third.id);
    await admin.removeDLedgerPeer(follower.addr, third.id);
    const [port] = await freePorts(1);
    const live = group.peers
      .split(";")
      .filter((x) => !x.startsWith(`${third.id}-`))
      .join(";");
    const fresh = await group.addReplica("n3", { dLegerPeers: `${live};n3-127.0.0.1:${port}` });
    await admin.addDLedgerPeer(follower.addr, "n3", `127.0.0.1:${port}`);
    await fill(5);
    await until(
      async () => {
        const [li, fi] = await Promise.all([info(follower.addr), info(fresh.addr)]);
        return li.commitLogMaxOffset === fi.commitLogMaxOffset && Number(fi.commitLogMinOffset) > firstSeg;
      },
      30_000,
      "the new replica n3 catching up from the leader's oldest data",
    );
    await admin.transferDLedgerLeader(follower.addr, "n3");
    await until(async () => fresh.role === "leader", 20_000, "n3 leading");
    await fill(5);
    await check(fresh.addr, "n3");
  } finally {
    await p?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});

test("a follower with data that the leader's retention left behind resets itself: it moves its store aside (kept), starts again empty in the same process, installs the leader's snapshot and catches up, its Raft term kept", async (t) => {
  const why = await noDiskPressure();
  if (why) {
    t.skip(why);
    return;
  }
  const group = await DLedgerGroup.start(3, {
    ...FORCED_RETENTION,
  });
  const admin = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const topic = uniq("DSr");
  let p: Producer | undefined;
  try {
    const leader = await group.leader();
    await admin.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 1, writeQueueNums: 1 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    p = new Producer({
      endpoints: group.nsAddr,
      producerGroup: uniq("DSrp"),
      topic,
      logger: testLogger("producer"),
      ...FAST,
    });
    await p.startup();
    const fill = async (count: number) => {
      for (let i = 0; i < count; i++) await p!.send({ topic, body: `r${i}-${"x".repeat(3000)}` });
    };
    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    await fill(10);
    const behind = group.replicas.find((r) => r.id !== leader.id)!;
    // In step, and past the records a new leader writes on its own once its services have
    // started (the first retention floor, the first timer progress): after those an idle
    // leader writes nothing, so the end read here is the follower's end when it is stopped.
    await until(
      async () => {
        const [fi, li] = await Promise.all([info(behind.addr), info(leader.addr)]);
        return (
          fi.commitLogMaxOffset === li.commitLogMaxOffset &&
          (fi.dLegerRetentionFloor ?? "") !== "" &&
          (fi.dLegerTimerProgress ?? "") !== ""
        );
      },
      20_000,
      "the follower in step, with the leader's first floor and timer progress",
    );
    const itsEnd = Number((await info(behind.addr)).commitLogMaxOffset);
    await group.kill(behind.id, "SIGTERM");
    await fill(90);
    await until(
      async () => Number((await info(leader.addr)).commitLogMinOffset) > itsEnd,
      30_000,
      "the leader deleting past the stopped follower's end",
    );
    // It logs at warn (the reset's line); the others as the tests' default.
    const level = process.env.TIDEMQ_LOG_LEVEL;
    process.env.TIDEMQ_LOG_LEVEL = "warn";
    try {
      await group.startReplica(behind.id);
    } finally {
      if (level === undefined) delete process.env.TIDEMQ_LOG_LEVEL;
      else process.env.TIDEMQ_LOG_LEVEL = level;
    }
    const startedPid = behind.child!.pid;
    // It refuses nothing for long: it moves its store aside (one WARN naming the directory)
    // and starts again empty in the same process, installing the leader's snapshot.
    const MOVED =
      /fell behind the leader's retention \(its log ends at (\d+),[^)]*\): its store was moved aside to (\S+) \(kept, not deleted\)/;
    await waitFor(() => MOVED.test(behind.stderr ?? ""), 30_000, "the follower's store moved aside");
    const [, oldEnd, aside] = MOVED.exec(behind.stderr!)!;
    assert.equal(Number(oldEnd), itsEnd, "the store moved aside is the one left behind");
    await until(
      async () => {
        const [fi, li] = await Promise.all([info(behind.addr), info(leader.addr)]);
        return fi.commitLogMaxOffset === li.commitLogMaxOffset && Number(fi.commitLogMinOffset) > itsEnd;
      },
      30_000,
      "the reset follower catching up from the leader's snapshot",
    );
    await fill(5);
    await until(
      async () =>
        (await info(behind.addr)).commitLogMaxOffset === (await info(leader.addr)).commitLogMaxOffset,
      30_000,
      "the reset follower taking new writes",
    );
    assert.ok(group.alive(behind), "the follower is up");
    assert.equal(behind.child!.pid, startedPid, "in the same process: no restart by anyone");
    assert.equal((behind.stderr!.match(new RegExp(MOVED.source, "g")) ?? []).length, 1, "one reset");
    assert.doesNotMatch(behind.stderr ?? "", /FATAL|can only install a snapshot on an empty store/);
    // Nothing deleted: the old store, commit log included, is in the dated directory.
    const root = join(group.dir, behind.id);
    assert.equal(dirname(aside!), root);
    const oldSegments = (await readdir(join(aside!, "commitlog"))).filter((f) => /^\d{20}$/.test(f));
    assert.ok(oldSegments.length > 0, "the old segments");
    // The Raft term and vote survived the reset (a replica never votes twice in a term).
    const term = (dir: string) =>
      JSON.parse(readFileSync(join(dir, "dledger", "hardstate.json"), "utf8")).term;
    assert.ok(term(root) >= term(aside!), `term ${term(root)} after, ${term(aside!)} before`);
    // It serves the queue from the leader's oldest data, every acknowledged offset there.
    const mq = { topic, brokerName: group.brokerName, queueId: 0 };
    assert.equal(await admin.getMaxOffset(behind.addr, mq), await admin.getMaxOffset(leader.addr, mq));
    const min = await admin.getMinOffset(behind.addr, mq);
    const r = await admin.pullMessages(behind.addr, mq, min, 4);
    assert.ok(
      r.messages.length > 0 && r.messages[0]!.queueOffset === min,
      "it serves what the leader retains",
    );
    assert.ok((await admin.getAllTopicConfig(behind.addr))[topic], "the topic, from the snapshot");
  } finally {
    await p?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});
