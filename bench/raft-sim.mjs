#!/usr/bin/env node
// Deterministic Raft simulation over many seeds (packages/raft/src/sim): N replicas under a
// network that drops, delays, duplicates, reorders and partitions, disks that lose unsynced
// writes and tear the last one, crashes at any step, paused processes and clock jumps. Every
// step checks election safety, log matching, leader completeness, state-machine safety and
// "no acknowledged write lost or changed"; after healing, a leader must commit within a bound.
// Then: ticks from a leader crash to a new leader accepting writes (3 replicas, defaults).
//
// Usage: node bench/raft-sim.mjs [--seeds 10000] [--from 1] [--steps 300] [--failover 2000]
//        node bench/raft-sim.mjs --seed 1234 --verbose          (replay one seed, with its events)
// Needs a build first: npx tsc -b packages/raft
import os from "node:os";
import { measureFailover, runSimulation } from "../packages/raft/dist/src/sim/index.js";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const verbose = args.includes("--verbose");
const steps = Number(opt("steps", "300"));
const one = opt("seed", undefined);

if (one !== undefined) {
  const seed = Number(one);
  try {
    const r = runSimulation({ seed, steps, ...(verbose ? { log: (l) => console.log(l) } : {}) });
    console.log(JSON.stringify(r));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  process.exit(0);
}

const seeds = Number(opt("seeds", "10000"));
const from = Number(opt("from", "1"));
const t0 = performance.now();
let failures = 0;
const totals = {
  acked: 0,
  proposals: 0,
  crashes: 0,
  partitions: 0,
  configChanges: 0,
  leaderChanges: 0,
  messages: 0,
  checks: 0,
  lostIndexRecords: 0,
};
const liveness = [];
// Seeds (with the lazy index sync model) left without a leader: a majority amnesiac at once.
let wedged = 0;
for (let seed = from; seed < from + seeds; seed++) {
  try {
    const r = runSimulation({ seed, steps });
    for (const k of Object.keys(totals)) totals[k] += r[k];
    if (r.wedgedByAmnesia) wedged++;
    else liveness.push(r.livenessSteps);
  } catch (e) {
    failures++;
    console.log(`FAIL ${e.message}`);
  }
}
const seconds = (performance.now() - t0) / 1000;
liveness.sort((a, b) => a - b);
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
console.log(
  `machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, load ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
console.log(
  `seeds ${from}..${from + seeds - 1}: ${seeds} runs × ${steps} chaos steps, failures ${failures}, ${seconds.toFixed(1)} s`,
);
console.log(`totals: ${JSON.stringify(totals)}`);
console.log(
  `wedged by amnesia (a majority of voters lost acknowledged index records at once; lazy index sync seeds only): ${wedged}`,
);
if (liveness.length > 0) {
  console.log(
    `ticks after healing until a new write committed: p50 ${pct(liveness, 50)}, p99 ${pct(liveness, 99)}, max ${liveness.at(-1)}`,
  );
}

const fo = Number(opt("failover", "2000"));
if (fo > 0) {
  // The same wall-clock timeouts (1-2 s election timeout, 100 ms heartbeats) at two tick sizes:
  // finer ticks make two followers' timeouts expire in the same tick (a split vote) rarer.
  for (const { tickMs, electionTicks, heartbeatTicks } of [
    { tickMs: 100, electionTicks: 10, heartbeatTicks: 1 },
    { tickMs: 10, electionTicks: 100, heartbeatTicks: 10 },
  ]) {
    const elect = [];
    const commit = [];
    for (let seed = 1; seed <= fo; seed++) {
      const r = measureFailover(seed, { electionTicks, heartbeatTicks });
      elect.push(r.ticksToElect * tickMs);
      commit.push(r.ticksToCommit * tickMs);
    }
    elect.sort((a, b) => a - b);
    commit.sort((a, b) => a - b);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const line = (name, xs) =>
      `${name}: mean ${mean(xs).toFixed(0)} ms, p50 ${pct(xs, 50)}, p99 ${pct(xs, 99)}, max ${xs.at(-1)} ms`;
    console.log(
      `leader crash, 3 replicas, tick ${tickMs} ms, electionTicks ${electionTicks}, heartbeatTicks ${heartbeatTicks}, ${fo} runs:`,
    );
    console.log(
      `  ${line("to elect a new leader", elect)} (mean ${(mean(elect) / tickMs).toFixed(1)} ticks)`,
    );
    console.log(`  ${line("to commit a write", commit)}`);
  }
}
process.exit(failures > 0 ? 1 : 0);
