import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { NameServer } from "@tidemq/namesrv";
import { createRequest, RequestCode, ResponseCode } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { newClient, removeDir, tempDir } from "./helpers.js";

const tidemq = fileURLToPath(new URL("../../../cli/bin/tidemq.js", import.meta.url));
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];

after(async () => {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, "SIGKILL");
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function run(args: string[]) {
  const child = spawn(process.execPath, [tidemq, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn", NAMESRV_ADDR: "" },
  });
  children.push(child);
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d: Buffer) => {
    out.stdout += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    out.stderr += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out, exit };
}

test("tidemq broker -c -n -p: reports unknown keys, prints where it listens, registers, stops cleanly on SIGTERM", async () => {
  const dir = await tempDir("broker-cli");
  cleanups.push(() => removeDir(dir));
  const ns = new NameServer({ port: 0, logger: createLogger("test-ns", "warn") });
  await ns.start();
  cleanups.push(() => ns.stop());
  const client = newClient();
  cleanups.push(() => client.close());
  const conf = join(dir, "broker.conf");
  await writeFile(
    conf,
    `brokerName=broker-cli\nbrokerIP1=127.0.0.1\nstorePathRootDir=${join(dir, "store")}\nmappedFileSizeCommitLog=8388608\nfooBar=1\n`,
  );
  const nsAddr = `127.0.0.1:${ns.port}`;
  const { child, out, exit } = run(["broker", "-c", conf, "-n", nsAddr, "-p", "0"]);
  const deadline = Date.now() + 30_000;
  while (!/listening on/.test(out.stdout) && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = /^Broker broker-cli listening on 127\.0\.0\.1:(\d+), NameServers (.+)$/m.exec(out.stdout);
  assert.ok(m, `stdout: ${out.stdout}\nstderr: ${out.stderr}`);
  assert.equal(m[2], nsAddr);
  assert.match(out.stderr, /unknown config key fooBar in .*broker\.conf/);
  const route = await client.invoke(
    nsAddr,
    createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "broker-cli" }),
  );
  assert.equal(route.code, ResponseCode.SUCCESS);

  process.kill(child.pid!, "SIGTERM");
  assert.equal(await exit, 0, out.stderr);
  const gone = await client.invoke(
    nsAddr,
    createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "broker-cli" }),
  );
  assert.equal(gone.code, ResponseCode.TOPIC_NOT_EXIST);
});

test("an invalid value stops start-up with the key and the value named", async () => {
  const dir = await tempDir("broker-cli-bad");
  cleanups.push(() => removeDir(dir));
  const conf = join(dir, "broker.conf");
  await writeFile(conf, `storePathRootDir=${dir}\nflushDiskType=FOO\n`);
  const { out, exit } = run(["broker", "-c", conf]);
  assert.equal(await exit, 1);
  assert.match(out.stderr, /flushDiskType.*"FOO"/);
});

test("the seed's DLedger broker.conf refuses to start, naming enableDLegerCommitLog; nothing is stored", async () => {
  const dir = await tempDir("broker-cli-dledger");
  cleanups.push(() => removeDir(dir));
  const conf = join(dir, "broker.conf");
  const store = join(dir, "store");
  await writeFile(
    conf,
    [
      "brokerClusterName = RaftCluster",
      "brokerName=RaftNode00",
      "listenPort=0",
      `storePathRootDir=${store}`,
      "enableDLegerCommitLog=true",
      "dLegerGroup=RaftNode00",
      "dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913",
      "dLegerSelfId=n0",
      "",
    ].join("\n"),
  );
  const { out, exit } = run(["broker", "-c", conf]);
  assert.equal(await exit, 1);
  assert.match(out.stderr, /enableDLegerCommitLog=true .*DLedger broker groups are not supported yet/);
  assert.doesNotMatch(out.stdout, /listening on/);
  await assert.rejects(access(store), /ENOENT/);
});
