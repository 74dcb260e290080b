import type { NodeId } from "../types.js";
import { SafetyChecker } from "./checker.js";
import { SimNetwork } from "./network.js";
import { SimReplica } from "./replica.js";
import { SimRandom } from "./simRandom.js";

export interface FailoverResult {
  /** Ticks from the leader's crash until another replica is leader of a newer term. */
  readonly ticksToElect: number;
  /** Ticks from the crash until the new leader has committed (acknowledged) a client write. */
  readonly ticksToCommit: number;
}

/**
 * Crash the leader of a healthy group under steady load and count ticks until a new leader
 * accepts writes. The network is instant relative to a tick (a LAN round trip is well under a
 * 100 ms tick), so the figure is the protocol's: election timeout + pre-vote + vote + commit.
 */
export function measureFailover(
  seed: number,
  opts: { nodes?: number; electionTicks?: number; heartbeatTicks?: number } = {},
): FailoverResult {
  const rnd = new SimRandom(seed);
  const ids: NodeId[] = Array.from({ length: opts.nodes ?? 3 }, (_, i) => `n${i}`);
  const net = new SimNetwork(ids, rnd);
  net.faults = { dropRate: 0, duplicateRate: 0, maxDelaySteps: 0 };
  const checker = new SafetyChecker();
  let now = 0;
  let acked = 0;
  const replicas = ids.map(
    (id) =>
      new SimReplica(
        id,
        ids,
        {
          electionTicks: opts.electionTicks ?? 10,
          heartbeatTicks: opts.heartbeatTicks ?? 1,
          maxEntriesPerMessage: 64,
          maxInflightMessages: 16,
          compactEvery: 0,
          crashInReadyRate: 0,
        },
        rnd,
        checker,
        (m) => net.send(m, now),
        () => acked++,
      ),
  );
  const byId = new Map(replicas.map((r) => [r.id, r]));
  let counter = 0;
  const leader = () => replicas.find((r) => r.up && r.raft!.role === "leader");
  const step = () => {
    for (const r of replicas) {
      if (!r.up) continue;
      r.raft!.tick();
      r.processReady();
    }
    leader()?.propose(`w${counter++}`);
    for (let round = 0; round < 32; round++) {
      const due = net.due(now);
      if (due.length === 0) break;
      for (const m of due) {
        const r = byId.get(m.to)!;
        if (!r.up) continue;
        r.raft!.step(m);
        r.processReady();
      }
    }
    now++;
  };
  // Warm up: a leader, some committed writes, then a random moment to crash it.
  for (let k = 0; k < 1000 && acked < 5; k++) step();
  for (let k = rnd.int(30); k > 0; k--) step();
  const old = leader();
  if (!old) throw new Error(`seed ${seed}: no leader after warm-up`);
  const oldTerm = old.raft!.term;
  old.crash();
  net.dropTo(old.id);
  const crashedAt = now;
  const ackedAtCrash = acked;
  let ticksToElect = -1;
  for (let k = 0; k < 1000; k++) {
    step();
    const l = leader();
    if (ticksToElect < 0 && l && l.raft!.term > oldTerm) ticksToElect = now - crashedAt;
    if (ticksToElect >= 0 && acked > ackedAtCrash) return { ticksToElect, ticksToCommit: now - crashedAt };
  }
  throw new Error(`seed ${seed}: no new leader committed within 1000 ticks of the crash`);
}
