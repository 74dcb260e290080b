import fs from "node:fs";
import { resolve } from "node:path";
import { ResponseCode } from "@tidemq/protocol";
import { StoreError } from "./StoreError.js";

/**
 * Keeps two stores from opening one directory, which would interleave two commit logs.
 * Within a process a set of open roots answers; across processes the abort marker (written
 * at open, holding the opener's PID) does: a marker naming a live node process other than
 * us means the directory is in use. A marker left by a killed process names a dead PID and
 * is the ordinary crash-recovery case. (Node has no flock; a PID check is what is portable.)
 */
const openRoots = new Set<string>();

export class StoreLockedError extends StoreError {
  constructor(message: string) {
    super(ResponseCode.SERVICE_NOT_AVAILABLE, message);
    this.name = "StoreLockedError";
  }
}

export async function acquireStoreLock(root: string, abortPath: string): Promise<() => void> {
  const key = resolve(root);
  if (openRoots.has(key)) {
    throw new StoreLockedError(`store directory ${key} is already open in this process`);
  }
  const pid = await markerPid(abortPath);
  if (pid !== undefined && pid !== process.pid && isLiveNodeProcess(pid)) {
    throw new StoreLockedError(
      `store directory ${key} is in use by process ${pid} (see ${abortPath}); stop that process first`,
    );
  }
  openRoots.add(key);
  return () => openRoots.delete(key);
}

async function markerPid(abortPath: string): Promise<number | undefined> {
  try {
    const text = (await fs.promises.readFile(abortPath, "utf8")).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

function isLiveNodeProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // A recycled PID of some other program is not a store user.
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("node");
  } catch {
    return true; // no /proc: trust the PID
  }
}
