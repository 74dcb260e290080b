/**
 * A broker in a child process (fixtures/brokerProcess.js) for tests that kill it with
 * SIGKILL. A test file calls killAllChildren() last in its clean-up (after its clients
 * closed: ali-ons cannot close cleanly once its broker is gone).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const fixture = fileURLToPath(new URL("./fixtures/brokerProcess.js", import.meta.url));
const children: ChildProcess[] = [];

/** SIGKILLs (by PID) every child broker this file started that still runs. */
export async function killAllChildren(): Promise<void> {
  await Promise.all(children.map((c) => kill9(c)));
}

export interface ChildBroker {
  child: ChildProcess;
  port: number;
  addr: string;
}

/** Starts the fixture broker; resolves once it prints READY (30 s deadline). */
export function spawnBroker(overrides: object): Promise<ChildBroker> {
  const child = spawn(process.execPath, [fixture, JSON.stringify(overrides)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start in 30 s: ${stderr}`)), 30_000);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({ child, port, addr: `127.0.0.1:${port}` });
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (${code ?? signal}) before READY: ${stderr}`));
    });
  });
}

/** Resolved once the process is gone, with how it ended. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** SIGKILL by PID, resolved once the process is gone. */
export async function kill9(child: ChildProcess): Promise<void> {
  if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  await exited(child);
}

/** SIGTERM (the fixture shuts down cleanly), resolved once it exited. */
export async function stopClean(child: ChildProcess): Promise<void> {
  if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGTERM");
  await exited(child);
}
