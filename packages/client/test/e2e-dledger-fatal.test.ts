import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Admin, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, testLogger, uniq, waitFor } from "./cluster.js";
import { DLedgerGroup } from "./dledgerGroup.js";

/*
 * A replica whose Raft loop gives up (here: its disk answers ENOSPC to every write, from the
 * fault injector the fault-injection bench preloads) must not stay up out of the group: it
 * exits with code 75 and a FATAL line, and a restart (what a supervisor does) brings it back.
 */

const ENOSPC = fileURLToPath(new URL("../../../../bench/faults/enospc.mjs", import.meta.url));

let group: DLedgerGroup;
before(async () => {
  group = await DLedgerGroup.start(3);
});
after(async () => {
  await group?.stop();
});

test("a follower whose Raft loop gives up exits with code 75 and a FATAL line; restarted, it catches up and nothing acknowledged is lost", async () => {
  const api = new Admin({ endpoints: group.nsAddr, logger: testLogger("admin") });
  const leader = await group.leader();
  const victim = group.replicas.find((r) => r.id !== leader.id)!;
  // Restart the victim with the disk-full injector loaded (inactive until SIGUSR2).
  await group.kill(victim.id);
  group.nodeArgs.set(victim.id, ["--import", ENOSPC]);
  await group.startReplica(victim.id);
  group.nodeArgs.delete(victim.id);

  const topic = uniq("DLF");
  const cur = await group.leader();
  await api.createTopic({ topic, brokerAddr: cur.addr, readQueueNums: 2, writeQueueNums: 2 });
  const p = new Producer({ endpoints: group.nsAddr, logger: testLogger("producer"), ...FAST });
  const got = new Set<string>();
  const c = new PushConsumer({
    endpoints: group.nsAddr,
    consumerGroup: uniq("DFG"),
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
  await p.startup();
  await c.startup();
  const acked: string[] = [];
  const send = async (prefix: string, n: number) => {
    for (let i = 0; i < n; i++) {
      try {
        await p.send({ topic, body: `${prefix}${i}` });
        acked.push(`${prefix}${i}`);
      } catch {
        // not acknowledged
      }
    }
  };
  try {
    await send("a", 50);
    const exited = new Promise<number | null>((res) => victim.child!.once("exit", (code) => res(code)));
    process.kill(victim.child!.pid!, "SIGUSR2"); // its disk is full from now on
    await send("b", 50); // replicated to it: its writes fail, its Raft loop gives up
    const code = await exited;
    assert.equal(code, 75);
    assert.match(victim.stderr ?? "", /stopped replicating/);
    assert.match(victim.stderr ?? "", /FATAL: DLedger replica \S+ of \S+ gave up .*exiting with code 75/);

    // The supervisor's restart: it rejoins and catches up.
    await group.startReplica(victim.id);
    await send("c", 50);
    assert.ok(acked.length >= 145, `only ${acked.length} sends acknowledged`);
    await waitFor(() => acked.every((b) => got.has(b)), 60_000, "every acknowledged message consumed");
    const lead = await group.leader();
    for (let i = 0; i < 1000; i++) {
      const [li, vi] = await Promise.all([
        api.getBrokerRuntimeInfo(lead.addr),
        api.getBrokerRuntimeInfo(victim.addr),
      ]);
      if (vi.dLegerCommitIndex === li.dLegerCommitIndex && vi.dLegerLastIndex === li.dLegerLastIndex) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail("the restarted replica did not catch up");
  } finally {
    await c.shutdown();
    await p.shutdown();
    await api.shutdown();
  }
});
