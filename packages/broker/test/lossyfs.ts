/**
 * A store directory on ../shared/tools/lossyfs.py (FUSE: unsynced writes kept in memory and
 * dropped on `crash`), for power-loss tests of the broker. Needs root, /dev/fuse, fusermount3
 * and Debian's python3-fusepy; `lossyfsUnavailable` says why not, so tests skip with that.
 * (packages/store/test/powercut-child.ts does the same for the store alone.)
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// dist/test/ → the repository root → ../shared.
const SCRIPT = path.resolve(
  fileURLToPath(new URL(".", import.meta.url)),
  "../../../../../shared/tools/lossyfs.py",
);

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: "SIGKILL" }, (err, _out, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stderr: String(stderr) || (err?.message ?? "") });
    });
  });
}

export interface LossyMount {
  backing: string;
  dir: string;
  pid: number | undefined;
  python: string;
}

/** Why lossyfs cannot run here, or undefined when it can (with the python that imports fusepy). */
export async function lossyfsPython(): Promise<{ python: string } | { unavailable: string }> {
  if (!fs.existsSync(SCRIPT)) return { unavailable: `${SCRIPT} not found` };
  if (process.platform !== "linux") return { unavailable: "not Linux" };
  if (process.getuid?.() !== 0) return { unavailable: "not root" };
  if (!fs.existsSync("/dev/fuse")) return { unavailable: "no /dev/fuse" };
  if ((await run("fusermount3", ["-V"], 10_000)).code !== 0) return { unavailable: "no fusermount3" };
  for (const python of ["/usr/bin/python3", "python3"]) {
    if ((await run(python, ["-c", "import fusepy"], 10_000)).code === 0) return { python };
  }
  return { unavailable: "python3 cannot import fusepy (apt-get install -y fuse3 python3-fusepy)" };
}

const isMounted = (dir: string) =>
  fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === dir);

async function status(m: LossyMount): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const text = await fs.promises.readFile(path.join(m.dir, ".lossyfs-control"), "utf8");
  for (const kv of text.trim().split(/\s+/)) {
    const [k, v] = kv.split("=");
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

export async function mountLossyfs(python: string): Promise<LossyMount> {
  const backing = await fs.promises.mkdtemp(path.join(os.tmpdir(), "tidemq-lossy-backing-"));
  const dir = await fs.promises.realpath(
    await fs.promises.mkdtemp(path.join(os.tmpdir(), "tidemq-lossy-mnt-")),
  );
  const m: LossyMount = { backing, dir, pid: undefined, python };
  const r = await run(python, [SCRIPT, backing, dir], 20_000);
  if (r.code !== 0 || !isMounted(dir)) {
    await unmountLossyfs(m);
    throw new Error(`lossyfs did not mount ${dir} (exit ${r.code}): ${r.stderr.trim()}`);
  }
  m.pid = (await status(m)).pid;
  return m;
}

/** The power cut: every write not fsynced is gone. Returns the bytes dropped. */
export async function powerCut(m: LossyMount): Promise<number> {
  const before = await status(m);
  await fs.promises.writeFile(path.join(m.dir, ".lossyfs-control"), "crash\n");
  const after = await status(m);
  if (after.crashes !== (before.crashes ?? 0) + 1 || after.unsynced_bytes !== 0) {
    throw new Error(`lossyfs did not take the crash command: ${JSON.stringify(after)}`);
  }
  return before.unsynced_bytes ?? 0;
}

function isLossyfs(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("lossyfs");
  } catch {
    return false;
  }
}

/** Unmounts, ends the daemon (by its PID) and removes both directories. */
export async function unmountLossyfs(m: LossyMount): Promise<void> {
  if (isMounted(m.dir)) {
    const r = await run("fusermount3", ["-u", m.dir], 15_000);
    if (r.code !== 0) await run("fusermount3", ["-u", "-z", m.dir], 15_000);
  }
  if (m.pid !== undefined && m.pid > 1) {
    // The daemon is no child of ours: once gone it may linger as a zombie, so read its state.
    const alive = () => {
      try {
        const st = fs.readFileSync(`/proc/${m.pid}/stat`, "utf8");
        return st.slice(st.lastIndexOf(")") + 2, st.lastIndexOf(")") + 3) !== "Z";
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    // Only if the PID is still the daemon: once it exited and init reaped it, the PID can go
    // to any new process (pid_max is 32768 on many machines, threads take PIDs too), and a
    // SIGKILL then hit a stranger — e.g. another test's broker.
    if (alive() && isLossyfs(m.pid)) process.kill(m.pid, "SIGKILL");
  }
  await fs.promises.rm(m.backing, { recursive: true, force: true });
  if (!isMounted(m.dir)) await fs.promises.rm(m.dir, { recursive: true, force: true });
}
