// The Raft paper's properties (Figure 3) under arbitrary schedules that fast-check generates
// and shrinks: any interleaving of ticks, deliveries, drops, duplicates, proposals and
// restarts must keep election safety, log matching, leader completeness and state-machine
// safety. Plus properties of the pieces (quorum arithmetic, the follower's append).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MemoryStorage, type Message, quorumIndex, RaftNode } from "../src/index.js";
import { RaftLog } from "../src/raftLog.js";
import { SafetyChecker } from "../src/sim/index.js";

const enc = new TextEncoder();

type Action =
  | { kind: "tick"; node: number; times: number }
  | { kind: "deliver"; pick: number }
  | { kind: "deliverAll" }
  | { kind: "drop"; pick: number }
  | { kind: "duplicate"; pick: number }
  | { kind: "propose"; node: number }
  | { kind: "restart"; node: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("tick" as const),
      node: fc.nat(4),
      times: fc.integer({ min: 1, max: 12 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat() }), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constant("deliverAll" as const) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("drop" as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("duplicate" as const), pick: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("propose" as const), node: fc.nat(4) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant("restart" as const), node: fc.nat(4) }), weight: 1 },
);

/** A small cluster where every Ready is persisted in full (crashes lose nothing synced). */
class Cluster {
  readonly ids: string[];
  readonly storages: MemoryStorage[];
  nodes: RaftNode[];
  queue: Message[] = [];
  readonly checker = new SafetyChecker();
  private counter = 0;

  constructor(n: number, preVote: boolean) {
    this.ids = Array.from({ length: n }, (_, i) => `n${i}`);
    this.storages = this.ids.map(() => new MemoryStorage(this.ids));
    this.nodes = this.ids.map((id, i) => this.make(id, i, preVote, 0));
  }

  private make(id: string, i: number, preVote: boolean, applied: number): RaftNode {
    // Each node's timeout differs a little so elections can both split and settle.
    let r = i * 0.31;
    const random = () => {
      r = (r + 0.37) % 1;
      return r;
    };
    return new RaftNode({
      id,
      storage: this.storages[i]!,
      random,
      preVote,
      maxEntriesPerMessage: 2,
      applied,
    });
  }

  run(a: Action, preVote: boolean): void {
    const n = this.nodes.length;
    switch (a.kind) {
      case "tick":
        for (let k = 0; k < a.times; k++) this.nodes[a.node % n]!.tick();
        break;
      case "deliver":
      case "drop":
      case "duplicate": {
        if (this.queue.length === 0) return;
        const idx = a.pick % this.queue.length;
        const m = this.queue[idx]!;
        if (a.kind !== "duplicate") this.queue.splice(idx, 1);
        if (a.kind !== "drop") this.nodes[this.ids.indexOf(m.to)]!.step(m);
        break;
      }
      case "deliverAll": {
        const all = this.queue;
        this.queue = [];
        for (const m of all) this.nodes[this.ids.indexOf(m.to)]!.step(m);
        break;
      }
      case "propose":
        try {
          this.nodes[a.node % n]!.propose([enc.encode(`v${this.counter++}`)]);
        } catch {
          // not the leader: fine
        }
        break;
      case "restart": {
        const i = a.node % n;
        const applied = this.storages[i]!.snapshot().metadata.index;
        this.nodes[i] = this.make(this.ids[i]!, i, preVote, applied);
        this.applied[i] = applied;
        this.queue = this.queue.filter((m) => m.to !== this.ids[i]);
        break;
      }
    }
    this.processAll();
  }

  private applied: number[] = [0, 0, 0, 0, 0];

  processAll(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      const node = this.nodes[i]!;
      const s = this.storages[i]!;
      while (node.hasReady()) {
        const rd = node.ready();
        if (rd.softState?.role === "leader") {
          this.checker.leaderElected(node.id, node.term, (x) => node.log.term(x), node.log.firstIndex());
        }
        if (node.role === "leader") this.checker.committedBy(node.term, rd.committedEntries);
        if (rd.entries.length > 0)
          this.checker.appended(node.id, rd.entries, node.log.term(rd.entries[0]!.index - 1));
        s.append(rd.entries);
        if (rd.hardState) s.setHardState(rd.hardState);
        this.queue.push(...rd.messages, ...rd.messagesAfterPersist);
        for (const e of rd.committedEntries) {
          if (e.index <= this.applied[i]!) continue; // replayed after a restart
          this.checker.applied(node.id, e);
          this.applied[i] = e.index;
        }
        node.advance();
      }
    }
    if (this.queue.length > 2000) this.queue.splice(0, this.queue.length - 2000); // bound memory
  }
}

for (const preVote of [true, false]) {
  test(`paper properties hold under arbitrary schedules (3 and 5 nodes, preVote=${preVote})`, () => {
    let runsThatCommitted = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(3, 5),
        fc.array(action, { minLength: 50, maxLength: 400 }),
        (n, actions) => {
          const c = new Cluster(n, preVote);
          for (const a of actions) c.run(a, preVote);
          if (c.checker.maxCommitted > 1) runsThatCommitted++;
        },
      ),
      { numRuns: 150, seed: preVote ? 11 : 12 },
    );
    // The schedules must reach the interesting part: leaders elected and entries committed.
    assert.ok(runsThatCommitted > 30, `only ${runsThatCommitted} of 150 runs committed anything`);
  });
}

test("quorumIndex is the largest index a majority has reached", () => {
  fc.assert(
    fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }), (matches) => {
      const q = quorumIndex(matches);
      const majority = Math.floor(matches.length / 2) + 1;
      assert.ok(matches.filter((m) => m >= q).length >= majority);
      assert.ok(matches.filter((m) => m >= q + 1).length < majority);
    }),
  );
});

test("a follower's append never rewrites its committed prefix and ends matching the leader", () => {
  // Leader log: random terms; follower log: a random divergent log; the leader's append at any
  // point either is refused (no match) or leaves the follower with the leader's entries there.
  const termsArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 12 }).map((ts) => {
    const sorted = [...ts].sort((a, b) => a - b);
    return sorted.map((term, i) => ({
      index: i + 1,
      term,
      type: "normal" as const,
      data: enc.encode(`${term}`),
    }));
  });
  fc.assert(
    fc.property(termsArb, termsArb, fc.nat(), fc.nat(), (leader, follower, from, commitPick) => {
      const s = new MemoryStorage(["a"]);
      s.append(follower);
      // Committed on the follower: a prefix it shares with the leader (Raft guarantees that).
      let shared = 0;
      while (
        shared < Math.min(leader.length, follower.length) &&
        leader[shared]!.term === follower[shared]!.term
      )
        shared++;
      const commit = shared === 0 ? 0 : commitPick % (shared + 1);
      const log = new RaftLog(s, commit, 0);
      const prev = from % (leader.length + 1);
      const ents = leader.slice(prev);
      const prevTerm = prev === 0 ? 0 : leader[prev - 1]!.term;
      const before = log.slice(1, commit + 1, Number.MAX_SAFE_INTEGER).map((e) => e.term);
      const last = log.maybeAppend(prev, prevTerm, leader.length, ents);
      assert.deepEqual(
        log.slice(1, commit + 1, Number.MAX_SAFE_INTEGER).map((e) => e.term),
        before,
      );
      if (last !== undefined) {
        for (const e of ents) assert.equal(log.term(e.index), e.term);
        assert.equal(last, leader.length);
      }
    }),
  );
});
