import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Admin, Producer } from "../src/index.js";
import { FAST, testLogger, uniq } from "./cluster.js";
import { DLedgerGroup } from "./dledgerGroup.js";

/*
 * A replica removed from its DLedger group while it was down — longer than the election
 * timeout (1 s) for which the leader tells a removed replica of its removal, and here longer
 * than every member's uptime — then started again on its old data: the members it asks for
 * votes tell it, so it stops acting as a member, unregisters from the NameServer and says why
 * in its log; the group keeps serving.
 */

let group: DLedgerGroup;
before(async () => {
  group = await DLedgerGroup.start(3);
});
after(async () => {
  await group?.stop();
});

/** Polls `f` every 50 ms until it returns true, at most `ms`; returns its last answer. */
async function within(ms: number, f: () => Promise<boolean> | boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000; i++) {
    if (await f()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test("a replica removed while down and started again on its old data unregisters, says why, and the group keeps serving", async () => {
  const api = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const p = new Producer({ endpoints: group.nsAddr, logger: testLogger("producer"), ...FAST });
  try {
    const leader = await group.leader();
    const victim = group.replicas.find((r) => r.id !== leader.id)!;
    const registered = async (addr: string) => {
      const addrs = (await api.getClusterInfo()).brokerAddrTable[group.brokerName]?.brokerAddrs ?? {};
      return Object.values(addrs).includes(addr);
    };
    assert.ok(await within(30_000, () => registered(victim.addr)), "the follower registers");

    const topic = uniq("DLR");
    await api.createTopic({ topic, brokerAddr: leader.addr, readQueueNums: 2, writeQueueNums: 2 });
    await p.startup();
    let acked = 0;
    const sendSome = async (n: number) => {
      for (let i = 0; i < n; i++) {
        try {
          await p.send({ topic, body: `m${i}` });
          acked++;
        } catch {
          // not acknowledged (e.g. the route not known yet)
        }
      }
    };
    const serves = async () => {
      await sendSome(1);
      return acked > 0;
    };
    assert.ok(await within(30_000, serves), "the group serves");

    await group.kill(victim.id);
    const removed = await group.admin(["removeDLedgerPeer", "-g", group.brokerName, "-i", victim.id]);
    assert.equal(removed.code, 0, removed.out);
    // Every member restarts while it is down (kill -9, start on its data): no leader remembers
    // it, and what the members know of its removal comes from their stores.
    for (const m of group.replicas.filter((r) => r.id !== victim.id)) {
      await group.kill(m.id);
      await group.startReplica(m.id);
    }
    await group.leader(30_000);

    // Back on its old data, which names it a member; its warnings are logged (stderr).
    process.env.TIDEMQ_LOG_LEVEL = "warn";
    const started = group.startReplica(victim.id); // spawns at once, with this environment
    delete process.env.TIDEMQ_LOG_LEVEL;
    await started;
    const why = /replica \S+ was removed from the group by config entry \d+/;
    const gone = await within(
      30_000,
      async () => why.test(victim.stderr ?? "") && !(await registered(victim.addr)),
    );
    if (!gone) assert.fail(`registered: ${await registered(victim.addr)}; its log: ${victim.stderr}`);
    assert.match(victim.stderr ?? "", /unregisters from the NameServers/);
    assert.ok(group.alive(victim), "it keeps running (the operator stops it)");

    const before = acked;
    await sendSome(20);
    assert.ok(acked - before >= 18, `only ${acked - before} of 20 sends acknowledged`);
    const info = await api.getBrokerRuntimeInfo((await group.leader()).addr);
    assert.equal(
      info.dLegerMembers,
      group.replicas
        .filter((r) => r.id !== victim.id)
        .map((r) => r.id)
        .join(","),
    );
  } finally {
    await p.shutdown();
    await api.shutdown();
  }
});
