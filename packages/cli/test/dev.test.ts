import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseDevArgs } from "../src/commands/dev.js";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));
const pids = new Set<number>();
const dirs: string[] = [];
after(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("dev flags: --replicas 3 (default) or 1; anything else is refused", () => {
  assert.equal(parseDevArgs([]).replicas, 3);
  assert.equal(parseDevArgs(["--replicas", "1"]).replicas, 1);
  assert.throws(() => parseDevArgs(["--replicas", "2"]), /--replicas: "2" \(expected 3 or 1\)/);
  assert.equal(parseDevArgs(["--raft-port", "0"]).raftPort, 0);
});

test("tidemq dev starts a DLedger group of three processes, names the leader; kill -9 of it elects another; Ctrl-C stops all", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-dev-"));
  dirs.push(dir);
  const dev = spawn(
    process.execPath,
    [TIDEMQ, "dev", "--data", dir, "--namesrv-port", "0", "--broker-port", "0", "--raft-port", "0"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn" } },
  );
  pids.add(dev.pid!);
  let out = "";
  const waiters: Array<() => void> = [];
  dev.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  dev.stderr!.resume();
  const waitFor = async (re: RegExp, ms: number, from = 0): Promise<RegExpExecArray> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(out.slice(from));
      if (m) return m;
      const left = deadline - Date.now();
      if (left <= 0 || dev.exitCode !== null) assert.fail(`no ${re} in tidemq dev output:\n${out}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  await waitFor(/dev cluster ready/, 60_000);
  const pidsOf = [...out.matchAll(/DLedger n\d, pid (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(pidsOf.length, 3, out);
  for (const p of pidsOf) pids.add(p);
  assert.match(await readFile(join(dir, "n1", "broker.conf"), "utf8"), /dLegerSelfId=n1/);
  const first = await waitFor(
    /leader: (n\d) \(pid (\d+), [^)]*\) — kill -9 (\d+) to watch a failover/,
    30_000,
  );
  // Every replica serves /metrics on a free port (the banner names them); the leader's says so.
  const urls = [...out.matchAll(/(http:\/\/127\.0\.0\.1:\d+\/metrics) \((n\d|NameServer)\)/g)];
  assert.deepEqual(
    urls.map((m) => m[2]),
    ["n0", "n1", "n2", "NameServer"],
    out,
  );
  for (const [, url, id] of urls) {
    const text = await (await fetch(url!)).text();
    if (id === "NameServer") {
      assert.match(text, /^tidemq_namesrv_brokers\{[^}]*\} 3$/m);
      continue;
    }
    const isLeader = new RegExp(
      `^tidemq_dledger_role\\{[^}]*self_id="${id}"[^}]*role="leader"[^}]*\\} (\\d)$`,
      "m",
    ).exec(text);
    assert.ok(isLeader, `${id}: no role gauge in\n${text.slice(0, 500)}`);
    // The banner's leader is leader on its gauge (a new election between the two reads is not expected here).
    assert.equal(isLeader[1], id === first[1] ? "1" : "0", `${id}'s role gauge`);
  }
  const mark = out.length;
  process.kill(Number(first[3]), "SIGKILL");
  const next = await waitFor(/leader: (n\d) \(pid (\d+)/, 30_000, mark);
  assert.notEqual(next[1], first[1]);
  assert.match(out.slice(mark), new RegExp(`replica ${first[1]} \\(pid ${first[3]}\\) exited \\(SIGKILL\\)`));
  pids.delete(Number(first[3])); // reaped by tidemq dev: its number may now be another process's

  const exited = new Promise<number | null>((r) => dev.once("exit", (code) => r(code)));
  dev.kill("SIGINT");
  assert.equal(await exited, 0);
  pids.delete(dev.pid!);
  for (const p of pidsOf) {
    assert.throws(
      () => process.kill(p, 0),
      /ESRCH/,
      `replica pid ${p} still running after tidemq dev stopped`,
    );
    // Gone: after() must not signal a number the system may hand to another process.
    pids.delete(p);
  }
});
