#!/usr/bin/env node
// Simulated power cuts (lossyfs) against the store: per round a child appends under a fresh
// lossyfs mount, is killed with SIGKILL at a random moment, every unsynced write is dropped,
// and the store is reopened and checked (see packages/store/test/powercut-child.ts).
// SYNC_FLUSH rounds must lose no acknowledged message; ASYNC_FLUSH rounds may lose
// acknowledged messages but must recover a consistent, uncorrupted prefix.
// Usage: node bench/store-powercut.mjs [--rounds 20] [--async-rounds N] [--seed N]
//        [--round-seed S --mode SYNC_FLUSH|ASYNC_FLUSH]   (replay one round)
// Needs a build first (npx tsc -b packages/store), root, /dev/fuse, fuse3, python3-fusepy.
import { execFileSync } from "node:child_process";
import os from "node:os";
import { findLossyfs, runPowercutRound } from "../packages/store/dist/test/powercut-child.js";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const rounds = Number(opt("rounds", "20"));
const asyncRounds = Number(opt("async-rounds", String(Math.max(1, Math.round(rounds / 5)))));
const seed = Number(opt("seed", String(Date.now() % 100_000)));

function machine() {
  const cpus = os.cpus();
  let fsType = "?";
  try {
    fsType = execFileSync("stat", ["-f", "-c", "%T", os.tmpdir()], { encoding: "utf8" }).trim();
  } catch {
    // stat(1) missing: leave "?"
  }
  return (
    `${cpus[0]?.model ?? "?"} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ` +
    `node ${process.version}, ${os.platform()} ${os.release()}, backing dir ${os.tmpdir()} (${fsType})`
  );
}

const tool = await findLossyfs();
if ("unavailable" in tool) {
  console.error(
    `lossyfs unavailable (${tool.unavailable}): apt-get install -y fuse3 python3-fusepy, run as root`,
  );
  process.exit(2);
}
console.log(`machine: ${machine()}`);
console.log(`lossyfs: ${tool.python} ${tool.script}`);

const plan = [];
if (opt("round-seed") !== undefined) {
  plan.push({ mode: opt("mode", "SYNC_FLUSH"), seed: Number(opt("round-seed")) });
} else {
  for (let i = 0; i < rounds; i++) plan.push({ mode: "SYNC_FLUSH", seed: seed * 100 + i });
  for (let i = 0; i < asyncRounds; i++) plan.push({ mode: "ASYNC_FLUSH", seed: seed * 100 + 99 - i });
  console.log(`seed ${seed}: ${rounds} SYNC_FLUSH rounds, ${asyncRounds} ASYNC_FLUSH rounds`);
}

const sum = {
  SYNC_FLUSH: { rounds: 0, acked: 0, lost: 0, dropped: 0, torn: 0, failed: 0 },
  ASYNC_FLUSH: { rounds: 0, acked: 0, lost: 0, dropped: 0, torn: 0, failed: 0 },
};
const failures = [];
const t0 = Date.now();
for (const { mode, seed: s } of plan) {
  const s_ = sum[mode];
  s_.rounds++;
  try {
    const r = await runPowercutRound(tool, mode, s);
    s_.acked += r.acked;
    s_.lost += r.lostAcked;
    s_.dropped += r.droppedBytes;
    if (r.tornTailCut) s_.torn++;
    console.log(
      `  ${mode} seed ${s}: killed ${r.killAfterMs} ms after the first ack, ${r.acked} acked, ${r.lostAcked} lost, ` +
        `${r.droppedBytes} unsynced bytes dropped, recovered end ${r.recoveredEnd}${r.tornTailCut ? ", torn tail cut" : ""}, ` +
        `+${r.appendedAfter} appended after, ${r.ms} ms`,
    );
  } catch (err) {
    s_.failed++;
    failures.push(`${mode} seed ${s}`);
    console.log(`  FAILED ${mode} seed ${s}: ${err?.stack ?? err}`);
  }
}
console.log(`summary (${((Date.now() - t0) / 1000).toFixed(1)} s, machine: ${machine()}):`);
for (const [mode, s] of Object.entries(sum)) {
  if (s.rounds === 0) continue;
  console.log(
    `  ${mode}: ${s.rounds} rounds, ${s.failed} failed, ${s.acked} acknowledged, ${s.lost} lost acknowledged` +
      `${mode === "SYNC_FLUSH" ? " (must be 0)" : " (allowed)"}, ${s.dropped} unsynced bytes dropped, torn tail cut in ${s.torn}`,
  );
}
if (failures.length > 0)
  console.log(`failed rounds (replay with --round-seed S --mode M): ${failures.join("; ")}`);
if (failures.length > 0 || sum.SYNC_FLUSH.lost > 0) process.exitCode = 1;
