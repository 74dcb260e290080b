import assert from "node:assert/strict";
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Admin, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, testLogger, uniq, waitFor } from "./cluster.js";
import { DLedgerGroup, freePorts } from "./dledgerGroup.js";

/*
 * Replacing a dead replica of a DLedger group without stopping it: three broker processes,
 * kill -9 of a follower, `tidemq admin removeDLedgerPeer`, a new empty replica started and
 * `tidemq admin addDLedgerPeer`-ed, producing all along. Every acknowledged message is
 * consumed, the new replica holds the whole log and can lead (transferLeader to it).
 */

let group: DLedgerGroup;
before(async () => {
  group = await DLedgerGroup.start(3);
});
after(async () => {
  await group?.stop();
});

async function commitLogBytes(root: string, upTo: number): Promise<Buffer> {
  const dir = join(root, "commitlog");
  const segs = (await readdir(dir)).filter((f) => /^\d{20}$/.test(f)).sort();
  const parts: Buffer[] = [];
  let have = 0;
  for (const s of segs) {
    if (have >= upTo) break;
    const fh = await open(join(dir, s), "r");
    try {
      const want = Math.min(upTo - have, (await fh.stat()).size);
      const buf = Buffer.alloc(want);
      await fh.read(buf, 0, want, 0);
      parts.push(buf);
      have += want;
    } finally {
      await fh.close();
    }
  }
  return Buffer.concat(parts);
}

test("a dead follower is removed and a new empty replica added while producing: nothing acknowledged is lost, the new replica holds the full log and can lead", async () => {
  const api = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const leader = await group.leader();
  const dead = group.replicas.find((r) => r.id !== leader.id)!;
  const topic = uniq("DLM");
  await api.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 4, writeQueueNums: 4 });
  for (let i = 0; i < 500; i++) {
    const route = await api.getTopicRoute(topic).catch(() => undefined);
    if (route && route.queueDatas.length === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }

  const p = new Producer({ endpoints: group.nsAddr, logger: testLogger("producer"), ...FAST });
  const got = new Map<string, number>();
  const c = new PushConsumer({
    endpoints: group.nsAddr,
    consumerGroup: uniq("DMG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume(m) {
        const body = m.body.toString();
        got.set(body, (got.get(body) ?? 0) + 1);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await p.startup();
  await c.startup();
  const acked: string[] = [];
  let stop = false;
  const sendSome = async (prefix: string, n: number) => {
    for (let i = 0; i < n; i++) {
      try {
        await p.send({ topic, body: `${prefix}${i}` });
        acked.push(`${prefix}${i}`);
      } catch {
        // not acknowledged (e.g. during a leadership change): may or may not be stored
      }
    }
  };
  try {
    await sendSome("before", 100);
    assert.equal(acked.length, 100);

    // Producing continues through the whole replacement.
    const during = (async () => {
      for (let i = 0; i < 20_000 && !stop; i++) await sendSome(`during${i}-`, 1);
    })();

    await group.kill(dead.id);
    const removed = await group.admin(["removeDLedgerPeer", "-g", group.brokerName, "-i", dead.id]);
    assert.equal(removed.code, 0, removed.out);
    assert.match(removed.out, new RegExp(`${dead.id} removed: config entry \\d+ committed`));
    const again = await group.admin(["removeDLedgerPeer", "-g", group.brokerName, "-i", dead.id]);
    assert.notEqual(again.code, 0);
    assert.match(again.out, /is not a member of the group/);
    // Its id is not reused: a replica under it would take that removal as its own.
    const reuse = await group.admin([
      "addDLedgerPeer",
      "-g",
      group.brokerName,
      "-i",
      dead.id,
      "-a",
      "127.0.0.1:1",
    ]);
    assert.notEqual(reuse.code, 0);
    assert.match(
      reuse.out,
      /was removed from the group by config entry \d+; .*add the replacement under a new id/,
    );

    // A new replica on an empty store; its dLegerPeers names the live members and itself.
    const [port] = await freePorts(1);
    const live = group.peers
      .split(";")
      .filter((x) => !x.startsWith(`${dead.id}-`))
      .join(";");
    const fresh = await group.addReplica("n3", { dLegerPeers: `${live};n3-127.0.0.1:${port}` });
    const added = await group.admin([
      "addDLedgerPeer",
      "-g",
      group.brokerName,
      "-i",
      "n3",
      "-a",
      `127.0.0.1:${port}`,
    ]);
    assert.equal(added.code, 0, added.out);
    assert.match(added.out, /n3 \(127\.0\.0\.1:\d+\) added: config entry \d+ committed/);

    // Caught up: the new replica's commit index reaches the leader's.
    const cur = await group.leader();
    let info: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) {
      const [li, fi] = await Promise.all([
        api.getBrokerRuntimeInfo(cur.addr),
        api.getBrokerRuntimeInfo(fresh.addr),
      ]);
      info = fi;
      if (
        Number(fi.dLegerCommitIndex) >= Number(li.dLegerCommitIndex) - 5 &&
        Number(fi.dLegerCommitIndex) > 0
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(Number(info.dLegerCommitIndex) > 0, "new replica never caught up");
    const members = [...group.replicas.filter((r) => r.id !== dead.id).map((r) => r.id)].sort().join(",");
    assert.equal(info.dLegerMembers, members);

    stop = true;
    await during;
    await sendSome("after", 100);

    // The new replica can lead: hand it leadership with the existing command.
    const moved = await group.admin(["transferLeader", "-g", group.brokerName, "-i", "n3"]);
    assert.equal(moved.code, 0, moved.out);
    await waitFor(() => fresh.role === "leader", 30_000, "n3 leads");
    await sendSome("onNew", 100);
    const onNew = acked.filter((b) => b.startsWith("onNew"));
    assert.ok(onNew.length >= 90, `only ${onNew.length} sends acknowledged by the new leader`);

    await waitFor(() => acked.every((b) => got.has(b)), 60_000, "every acknowledged message consumed");

    // The new replica holds the full log: its commit log is byte for byte the old leader's.
    let fi: Record<string, string> = {};
    let oi: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) {
      [fi, oi] = await Promise.all([
        api.getBrokerRuntimeInfo(fresh.addr),
        api.getBrokerRuntimeInfo(leader.addr),
      ]);
      if (fi.commitLogMaxOffset === oi.commitLogMaxOffset) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(fi.commitLogMinOffset, "0");
    assert.equal(fi.commitLogMaxOffset, oi.commitLogMaxOffset);
    const upTo = Number(fi.commitLogMaxOffset);
    const [a, b] = await Promise.all([
      commitLogBytes(join(group.dir, "n3"), upTo),
      commitLogBytes(join(group.dir, leader.id), upTo),
    ]);
    assert.equal(a.length, upTo);
    assert.ok(a.equals(b), "the new replica's commit log differs from the old leader's");

    // A restart uses the persisted membership, not broker.conf's dLegerPeers (still n0,n1,n2).
    await group.kill(leader.id);
    await group.startReplica(leader.id);
    const back = await api.getBrokerRuntimeInfo(leader.addr);
    assert.equal(back.dLegerMembers, members);
    await sendSome("restarted", 20);
    await waitFor(() => acked.every((b) => got.has(b)), 60_000, "every acknowledged message consumed");

    // Removing a live follower: it stops acting as a member and unregisters (no client is sent
    // to it any more); the group goes on with the two others.
    assert.notEqual((await group.leader()).id, leader.id);
    const gone = await group.admin(["removeDLedgerPeer", "-g", group.brokerName, "-i", leader.id]);
    assert.equal(gone.code, 0, gone.out);
    for (let i = 0; i < 1000; i++) {
      const addrs = (await api.getClusterInfo()).brokerAddrTable[group.brokerName]?.brokerAddrs ?? {};
      if (!Object.values(addrs).includes(leader.addr)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const addrs = (await api.getClusterInfo()).brokerAddrTable[group.brokerName]?.brokerAddrs ?? {};
    assert.ok(
      !Object.values(addrs).includes(leader.addr),
      `removed replica still registered: ${JSON.stringify(addrs)}`,
    );
    assert.ok(group.alive(leader), "the removed replica keeps running (the operator stops it)");
    await sendSome("two", 20);
    assert.ok(acked.filter((b) => b.startsWith("two")).length >= 18);
    await waitFor(() => acked.every((b) => got.has(b)), 60_000, "every acknowledged message consumed");
  } finally {
    stop = true;
    await c.shutdown();
    await p.shutdown();
    await api.shutdown();
  }
});
