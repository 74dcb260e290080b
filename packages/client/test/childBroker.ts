/**
 * A broker in its own process (fixtures/broker-child.js), registered with a NameServer of the
 * test, for tests that kill it with SIGKILL and start it again on the same store.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "broker-child.js");

/**
 * Spawns the broker. `child` is there at once (for the test's after() to kill); `ready`
 * resolves with the broker's address once it is registered, and rejects (after killing it)
 * when it does not start within 30 s or exits first.
 */
export function spawnChildBroker(
  nsAddr: string,
  brokerName: string,
  storeDir: string,
  /** Broker config keys over the fixture's, as JSON. */
  overridesJson?: string,
): { child: ChildProcess; ready: Promise<string> } {
  const args = [SCRIPT, nsAddr, brokerName, storeDir, ...(overridesJson ? [overridesJson] : [])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const ready = new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      killChild(child);
      reject(new Error(`${brokerName} did not start in 30 s`));
    }, 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${brokerName} exited with ${code}`));
    });
  });
  return { child, ready };
}

/** SIGKILL by PID if the process still runs (for after()). */
export function killChild(child: ChildProcess | undefined): void {
  if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
}

/** kill -9 and wait until the process is gone. */
export async function sigkill(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) =>
    child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", () => r()),
  );
  killChild(child);
  await exited;
}
