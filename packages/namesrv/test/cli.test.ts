import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ClusterInfo, createRequest, decodeJson, RequestCode, ResponseCode } from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { silentLogger } from "./helpers.js";

// The real executable: `node packages/cli/bin/tidemq.js namesrv -p <port>` as a child process.
const BIN = fileURLToPath(new URL("../../../cli/bin/tidemq.js", import.meta.url));

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn" },
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    err += s;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Waits for a stdout line matching `re` (an event per chunk, bounded by a deadline). */
async function waitForLine(run: Run, re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = run.stdout().match(re);
    if (m) return m;
    const left = deadline - Date.now();
    if (left <= 0 || run.child.exitCode !== null) {
      throw new Error(`no line ${re} (stdout: ${run.stdout()} stderr: ${run.stderr()})`);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      once(run.child.stdout!, "data"),
      run.exit,
      new Promise((r) => {
        timer = setTimeout(r, left);
      }),
    ]);
    clearTimeout(timer);
  }
}

function killByPid(run: Run): void {
  if (run.child.exitCode === null && run.child.signalCode === null && run.child.pid !== undefined) {
    try {
      process.kill(run.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`tidemq namesrv -p <port> serves requests and exits 0 on ${signal}`, async () => {
    const port = await freePort();
    const run = launch(["namesrv", "-p", String(port)]);
    const client = new RemotingClient({ logger: silentLogger });
    try {
      const m = await waitForLine(run, /NameServer listening on (\S+):(\d+)/);
      assert.equal(Number(m[2]), port);
      const res = await client.invoke(
        `127.0.0.1:${port}`,
        createRequest(RequestCode.GET_BROKER_CLUSTER_INFO),
        3000,
      );
      assert.equal(res.code, ResponseCode.SUCCESS);
      assert.deepEqual(decodeJson<ClusterInfo>(res.body, "ci"), {
        brokerAddrTable: {},
        clusterAddrTable: {},
      });
      const missing = await client.invoke(
        `127.0.0.1:${port}`,
        createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "Nope" }),
        3000,
      );
      assert.equal(missing.code, ResponseCode.TOPIC_NOT_EXIST);
      await client.close();
      run.child.kill(signal);
      const { code } = await run.exit;
      assert.equal(code, 0, `exit code (stderr: ${run.stderr()})`);
      assert.match(run.stdout(), /NameServer stopped/);
    } finally {
      await client.close();
      killByPid(run);
    }
  });
}

test("tidemq namesrv rejects an unknown option with a clear message and exit code 2", async () => {
  const run = launch(["namesrv", "--bogus"]);
  try {
    const { code } = await run.exit;
    assert.equal(code, 2);
    assert.match(run.stderr(), /unknown option "--bogus"/);
    assert.match(run.stderr(), /usage: tidemq namesrv/);
  } finally {
    killByPid(run);
  }
});

test("tidemq namesrv rejects a bad port and prints help with -h", async () => {
  const bad = launch(["namesrv", "-p", "70000"]);
  const help = launch(["namesrv", "-h"]);
  try {
    assert.equal((await bad.exit).code, 2);
    assert.match(bad.stderr(), /"70000" is not a port number/);
    assert.equal((await help.exit).code, 0);
    assert.match(help.stdout(), /usage: tidemq namesrv \[-p <port>\]/);
  } finally {
    killByPid(bad);
    killByPid(help);
  }
});

test("a port already in use makes tidemq namesrv fail with exit code 1", async () => {
  const blocker = createServer();
  blocker.listen(0);
  await once(blocker, "listening");
  const port = (blocker.address() as { port: number }).port;
  const run = launch(["namesrv", "-p", String(port)]);
  try {
    const { code } = await run.exit;
    assert.equal(code, 1);
    assert.match(run.stderr(), /tidemq:/);
  } finally {
    killByPid(run);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});
