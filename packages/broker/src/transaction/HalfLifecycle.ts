/**
 * The life of one transaction half message, as a pure state machine (no I/O, no clock):
 * the broker's TransactionService feeds it events and carries out the action it returns.
 *
 *   pending ──commit──▶ resolving(commit) ──written──▶ committed
 *      │    ──rollback─▶ resolving(rollback) ─written─▶ rolledBack
 *      │    ──check due, checks ≥ max──▶ resolving(discard) ─written─▶ discarded
 *      └──── check due, a producer online ──▶ pending (checks + 1), send a check
 *   resolving ──write failed──▶ pending (nothing was stored; the half may be resolved again)
 *
 * "Resolved exactly once" rests on two rules: only a pending half takes a decision (a
 * decision taken while one is being written, or after, is answered from the state and
 * stores nothing), and a decision is stored as ONE append holding every record it needs (the
 * real-topic copy and the op record together), so after a crash the log holds all of a
 * decision or none of it. `replay` rebuilds the states from what the log holds.
 */

export type Decision = "commit" | "rollback" | "discard";

export type HalfStatus = "pending" | "resolving" | "committed" | "rolledBack" | "discarded";

export interface HalfState {
  status: HalfStatus;
  /** With status "resolving": the decision being written. */
  resolving?: Decision;
  /** Check-backs sent so far (persisted as check op records). */
  checks: number;
}

export type HalfEvent =
  /** END_TRANSACTION from the producer (or its answer to a check). */
  | { kind: "end"; decision: "commit" | "rollback" | "unknown" }
  /** The check scan reached this half (older than its immunity); is a producer of its group online? */
  | { kind: "checkDue"; producerOnline: boolean; checkMax: number }
  /** The decision's records were stored (true) or the append failed (false). */
  | { kind: "written"; ok: boolean };

export type HalfAction =
  | { kind: "write"; decision: Decision }
  | { kind: "sendCheck"; checks: number }
  | { kind: "none" }
  /** The end request names a half already resolved (or being resolved) the same way: nothing to do. */
  | { kind: "duplicate"; status: HalfStatus }
  /** The end request contradicts how the half was resolved: refused, nothing stored. */
  | { kind: "conflict"; status: HalfStatus; resolving?: Decision };

export function newHalf(): HalfState {
  return { status: "pending", checks: 0 };
}

const FINAL: Record<Decision, HalfStatus> = {
  commit: "committed",
  rollback: "rolledBack",
  discard: "discarded",
};

/** The decision a status stands for (resolving: the one being written). */
function decisionOf(s: HalfState): Decision | undefined {
  switch (s.status) {
    case "committed":
      return "commit";
    case "rolledBack":
      return "rollback";
    case "discarded":
      return "discard";
    case "resolving":
      return s.resolving;
    default:
      return undefined;
  }
}

/** One step: the next state and what the caller must do. Never mutates `s`. */
/** Actions without data of their own, shared (step runs twice per transaction). */
const NONE: HalfAction = Object.freeze({ kind: "none" });
const WRITE: Record<Decision, HalfAction> = {
  commit: Object.freeze({ kind: "write", decision: "commit" }),
  rollback: Object.freeze({ kind: "write", decision: "rollback" }),
  discard: Object.freeze({ kind: "write", decision: "discard" }),
};

/**
 * A half never checked back, as the table first holds it: shared and frozen (a state is a
 * value: every step makes a new one, nothing changes one in place).
 */
export const FRESH_PENDING: HalfState = Object.freeze({ status: "pending", checks: 0 });

type Step = { next: HalfState; action: HalfAction };

/** The steps of a half never checked back (nearly every transaction), made once. */
const FRESH_END: Record<Decision, Step> = {
  commit: freshStep({ status: "resolving", resolving: "commit", checks: 0 }, WRITE.commit),
  rollback: freshStep({ status: "resolving", resolving: "rollback", checks: 0 }, WRITE.rollback),
  discard: freshStep({ status: "resolving", resolving: "discard", checks: 0 }, WRITE.discard),
};
const FRESH_WRITTEN: Record<Decision, Step> = {
  commit: freshStep({ status: "committed", checks: 0 }, NONE),
  rollback: freshStep({ status: "rolledBack", checks: 0 }, NONE),
  discard: freshStep({ status: "discarded", checks: 0 }, NONE),
};
const FRESH_UNWRITTEN: Step = Object.freeze({ next: FRESH_PENDING, action: NONE });

function freshStep(next: HalfState, action: HalfAction): Step {
  return Object.freeze({ next: Object.freeze(next), action });
}

export function step(s: HalfState, e: HalfEvent): { next: HalfState; action: HalfAction } {
  switch (e.kind) {
    case "end": {
      if (e.decision === "unknown") return { next: s, action: NONE };
      if (s.status === "pending") {
        if (s.checks === 0) return FRESH_END[e.decision];
        return {
          next: { status: "resolving", resolving: e.decision, checks: s.checks },
          action: WRITE[e.decision],
        };
      }
      const done = decisionOf(s);
      if (done === e.decision) return { next: s, action: { kind: "duplicate", status: s.status } };
      return { next: s, action: { kind: "conflict", status: s.status, resolving: s.resolving } };
    }
    case "checkDue": {
      if (s.status !== "pending") return { next: s, action: NONE };
      if (s.checks >= e.checkMax) {
        return {
          next: { status: "resolving", resolving: "discard", checks: s.checks },
          action: WRITE.discard,
        };
      }
      // No producer of the group is connected: nobody could answer, so the round does not count.
      if (!e.producerOnline) return { next: s, action: NONE };
      const checks = s.checks + 1;
      return { next: { status: "pending", checks }, action: { kind: "sendCheck", checks } };
    }
    case "written": {
      if (s.status !== "resolving" || !s.resolving) return { next: s, action: NONE };
      if (s.checks === 0) return e.ok ? FRESH_WRITTEN[s.resolving] : FRESH_UNWRITTEN;
      if (!e.ok) return { next: { status: "pending", checks: s.checks }, action: NONE };
      return { next: { status: FINAL[s.resolving], checks: s.checks }, action: NONE };
    }
  }
}

/** What the log holds about halves, in log order. */
export type LogFact =
  | { kind: "half"; half: number }
  /** An op record: a stored decision, or a check that was sent. */
  | { kind: "op"; half: number; op: Decision | "check" }
  /** A real-topic copy made from the half (found by id when an op record is missing). */
  | { kind: "copy"; half: number };

/**
 * The states after a restart, from the log's facts. A half's first stored decision wins (a
 * later one cannot exist unless the log was written by something else; it is ignored). A
 * copy without its op record (a torn append) counts as committed.
 */
export function replay(facts: Iterable<LogFact>): Map<number, HalfState> {
  const states = new Map<number, HalfState>();
  const orphanOps: LogFact[] = [];
  for (const f of facts) {
    if (f.kind === "half") {
      if (!states.has(f.half)) states.set(f.half, newHalf());
      continue;
    }
    const s = states.get(f.half);
    if (!s) {
      orphanOps.push(f);
      continue;
    }
    apply(s, f);
  }
  // Ops of halves the scan met later (ops are scanned from their own queue).
  for (const f of orphanOps) {
    const s = states.get(f.half);
    if (s) apply(s, f);
  }
  return states;
}

function apply(s: HalfState, f: LogFact): void {
  if (s.status !== "pending") return;
  if (f.kind === "op") {
    if (f.op === "check") s.checks++;
    else s.status = FINAL[f.op];
  } else if (f.kind === "copy") {
    s.status = "committed";
  }
}
