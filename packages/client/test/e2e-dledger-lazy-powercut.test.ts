import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

/*
 * dLegerLazyIndexSync under power cuts: rounds of bench/fault-injection.mjs with replica n2's
 * store on lossyfs (unsynced writes dropped at the cut), alternating a power cut of n2 and a
 * kill -9 of the leader (the second failure, while n2 may still be amnesiac). The index fsync
 * is delayed 300 ms (test-only TIDEMQ_DLEDGER_INDEX_SYNC_DELAY_MS) and the producer paced at
 * 3,000 msg/s, so a cut usually finds acknowledged entries whose index records are lost and n2
 * restarts amnesiac (reported below; e2e-dledger-lazy-index.test.ts makes it certain). The
 * checker: every acknowledged message consumed at its queue offset, none lost, changed or
 * invented; a new leader within 30 s of losing one. Skipped where lossyfs cannot run.
 */

const SCRIPT = fileURLToPath(new URL("../../../../bench/fault-injection.mjs", import.meta.url));

test("lazy index sync: power cuts of a replica on lossyfs and leader kills lose nothing acknowledged", {
  timeout: 600_000,
}, async (t) => {
  const logs = await fs.promises.mkdtemp(join(os.tmpdir(), "tidemq-lazy-powercut-"));
  try {
    const child = spawn(
      process.execPath,
      [
        SCRIPT,
        ...["--rounds", "4", "--cycle", "--lossy", "--rate", "3000", "--seed", "5", "--quiet"],
        ...["--kinds", "powerLoss,killLeader", "--logs", logs],
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          TIDEMQ_DLEDGER_LAZY_INDEX_SYNC: "1",
          TIDEMQ_DLEDGER_INDEX_SYNC_DELAY_MS: "300",
        },
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
    if (skipped) {
      t.skip(`lossyfs unavailable: ${skipped[1]}`);
      return;
    }
    let summary: {
      violations: string[];
      rounds: number;
      lost: number;
      changed: number;
      phantom: number;
      acked: number;
    };
    try {
      summary = JSON.parse(out.trim().split("\n").at(-1) ?? "");
    } catch {
      assert.fail(`fault injection ended without a summary (exit ${code}):\n${out}\n${err.slice(-3000)}`);
    }
    assert.deepEqual(
      summary.violations,
      [],
      `fault injection found a violation:\n${out}\n${err.slice(-3000)}`,
    );
    assert.equal(summary.rounds, 4);
    assert.equal(summary.lost, 0);
    assert.equal(summary.changed, 0);
    assert.equal(summary.phantom, 0);
    assert.ok(summary.acked > 0);
    const n2 = fs.existsSync(join(logs, "n2.log")) ? fs.readFileSync(join(logs, "n2.log"), "utf8") : "";
    const marked = (n2.match(/may have lost index records/g) ?? []).length;
    const cleared = (n2.match(/votes again/g) ?? []).length;
    t.diagnostic(`n2 restarted amnesiac after ${marked} of 2 power cuts, cleared ${cleared} times`);
    assert.ok(cleared >= marked - 1, "an amnesia mark was never cleared while writes went on");
    assert.equal(code, 0);
  } finally {
    await fs.promises.rm(logs, { recursive: true, force: true });
  }
});
