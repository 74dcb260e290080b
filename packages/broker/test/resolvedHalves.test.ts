/**
 * The compact table of resolved halves (a byte window plus a small Map below it) against a
 * Map model: it never answers a wrong status, never forgets a half at or above the scan's
 * position, keeps the newest halves up to its cap, and its checkpoint runs list exactly
 * what it remembers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { HalfStatus } from "../src/transaction/HalfLifecycle.js";
import { ResolvedHalves } from "../src/transaction/ResolvedHalves.js";

const status = fc.constantFrom<HalfStatus>("committed", "rolledBack", "discarded");

/** A resolution: mostly the next offsets in order, sometimes an old or far one; the scan moves on at times. */
const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("next" as const), skip: fc.nat(3), status }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("old" as const), back: fc.nat(400), status }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("scan" as const), to: fc.nat(120) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("jump" as const),
      by: fc.integer({ min: 50, max: 300 }),
      status,
    }),
  },
);

test("resolved halves: a window over a Map model (no wrong answer, nothing forgotten above the scan)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 16, max: 96 }),
      fc.nat(1000),
      fc.array(step, { maxLength: 400 }),
      (cap, start, steps) => {
        let scanned = start;
        const table = new ResolvedHalves(cap, () => scanned);
        const model = new Map<number, HalfStatus>();
        let next = start;
        for (const s of steps) {
          let offset: number;
          if (s.kind === "scan") {
            scanned = Math.max(scanned, Math.min(next, scanned + s.to));
            continue;
          }
          if (s.kind === "next") offset = next + s.skip;
          else if (s.kind === "jump") offset = next + s.by;
          else offset = Math.max(0, next - s.back);
          next = Math.max(next, offset + 1);
          table.set(offset, s.status);
          model.set(offset, s.status);
          assert.equal(table.get(offset), s.status, "a half just resolved is remembered");
        }
        let remembered = 0;
        for (const [o, st] of model) {
          const got = table.get(o);
          if (got !== undefined) {
            assert.equal(got, st, `offset ${o}: wrong status`);
            remembered++;
          } else {
            assert.ok(o < scanned, `offset ${o} forgotten at or above the scan's position ${scanned}`);
          }
        }
        assert.equal(table.size, remembered);
        // The newest `cap` offsets of the model within reach of the window are all there.
        const newest = [...model.keys()].sort((a, b) => b - a).slice(0, Math.floor(cap / 2));
        for (const o of newest) assert.ok(table.has(o) || o < scanned, `newest offset ${o} forgotten`);
        // Runs list exactly the remembered halves, in order, merged.
        const runs = table.runs();
        const fromRuns = new Map<number, HalfStatus>();
        let prevEnd = -1;
        for (const [from, count, code] of runs) {
          assert.ok(count > 0 && from >= prevEnd, "runs ordered, not overlapping");
          prevEnd = from + count;
          for (let i = 0; i < count; i++)
            fromRuns.set(from + i, ["committed", "rolledBack", "discarded"][code] as HalfStatus);
        }
        assert.equal(fromRuns.size, remembered);
        for (const [o, st] of fromRuns) assert.equal(table.get(o), st);
        const copy = new ResolvedHalves(next + 16);
        copy.addRuns(runs);
        assert.deepEqual(copy.runs(), runs, "runs round trip");
      },
    ),
    { numRuns: 300 },
  );
});

test("resolved halves: the cap holds when the scan keeps up; a bad run is refused", () => {
  const table = new ResolvedHalves(1000);
  for (let o = 0; o < 100_000; o++) table.set(o, o % 7 === 0 ? "rolledBack" : "committed");
  assert.ok(table.size <= 1000 && table.size >= 1000 - (1000 >> 4), `size ${table.size}`);
  assert.equal(table.get(99_999), "committed");
  assert.equal(table.get(99_995), "rolledBack");
  assert.equal(table.get(0), undefined);
  assert.throws(() => table.addRuns([[0, 1, 3]]), /malformed/);
  assert.throws(() => table.addRuns([[-1, 1, 0]]), /malformed/);
});

test("resolved halves: a half resolved below the scan's position is remembered at once (fast-check seed 332110954)", () => {
  const table = new ResolvedHalves(16, () => 1);
  table.set(51, "committed");
  table.set(50, "committed");
  table.set(0, "rolledBack");
  assert.equal(table.get(0), "rolledBack");
  assert.equal(table.get(50), "committed");
});
