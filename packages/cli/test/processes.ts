/**
 * Child processes for tests that run commands as a user would: output collected, lines awaited
 * (never a sleep), every process stopped by its PID when the test ends, also on failure.
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

export interface Running {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first output line matching `re`; rejects on exit or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function start(cmd: string, args: string[], opts: SpawnOptions = {}): Running {
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", (err) => {
      text += `\n[spawn error] ${err.message}\n`;
      resolve(null);
    });
    child.on("close", (code) => resolve(code));
  });
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of waiters) w();
  });
  return {
    child,
    output: () => text,
    exited,
    waitFor(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(text);
          if (m) finish(() => resolve(m));
          else if (done) finish(() => reject(new Error(`${cmd} exited before printing ${re}:\n${text}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no ${re} from ${cmd} within ${ms} ms:\n${text}`))),
          ms,
        );
        const finish = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 10_000) {
      if (done || child.pid === undefined) return;
      process.kill(child.pid, "SIGTERM");
      const timer = setTimeout(() => {
        if (!done) process.kill(child.pid!, "SIGKILL");
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a command to its end; rejects after `ms` (killing it by PID). */
export async function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const p = start(cmd, args, opts);
  const timer = setTimeout(() => process.kill(p.child.pid!, "SIGKILL"), opts.timeoutMs ?? 60_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

/** The environment for a nested npm: without the npm_* variables of the `npm test` running us. */
export function cleanNpmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return {
    ...env,
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    ...extra,
  };
}
