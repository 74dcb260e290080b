import { RaftInvariantError } from "../errors.js";
import type { Message, NodeId } from "../types.js";
import { InvariantViolation, SafetyChecker } from "./checker.js";
import { type PartitionKind, SimNetwork } from "./network.js";
import { SimReplica } from "./replica.js";
import { SimRandom } from "./simRandom.js";

export interface SimOptions {
  readonly seed: number;
  /** Replicas; by default 3 or 5, chosen by the seed. */
  readonly nodes?: number;
  /** Steps of chaos (one step = one tick of every healthy clock). */
  readonly steps?: number;
  /** After healing: a leader must commit a new proposal within this many steps. */
  readonly livenessBoundSteps?: number;
  /** Add and remove voters (single-server changes) during the chaos; by default in 30 % of
   *  the seeds. Two spare replicas are then started as non-voters. */
  readonly membership?: boolean;
  /** Pipeline Readies (the core's asyncStorageWrites); by default in the even seeds. */
  readonly asyncWrites?: boolean;
  /** The core's lazyCommitBroadcast; by default in the seeds ≡ 0 mod 4 (pipelined, as DLedger). */
  readonly lazyCommit?: boolean;
  /** DLedger's acknowledgement rule (ack once the entry's bytes are durable, Raft index synced
   *  later; a crash may forget acknowledged entries → amnesia mark). By default in the seeds
   *  not divisible by 3. */
  readonly indexLag?: boolean;
  /** Test only: replicas ignore their amnesia mark (the checker must then catch a loss). */
  readonly ignoreAmnesia?: boolean;
  /** Print every fault and leadership change. */
  readonly log?: (line: string) => void;
}

export interface SimResult {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly proposals: number;
  readonly acked: number;
  readonly leaderChanges: number;
  readonly crashes: number;
  /** Raft index records lost in crashes while their entries' bytes survived (indexLag). */
  readonly lostIndexRecords: number;
  /** No leader after healing because a majority of the voters is amnesiac (indexLag's known
   *  cost: what they lost exists only as bytes; see DLedgerNode.markAmnesia). Safety was
   *  checked throughout; liveness and the final "nothing acknowledged lost" could not be. */
  readonly wedgedByAmnesia: boolean;
  readonly partitions: number;
  readonly configChanges: number;
  readonly messages: number;
  readonly dropped: number;
  readonly checks: number;
  /** Steps (= ticks) from healing until a leader committed a new proposal. */
  readonly livenessSteps: number;
}

/** A failed run: carries the seed and the command that replays it. */
export class SimFailure extends Error {
  override readonly name = "SimFailure";
  readonly seed: number;
  readonly replay: string;
  constructor(seed: number, step: number, cause: unknown) {
    const replay = `node bench/raft-sim.mjs --seed ${seed} --verbose`;
    super(`seed ${seed} failed at step ${step}: ${(cause as Error).message}\n  replay: ${replay}`, { cause });
    this.seed = seed;
    this.replay = replay;
  }
}

const PARTITIONS: Exclude<PartitionKind, "none">[] = ["isolate", "majority-minority", "bridge", "ring"];

/** One seeded run: chaos, then heal, then liveness and "nothing acknowledged lost" checks. */
export function runSimulation(opts: SimOptions): SimResult {
  const sim = new Simulation(opts);
  return sim.run();
}

class Simulation {
  private readonly rnd: SimRandom;
  private readonly ids: NodeId[];
  private readonly net: SimNetwork;
  private readonly checker = new SafetyChecker();
  private readonly replicas = new Map<NodeId, SimReplica>();
  private readonly pausedUntil = new Map<NodeId, number>();
  private readonly log: (line: string) => void;
  private now = 0;
  private proposals = 0;
  private acked = 0;
  private partitions = 0;
  private leaderChanges = 0;
  private lastLeader: NodeId = "";
  private probedBy = "";
  /** Fault rates for this seed (each seed gets its own mix). */
  private readonly rates: {
    crash: number;
    restart: number;
    partition: number;
    heal: number;
    pause: number;
    transfer: number;
    propose: number;
    clockSkip: number;
    clockBurst: number;
    configChange: number;
  };
  private readonly membership: boolean;
  private readonly asyncWrites: boolean;
  private readonly lazyCommit: boolean;
  private readonly indexLag: boolean;
  private configChanges = 0;

  constructor(private readonly opts: SimOptions) {
    this.rnd = new SimRandom(opts.seed);
    const n = opts.nodes ?? (this.rnd.chance(0.5) ? 3 : 5);
    this.membership = opts.membership ?? this.rnd.chance(0.3);
    // Half the seeds (the even ones) pipeline Readies (the core's asyncStorageWrites, as the
    // DLedger broker runs it); decided by the seed, not the random stream.
    this.asyncWrites = opts.asyncWrites ?? opts.seed % 2 === 0;
    this.lazyCommit = opts.lazyCommit ?? opts.seed % 4 === 0;
    this.indexLag = opts.indexLag ?? opts.seed % 3 !== 0;
    this.ids = Array.from({ length: n + (this.membership ? 2 : 0) }, (_, i) => `n${i}`);
    const voters = this.ids.slice(0, n);
    this.net = new SimNetwork(this.ids, this.rnd);
    this.net.faults = {
      dropRate: this.rnd.pick([0, 0.01, 0.05, 0.15]),
      duplicateRate: this.rnd.pick([0, 0.02, 0.1]),
      maxDelaySteps: this.rnd.pick([0, 1, 2, 4]),
    };
    this.rates = {
      crash: this.rnd.pick([0.002, 0.01, 0.03]),
      restart: this.rnd.pick([0.02, 0.1]),
      partition: this.rnd.pick([0, 0.01, 0.03]),
      heal: this.rnd.pick([0.02, 0.08]),
      pause: this.rnd.pick([0, 0.005]),
      transfer: this.rnd.pick([0, 0.005]),
      propose: this.rnd.pick([0.2, 0.6, 1]),
      clockSkip: this.rnd.pick([0, 0.02]),
      clockBurst: this.rnd.pick([0, 0.01]),
      configChange: this.membership ? this.rnd.pick([0.01, 0.03]) : 0,
    };
    this.log = opts.log ?? (() => {});
    const crashInReadyRate = this.rnd.pick([0, 0.002, 0.01]);
    const slowDiskRate = this.rnd.pick([0, 0.1, 0.5]);
    const preferred = this.rnd.chance(0.2) ? this.rnd.pick(voters) : undefined;
    for (const id of this.ids) {
      const replica = new SimReplica(
        id,
        voters,
        {
          electionTicks: 10,
          heartbeatTicks: this.rnd.pick([1, 2, 3]),
          maxEntriesPerMessage: this.rnd.pick([2, 8, 64]),
          maxInflightMessages: this.rnd.pick([2, 4, 16]),
          compactEvery: this.rnd.pick([0, 8, 32]),
          crashInReadyRate,
          asyncStorageWrites: this.asyncWrites,
          lazyCommitBroadcast: this.lazyCommit,
          indexLag: this.indexLag,
          ...(opts.ignoreAmnesia ? { ignoreAmnesia: true } : {}),
          ...(preferred ? { preferredLeaderId: preferred } : {}),
        },
        this.rnd,
        this.checker,
        (m) => this.net.send(m, this.now),
        () => this.acked++,
        (e) => {
          // With membership changes the configuration that committed an entry may be gone by the
          // time a lagging replica applies it; the leader-side check below covers those runs.
          if (!this.membership) this.checkDurableOnMajority(`${id} applies`, e.index, e.term, voters);
        },
        (from, to, termAt, leaderVoters) => {
          for (let i = from + 1; i <= to; i++) {
            this.checkDurableOnMajority(`${id} commits`, i, termAt(i)!, leaderVoters);
          }
        },
      );
      replica.slowDiskRate = slowDiskRate;
      this.replicas.set(id, replica);
    }
    this.log(
      `seed ${opts.seed}: ${n} nodes, net ${JSON.stringify(this.net.faults)}, rates ${JSON.stringify(this.rates)}, crash-in-ready ${crashInReadyRate}, slow-disk ${slowDiskRate}, async-writes ${this.asyncWrites}, lazy-commit ${this.lazyCommit}, index-lag ${this.indexLag}, preferred ${preferred ?? "-"}`,
    );
  }

  run(): SimResult {
    const steps = this.opts.steps ?? 300;
    try {
      for (; this.now < steps; this.now++) {
        this.injectFaults();
        this.step(true);
      }
      const livenessSteps = this.healAndCheckLiveness();
      if (livenessSteps >= 0) this.checkNothingAckedLost();
      return {
        seed: this.opts.seed,
        nodes: this.ids.length,
        steps: this.now,
        proposals: this.proposals,
        acked: this.acked,
        leaderChanges: this.leaderChanges,
        crashes: [...this.replicas.values()].reduce((s, r) => s + r.crashes, 0),
        lostIndexRecords: [...this.replicas.values()].reduce((s, r) => s + r.disk.lostIndexRecords, 0),
        wedgedByAmnesia: livenessSteps < 0,
        partitions: this.partitions,
        configChanges: this.configChanges,
        messages: this.net.sent,
        dropped: this.net.dropped,
        checks: this.checker.checks,
        livenessSteps,
      };
    } catch (e) {
      if (e instanceof SimFailure) throw e;
      throw new SimFailure(this.opts.seed, this.now, e);
    }
  }

  /** An acknowledged write must already be on disk (fsynced) on a majority of replicas. */
  /** Committed means fsynced on a majority: anything applied or acknowledged must be. */
  private checkDurableOnMajority(what: string, index: number, term: number, voters: readonly NodeId[]): void {
    let durable = 0;
    for (const id of voters) if (this.replicas.get(id)!.disk.holdsDurably(index, term)) durable++;
    if (durable < Math.floor(voters.length / 2) + 1) {
      throw new InvariantViolation(
        `${what} ${term}/${index}, durable on only ${durable} of ${voters.join(",")}`,
      );
    }
  }

  /** One step: deliver due messages, tick clocks, let clients propose. */
  private step(chaos: boolean, propose = true): void {
    this.deliverDue();
    for (const r of this.replicas.values()) {
      if (!r.up || this.isPaused(r.id)) continue;
      let ticks = 1;
      if (chaos && this.rnd.chance(this.rates.clockSkip))
        ticks = 0; // a stalled clock / GC pause
      else if (chaos && this.rnd.chance(this.rates.clockBurst)) ticks = 2 + this.rnd.int(4); // a jump
      for (let k = 0; k < ticks; k++) r.raft!.tick();
      this.processReady(r);
    }
    if (propose && this.rnd.chance(chaos ? this.rates.propose : 1)) this.propose(chaos);
    this.deliverDue();
    this.trackLeader();
  }

  /** Deliver what is due, including zero-delay answers to what was just delivered (bounded). */
  private deliverDue(): void {
    for (let round = 0; round < 32; round++) {
      const due = this.net.due(this.now);
      if (due.length === 0) return;
      for (const m of due) this.deliver(m);
    }
  }

  private deliver(m: Message): void {
    const r = this.replicas.get(m.to);
    if (!r?.up) return;
    const until = this.pausedUntil.get(m.to);
    if (until !== undefined && until > this.now) {
      this.net.requeue(m, until); // a paused process reads its socket when it wakes up
      return;
    }
    r.step(m);
    this.processReady(r);
  }

  private processReady(r: SimReplica): void {
    if (!r.processReady(this.now)) this.log(`${this.now}: ${r.id} crashed while handling a Ready`);
  }

  private isPaused(id: NodeId): boolean {
    const until = this.pausedUntil.get(id);
    return until !== undefined && until > this.now;
  }

  private propose(chaos: boolean): void {
    const leaders = [...this.replicas.values()].filter(
      (r) => r.up && !this.isPaused(r.id) && r.raft!.role === "leader",
    );
    if (leaders.length === 0) return;
    // Clients may reach a deposed leader that does not know it yet: that must be harmless.
    const r = this.rnd.pick(leaders);
    // After healing: one probe write per leader term, not a flood that outruns replication.
    const key = `${r.id}@${r.raft!.term}`;
    if (!chaos && this.probedBy === key) return;
    const value = `${chaos ? "v" : "probe"}${this.proposals}`;
    if (r.propose(value)) {
      this.proposals++;
      if (!chaos) this.probedBy = key;
    }
  }

  private trackLeader(): void {
    const best = this.currentLeader();
    if (best && best.id !== this.lastLeader) {
      this.leaderChanges++;
      this.lastLeader = best.id;
      this.log(`${this.now}: leader ${best.id} term ${best.raft!.term}`);
    }
  }

  private injectFaults(): void {
    const rs = [...this.replicas.values()];
    let up = rs.filter((r) => r.up);
    if (up.length > 0 && this.rnd.chance(this.rates.crash)) {
      // Half of the crashes hit a leader: that is where failover bugs live.
      const leaders = up.filter((r) => r.raft!.role === "leader");
      const victim = leaders.length > 0 && this.rnd.chance(0.5) ? this.rnd.pick(leaders) : this.rnd.pick(up);
      victim.crash();
      this.net.dropTo(victim.id);
      this.log(`${this.now}: crash ${victim.id}`);
      up = rs.filter((r) => r.up);
    }
    for (const r of rs) {
      if (!r.up && this.rnd.chance(this.rates.restart)) {
        r.start();
        this.log(`${this.now}: restart ${r.id}`);
      }
    }
    if (this.net.partition === "none" && this.rnd.chance(this.rates.partition)) {
      this.partitions++;
      this.log(`${this.now}: partition ${this.net.split(this.rnd.pick(PARTITIONS))}`);
    } else if (this.net.partition !== "none" && this.rnd.chance(this.rates.heal)) {
      this.net.heal();
      this.log(`${this.now}: heal`);
    }
    if (up.length > 0 && this.rnd.chance(this.rates.pause)) {
      const r = this.rnd.pick(up);
      const steps = 5 + this.rnd.int(40);
      this.pausedUntil.set(r.id, this.now + steps);
      this.log(`${this.now}: pause ${r.id} for ${steps} steps`);
    }
    if (this.rnd.chance(this.rates.configChange)) this.changeMembership(up);
    if (this.rnd.chance(this.rates.transfer)) {
      const leader = up.find((r) => r.raft!.role === "leader" && !this.isPaused(r.id));
      if (leader) {
        const to = this.rnd.pick(this.ids);
        try {
          leader.raft!.transferLeadership(to);
          this.log(`${this.now}: transfer ${leader.id} -> ${to}`);
        } catch {
          // transferring to itself or a non-voter is refused; fine
        }
        this.processReady(leader);
      }
    }
  }

  /** Add a non-voter or remove a voter (never below 3), through whoever leads. */
  private changeMembership(up: SimReplica[]): void {
    const leader = up.find((r) => r.raft!.role === "leader" && !this.isPaused(r.id));
    if (!leader) return;
    const voters = leader.raft!.voters();
    const spares = this.ids.filter((id) => !voters.includes(id));
    const add = voters.length <= 3 || (spares.length > 0 && this.rnd.chance(0.5));
    const node = add ? this.rnd.pick(spares) : this.rnd.pick(voters);
    if (node === undefined) return;
    try {
      leader.raft!.proposeConfigChange({ op: add ? "addVoter" : "removeVoter", node });
      this.configChanges++;
      this.log(
        `${this.now}: ${leader.id} proposes ${add ? "add" : "remove"} ${node} (voters ${voters.join(",")})`,
      );
    } catch {
      // one change at a time, and only after the leader committed in its term: refused, fine
    }
    this.processReady(leader);
  }

  /** Heal everything; a leader must commit a fresh proposal within the bound, and then every
   *  replica must catch up to it. Returns the steps the commit took. */
  private healAndCheckLiveness(): number {
    const bound = this.opts.livenessBoundSteps ?? 200;
    this.net.heal();
    this.net.faults = { dropRate: 0, duplicateRate: 0, maxDelaySteps: 1 };
    this.pausedUntil.clear();
    for (const r of this.replicas.values()) {
      r.crashInReadyRate = 0;
      if (!r.up) r.start();
    }
    this.log(`${this.now}: heal all, restart all`);
    const start = this.now;
    const ackedBefore = this.acked;
    let committedAt = -1;
    for (let k = 0; k < bound * 2; k++, this.now++) {
      this.step(false, committedAt < 0);
      if (committedAt < 0 && this.acked > ackedBefore) committedAt = this.now - start;
      if (committedAt >= 0 && this.converged()) return committedAt;
    }
    if (committedAt < 0 && this.wedgedByAmnesia()) {
      this.log(`${this.now}: no leader: a majority of the voters is amnesiac\n${this.describe()}`);
      return -1;
    }
    if (committedAt < 0 || committedAt > bound) {
      throw new InvariantViolation(
        `liveness: no proposal committed within ${bound} steps after healing\n${this.describe()}`,
      );
    }
    throw new InvariantViolation(
      `liveness: replicas did not converge within ${bound * 2} steps after healing\n${this.describe()}`,
    );
  }

  /** Fewer than a majority of the voters (as the most advanced log has them) may vote. */
  private wedgedByAmnesia(): boolean {
    let newest: SimReplica | undefined;
    for (const r of this.replicas.values())
      if (!newest || r.raft!.log.lastIndex() > newest.raft!.log.lastIndex()) newest = r;
    const voters = newest!.raft!.voters();
    const able = voters.filter((id) => !this.replicas.get(id)!.raft!.status().amnesia).length;
    return able < Math.floor(voters.length / 2) + 1;
  }

  private describe(): string {
    return [...this.replicas.values()]
      .map((r) => {
        const s = r.raft!.status();
        const last = `${r.raft!.log.lastTerm()}/${s.lastIndex}`;
        const pr = Object.entries(s.progress)
          .map(([id, p]) => `${id}:${p.state}/${p.match}/${p.next}`)
          .join(" ");
        return `  ${s.id} ${s.role} term=${s.term} vote=${s.vote || "-"} leader=${s.leader || "-"} last=${last} commit=${s.commit} applied=${r.lastApplied()}${s.amnesia ? ` amnesia(mark ${r.disk.mark})` : ""} ${pr}`;
      })
      .join("\n");
  }

  /** Every voter of the leader's configuration has applied everything the leader has. */
  private converged(): boolean {
    const leader = this.currentLeader();
    if (!leader) return false;
    const c = leader.raft!.log.committed;
    if (c !== leader.raft!.log.lastIndex()) return false;
    return leader.raft!.voters().every((id) => {
      const r = this.replicas.get(id)!;
      return r.lastApplied() === c && r.raft!.log.lastIndex() === c;
    });
  }

  private currentLeader(): SimReplica | undefined {
    let best: SimReplica | undefined;
    for (const r of this.replicas.values()) {
      if (r.up && r.raft!.role === "leader" && (!best || r.raft!.term > best.raft!.term)) best = r;
    }
    return best;
  }

  /** Every acknowledged write is in every voter's state machine at its index (and no replica,
   *  voter or not, holds anything else there). */
  private checkNothingAckedLost(): void {
    const voters = this.currentLeader()!.raft!.voters();
    for (const [index, key] of this.checker.acked) {
      for (const r of this.replicas.values()) {
        const v = r.valueAt(index);
        if (v === undefined && !voters.includes(r.id)) continue; // a removed replica may lag
        if (v !== key) throw new InvariantViolation(`acknowledged ${key} at ${index} is ${v} on ${r.id}`);
      }
    }
  }
}

export function isInvariantError(e: unknown): boolean {
  return e instanceof InvariantViolation || e instanceof RaftInvariantError;
}
