import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  type Decision,
  FRESH_PENDING,
  type HalfState,
  type LogFact,
  newHalf,
  replay,
  step,
} from "../src/transaction/HalfLifecycle.js";

test("pending half: commit writes once, a duplicate commit is a duplicate, a late rollback a conflict", () => {
  const a = step(newHalf(), { kind: "end", decision: "commit" });
  assert.deepEqual(a.action, { kind: "write", decision: "commit" });
  assert.equal(a.next.status, "resolving");
  // While the commit is being written, a second commit stores nothing.
  assert.equal(step(a.next, { kind: "end", decision: "commit" }).action.kind, "duplicate");
  assert.equal(step(a.next, { kind: "end", decision: "rollback" }).action.kind, "conflict");
  const done = step(a.next, { kind: "written", ok: true }).next;
  assert.equal(done.status, "committed");
  assert.equal(step(done, { kind: "end", decision: "commit" }).action.kind, "duplicate");
  assert.equal(step(done, { kind: "end", decision: "rollback" }).action.kind, "conflict");
  assert.equal(step(done, { kind: "checkDue", producerOnline: true, checkMax: 15 }).action.kind, "none");
});

test("unknown waits; checks count only when a producer is online; checkMax discards", () => {
  let s = newHalf();
  assert.equal(step(s, { kind: "end", decision: "unknown" }).action.kind, "none");
  assert.equal(step(s, { kind: "checkDue", producerOnline: false, checkMax: 2 }).next.checks, 0);
  s = step(s, { kind: "checkDue", producerOnline: true, checkMax: 2 }).next;
  s = step(s, { kind: "checkDue", producerOnline: true, checkMax: 2 }).next;
  assert.equal(s.checks, 2);
  const d = step(s, { kind: "checkDue", producerOnline: false, checkMax: 2 });
  assert.deepEqual(d.action, { kind: "write", decision: "discard" });
  // A commit answered after the discard started is refused.
  assert.equal(step(d.next, { kind: "end", decision: "commit" }).action.kind, "conflict");
});

test("a failed write leaves the half pending (nothing was stored)", () => {
  const a = step(newHalf(), { kind: "end", decision: "rollback" }).next;
  const b = step(a, { kind: "written", ok: false }).next;
  assert.equal(b.status, "pending");
  assert.equal(step(b, { kind: "end", decision: "commit" }).action.kind, "write");
});

test("replay: first stored decision wins, checks are counted, a torn commit (copy without op) is committed", () => {
  const facts: LogFact[] = [
    { kind: "op", half: 1, op: "check" },
    { kind: "half", half: 0 },
    { kind: "half", half: 1 },
    { kind: "half", half: 2 },
    { kind: "half", half: 3 },
    { kind: "op", half: 0, op: "rollback" },
    { kind: "op", half: 0, op: "commit" },
    { kind: "op", half: 1, op: "check" },
    { kind: "copy", half: 2 },
  ];
  const s = replay(facts);
  assert.equal(s.get(0)?.status, "rolledBack");
  assert.deepEqual(s.get(1), { status: "pending", checks: 2 });
  assert.equal(s.get(2)?.status, "committed");
  assert.equal(s.get(3)?.status, "pending");
});

/**
 * Model-based: a broker driving the machine over a simulated log, with writes that stay in
 * flight until completed, fail, or a crash cuts them (lost, stored whole, or torn: the copy
 * without its op record), and restarts that rebuild the states with `replay`. Whatever the
 * interleaving, each half is resolved at most once: at most one real-topic copy, never a
 * copy together with a rollback or discard, and a commit acknowledged to the producer is
 * never undone.
 */
type Cmd =
  | { c: "end"; half: number; decision: "commit" | "rollback" | "unknown" }
  | { c: "check"; half: number; online: boolean }
  | { c: "complete"; pick: number }
  | { c: "fail"; pick: number }
  | { c: "crash"; cut: Array<"lost" | "whole" | "torn"> }
  | { c: "send" };

const HALVES = 4;
const CHECK_MAX = 3;

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    c: fc.constant("end" as const),
    half: fc.nat(HALVES - 1),
    decision: fc.constantFrom("commit" as const, "rollback" as const, "unknown" as const),
  }),
  fc.record({ c: fc.constant("check" as const), half: fc.nat(HALVES - 1), online: fc.boolean() }),
  fc.record({ c: fc.constant("complete" as const), pick: fc.nat(7) }),
  fc.record({ c: fc.constant("fail" as const), pick: fc.nat(7) }),
  fc.record({
    c: fc.constant("crash" as const),
    cut: fc.array(fc.constantFrom("lost" as const, "whole" as const, "torn" as const), { maxLength: 8 }),
  }),
  fc.constant({ c: "send" as const }),
);

function runModel(cmds: Cmd[]): void {
  const log: LogFact[] = [];
  let states = new Map<number, HalfState>();
  let halves = 0;
  const inflight: Array<{ half: number; decision: Decision }> = [];
  const acked = new Map<number, Decision>();

  const persist = (w: { half: number; decision: Decision }, torn: boolean) => {
    // The real-topic copy of a commit (a discard's copy goes to TRANS_CHECK_MAX_TIME_TOPIC, never looked up).
    if (w.decision === "commit") log.push({ kind: "copy", half: w.half });
    if (!torn) log.push({ kind: "op", half: w.half, op: w.decision });
  };
  const take = (pick: number) =>
    inflight.length === 0 ? undefined : inflight.splice(pick % inflight.length, 1)[0];

  for (const cmd of cmds) {
    switch (cmd.c) {
      case "send": {
        if (halves >= HALVES) break;
        log.push({ kind: "half", half: halves });
        states.set(halves, newHalf());
        halves++;
        break;
      }
      case "end":
      case "check": {
        const s = states.get(cmd.half);
        if (!s) break;
        const ev =
          cmd.c === "end"
            ? ({ kind: "end", decision: cmd.decision } as const)
            : ({ kind: "checkDue", producerOnline: cmd.online, checkMax: CHECK_MAX } as const);
        const { next, action } = step(s, ev);
        states.set(cmd.half, next);
        if (action.kind === "write") inflight.push({ half: cmd.half, decision: action.decision });
        if (action.kind === "sendCheck") log.push({ kind: "op", half: cmd.half, op: "check" });
        if (action.kind === "duplicate") {
          // A duplicate names the decision already taken.
          const done = acked.get(cmd.half);
          if (done && cmd.c === "end") assert.equal(done, cmd.decision);
        }
        break;
      }
      case "complete": {
        const w = take(cmd.pick);
        if (!w) break;
        persist(w, false);
        const s = states.get(w.half)!;
        states.set(w.half, step(s, { kind: "written", ok: true }).next);
        acked.set(w.half, w.decision);
        break;
      }
      case "fail": {
        const w = take(cmd.pick);
        if (!w) break;
        const s = states.get(w.half)!;
        states.set(w.half, step(s, { kind: "written", ok: false }).next);
        break;
      }
      case "crash": {
        // Writes in flight: lost, stored whole, or torn (the copy made it, the op record did not).
        inflight.forEach((w, i) => {
          const how = cmd.cut[i] ?? "lost";
          if (how === "whole") persist(w, false);
          // Only a commit's copy is found again by id; a discard copy is never delivered.
          else if (how === "torn") persist(w, true);
        });
        inflight.length = 0;
        states = replay(log);
        break;
      }
    }
    checkInvariants(log, states, acked);
  }
}

function checkInvariants(log: LogFact[], states: Map<number, HalfState>, acked: Map<number, Decision>): void {
  for (let h = 0; h < HALVES; h++) {
    const ops = log.filter((f) => f.kind === "op" && f.half === h && f.op !== "check");
    const copies = log.filter((f) => f.kind === "copy" && f.half === h);
    const decisions = new Set(ops.map((f) => (f.kind === "op" ? f.op : "")));
    assert.ok(ops.length <= 1, `half ${h} resolved ${ops.length} times: ${JSON.stringify(log)}`);
    assert.ok(copies.length <= 1, `half ${h} copied ${copies.length} times: ${JSON.stringify(log)}`);
    if (copies.length === 1 && ops.length === 1)
      assert.ok(!decisions.has("rollback"), `half ${h}: copy and rollback`);
    const done = acked.get(h);
    const s = states.get(h);
    if (done && s) {
      const want = done === "commit" ? "committed" : done === "rollback" ? "rolledBack" : "discarded";
      assert.equal(s.status, want, `half ${h} acknowledged ${done} but is ${s.status}`);
    }
  }
}

test("model: random interleavings of commits, rollbacks, checks, failures, crashes and restarts resolve each half at most once", () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 80 }), (cmds) => {
      runModel(cmds);
    }),
    { numRuns: 2000 },
  );
});

test("a half never checked back steps through shared frozen states with the same values", () => {
  for (const d of ["commit", "rollback", "discard"] as const) {
    const fresh = { status: "pending", checks: 0 } as const;
    assert.deepEqual(FRESH_PENDING, fresh);
    assert.ok(Object.isFrozen(FRESH_PENDING));
    const ended =
      d === "discard"
        ? step(FRESH_PENDING, { kind: "checkDue", producerOnline: true, checkMax: 0 })
        : step(FRESH_PENDING, { kind: "end", decision: d });
    assert.deepEqual(ended, {
      next: { status: "resolving", resolving: d, checks: 0 },
      action: { kind: "write", decision: d },
    });
    const done = step(ended.next, { kind: "written", ok: true });
    assert.deepEqual(done.next, {
      status: d === "commit" ? "committed" : d === "rollback" ? "rolledBack" : "discarded",
      checks: 0,
    });
    assert.deepEqual(step(ended.next, { kind: "written", ok: false }).next, fresh);
    // Shared states are never changed in place: every later step makes its own.
    assert.ok(Object.isFrozen(done.next));
    assert.deepEqual(step(FRESH_PENDING, { kind: "checkDue", producerOnline: true, checkMax: 5 }).next, {
      status: "pending",
      checks: 1,
    });
    assert.deepEqual(FRESH_PENDING, fresh);
  }
});
