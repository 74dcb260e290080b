import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));

export interface AdminResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tidemq admin <args> -n <nsAddr>` as a child process (no -n when nsAddr is undefined),
 * killed by PID after `timeoutMs`: a guard against a hung command, not a speed bound (starting
 * node and the CLI alone took over 15 s at load 26 on a 2-core machine).
 */
export function runAdmin(
  nsAddr: string | undefined,
  args: string[],
  children: Set<ChildProcess>,
  timeoutMs = 60_000,
): Promise<AdminResult> {
  const argv = [TIDEMQ, "admin", ...args, ...(nsAddr === undefined ? [] : ["-n", nsAddr])];
  const child = spawn(process.execPath, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TIDEMQ_DEBUG: "", NAMESRV_ADDR: "" },
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const killer = setTimeout(() => process.kill(child.pid!, "SIGKILL"), timeoutMs);
  return new Promise((resolve) => {
    child.on("close", (code) => {
      clearTimeout(killer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function adminOk(nsAddr: string, args: string[], children: Set<ChildProcess>): Promise<string> {
  const r = await runAdmin(nsAddr, args, children);
  assert.equal(r.code, 0, `tidemq admin ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}
