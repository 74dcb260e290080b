/**
 * `tidemq dashboard` and the console of `tidemq dev` as real child processes: refuses a
 * public address without users, makes users-file lines, serves with login, reports a busy
 * port clearly (and `tidemq dev` runs on without its console then).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseUsers, verifyPassword } from "@tidemq/dashboard";
import { parseDashboardArgs } from "../src/commands/dashboard.js";
import { startTestCluster, type TestCluster } from "./cluster.js";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));

let cluster: TestCluster;
let dir: string;
before(async () => {
  cluster = await startTestCluster("cli-dash-");
  dir = await mkdtemp(join(tmpdir(), "cli-dash-files-"));
});
after(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], stdin?: string): Run {
  const child = spawn(process.execPath, [TIDEMQ, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn" },
  });
  cluster.children.add(child);
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  if (stdin !== undefined) child.stdin!.end(stdin);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, out: () => out, exited };
}

/** Resolves when the child's output matches `re` (or rejects when it exits first / after 30 s). */
function waitOutput(run: Run, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}:\n${run.out()}`)), 30_000);
    const check = () => {
      const m = re.exec(run.out());
      if (m) {
        clearTimeout(timer);
        run.child.stdout!.off("data", check);
        run.child.stderr!.off("data", check);
        resolve(m);
      }
    };
    run.child.stdout!.on("data", check);
    run.child.stderr!.on("data", check);
    run.exited.then(() => {
      clearTimeout(timer);
      if (!re.exec(run.out())) reject(new Error(`exited without ${re}:\n${run.out()}`));
      else check();
    });
    check();
  });
}

async function busyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port };
}

test("parseDashboardArgs: defaults, flags, mistakes", () => {
  const d = parseDashboardArgs([], {});
  assert.deepEqual([d.namesrv, d.port, d.host, d.users], ["127.0.0.1:9876", 8080, "127.0.0.1", undefined]);
  const a = parseDashboardArgs(["-n", "a:1", "-p", "0", "--host", "::1", "--users", "u.txt"], {});
  assert.deepEqual([a.namesrv, a.port, a.host, a.users], ["a:1", 0, "::1", "u.txt"]);
  assert.throws(() => parseDashboardArgs(["-p", "99999"], {}), /expected a port/);
  assert.throws(() => parseDashboardArgs(["--bogus"], {}), /unknown option --bogus/);
});

test("a public address without --users: refused, exit status 2", async () => {
  const run = start(["dashboard", "-n", cluster.nsAddr, "--host", "0.0.0.0", "-p", "0"]);
  assert.equal(await run.exited, 2);
  assert.match(run.out(), /refusing to serve the console on 0\.0\.0\.0 without --users FILE/);
});

test("passwd makes a users-file line; the console then requires a login", async () => {
  const p = start(["dashboard", "passwd", "alice", "admin"], "a-long-password\n");
  assert.equal(await p.exited, 0, p.out());
  const line = p.out().trim();
  const users = parseUsers(line);
  assert.equal(users.get("alice")?.role, "admin");
  assert.ok(await verifyPassword("a-long-password", users.get("alice")!.hash));
  assert.ok(!line.includes("a-long-password"), "no plain password in the file");

  const file = join(dir, "users.txt");
  await writeFile(file, `${line}\n`);
  const run = start([
    "dashboard",
    "-n",
    cluster.nsAddr,
    "-p",
    "0",
    "--users",
    file,
    "--audit",
    join(dir, "audit.log"),
  ]);
  try {
    const m = await waitOutput(run, /TideMQ console on (http:\/\/127\.0\.0\.1:\d+\/)/);
    assert.match(run.out(), /login required/);
    const res = await fetch(new URL("/api/session", m[1]));
    assert.deepEqual(((await res.json()) as { loginRequired: boolean }).loginRequired, true);
    assert.equal((await fetch(new URL("/api/cluster", m[1]))).status, 401);
  } finally {
    run.child.kill("SIGTERM");
    await run.exited;
  }
});

test("a busy port: tidemq dashboard says so (exit 2); tidemq dev runs on without its console", async () => {
  const busy = await busyPort();
  try {
    const run = start(["dashboard", "-n", cluster.nsAddr, "-p", String(busy.port)]);
    assert.equal(await run.exited, 2);
    assert.match(run.out(), new RegExp(`port ${busy.port} on 127\\.0\\.0\\.1 is already in use`));

    const data = join(dir, "dev-data");
    const dev = start([
      "dev",
      "--replicas",
      "1",
      "--data",
      data,
      "--namesrv-port",
      "0",
      "--broker-port",
      "0",
      "--dashboard-port",
      String(busy.port),
    ]);
    try {
      await waitOutput(dev, /Press Ctrl-C to stop/);
      assert.match(dev.out(), /Console\s+NOT started: port \d+ on 127\.0\.0\.1 is already in use/);
      assert.equal(dev.child.exitCode, null, "the dev cluster keeps running");
    } finally {
      dev.child.kill("SIGTERM");
      await dev.exited;
    }
  } finally {
    busy.server.close();
  }
});
