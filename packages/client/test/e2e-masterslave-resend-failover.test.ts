import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NameServer } from "@tidemq/namesrv";
import { createRequest, type RemotingCommand, RequestCode, ResponseCode } from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import { Admin } from "../src/index.js";
import { testLogger, uniq, until } from "./cluster.js";
import { keyedSend, sendAnswer } from "./keyedSend.js";

/*
 * Producer de-duplication across a classic failover (duplicateDetectionEnable on master and
 * slave): messages the slave received by replication after its start are in its log, not in
 * the window it loaded at that start. The master dies (kill -9); the operator promotes the
 * slave — stops it and starts it on the same store as ASYNC_MASTER, brokerId 0 — and the
 * producers' resends of messages the old master acknowledged reach it. Each must get the
 * original answer and store nothing (the promoted broker loads its window from its log at
 * start, the records it got by replication included).
 */

const script = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "ha-broker-child.js");

interface Child {
  child: ChildProcess;
  addr: string;
}

function startBroker(root: string, id: number, role: string, nsAddr: string): Promise<Child> {
  const overrides = {
    brokerName: "rs-broker",
    brokerId: id,
    brokerRole: role,
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    namesrvAddr: nsAddr,
    storePathRootDir: root,
    storePathCommitLog: join(root, "commitlog"),
    mappedFileSizeCommitLog: 8 * 1024 * 1024,
    haSendHeartbeatInterval: 500,
    duplicateDetectionEnable: true,
  };
  const child = spawn(process.execPath, [script, JSON.stringify(overrides)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TIDEMQ_LOG_LEVEL: "error" },
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`broker ${id} did not start in 30 s`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+) (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, addr: m[1]! });
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`broker ${id} exited (${code ?? signal}) before READY: ${err.slice(-2000)}`));
    });
  });
}

async function kill9(c: Child | undefined): Promise<void> {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.child.once("exit", () => r()));
  process.kill(c.child.pid!, "SIGKILL");
  await gone;
}

const send = (topic: string, uniqKey: string) => keyedSend("PG_MS_RESEND", topic, uniqKey);
const answer = sendAnswer;

test("a slave promoted after kill -9 of its master answers resends of what the old master acknowledged with the original result and stores nothing", {
  timeout: 120_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-ms-resend-"));
  const namesrv = new NameServer({ port: 0, host: "127.0.0.1", logger: testLogger("namesrv") });
  await namesrv.start();
  const nsAddr = `127.0.0.1:${namesrv.port}`;
  const admin = new Admin({ endpoints: nsAddr, logger: testLogger("admin") });
  const client = new RemotingClient({
    requestTimeoutMs: 30_000,
    logger: createLogger("test-client", "error"),
  });
  const topic = uniq("MSRS");
  const mq = { topic, brokerName: "rs-broker", queueId: 0 };
  let master: Child | undefined;
  let slave: Child | undefined;
  let promoted: Child | undefined;
  try {
    master = await startBroker(join(dir, "m"), 0, "ASYNC_MASTER", nsAddr);
    // The slave starts with an empty log: everything it holds comes by replication after its start.
    slave = await startBroker(join(dir, "s"), 1, "SLAVE", nsAddr);
    const m = master;
    const s = slave;
    await admin.createTopic({ topic, brokerAddr: m.addr, readQueueNums: 4, writeQueueNums: 4 });
    const keys = [
      "7F0000010001000000000000000B0001",
      "7F0000010001000000000000000B0002",
      "7F0000010001000000000000000B0003",
    ];
    const firsts: RemotingCommand[] = [];
    for (const key of keys) {
      const r = await client.invoke(m.addr, send(topic, key));
      assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
      firsts.push(r);
    }
    await until(
      async () => (await admin.getMaxOffset(s.addr, mq)) === keys.length,
      30_000,
      "the slave holding the three messages",
    );
    // Its topic table comes by metadata sync (every 10 s): wait for it, the promoted broker needs the topic.
    await until(
      async () => {
        const r = await client.invoke(s.addr, createRequest(RequestCode.GET_ALL_TOPIC_CONFIG, {}));
        return r.code === ResponseCode.SUCCESS && (r.body?.toString() ?? "").includes(topic);
      },
      30_000,
      "the slave's topic table holding the topic",
    );

    await kill9(m);
    await kill9(s);
    promoted = await startBroker(join(dir, "s"), 0, "ASYNC_MASTER", nsAddr);
    const p = promoted;
    assert.equal(await admin.getMaxOffset(p.addr, mq), keys.length);

    for (let i = 0; i < keys.length; i++) {
      const resend = await client.invoke(p.addr, send(topic, keys[i]!));
      assert.deepEqual(answer(resend), answer(firsts[i]!), `resend ${i}: ${resend.remark}`);
    }
    assert.equal(await admin.getMaxOffset(p.addr, mq), keys.length, "a resend was stored again");
    const fresh = await client.invoke(p.addr, send(topic, "7F0000010001000000000000000B0004"));
    assert.equal(fresh.code, ResponseCode.SUCCESS, fresh.remark);
    assert.equal(fresh.extFields?.queueOffset, String(keys.length));
  } finally {
    await client.close();
    await admin.shutdown();
    await kill9(master);
    await kill9(slave);
    await kill9(promoted);
    await namesrv.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
