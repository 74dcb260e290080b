/**
 * Transactions across a power cut (lossyfs: every write not fsynced is dropped): a child
 * broker holds committed, rolled-back and pending halves, some decided before the transaction
 * checkpoint was written, some after it; it is killed with SIGKILL, the power is cut, it
 * restarts on what reached the disk. Then every half is resolved exactly as decided or is
 * checked back: no committed half delivered twice, no rolled-back one delivered, no resolved
 * one checked again. SYNC_FLUSH: exactly the pending ones are checked back and every
 * acknowledged commit is delivered once. ASYNC_FLUSH: acknowledged records of the last flush
 * interval may be lost (README, Durability), but the checkpoint never claims more than the
 * log kept. Skipped with the reason where FUSE/lossyfs is unavailable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import {
  createRequest,
  decodeMessages,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import { type ChildBroker, kill9, killAllChildren, spawnBroker } from "./childBroker.js";
import { cleanupsAfterAll, createTopicRequest, eventually, pullRequest, sendRequest } from "./helpers.js";
import { lossyfsPython, mountLossyfs, powerCut, unmountLossyfs } from "./lossyfs.js";

const cleanups = cleanupsAfterAll();
const TOPIC = "TxPower";
const GROUP = "PG_POWER";

type Fate = "commit" | "rollback" | "pending";

interface Half {
  key: string;
  queueOffset: number;
  commitLogOffset: number;
  fate: Fate;
  /** The END_TRANSACTION was acknowledged. */
  acked: boolean;
  /** Decided before a checkpoint covering it was on disk. */
  beforeCheckpoint: boolean;
}

async function runRound(
  t: import("node:test").TestContext,
  mode: "SYNC_FLUSH" | "ASYNC_FLUSH",
): Promise<void> {
  const tool = await lossyfsPython();
  if ("unavailable" in tool) {
    t.skip(`lossyfs unavailable: ${tool.unavailable}`);
    return;
  }
  const m = await mountLossyfs(tool.python);
  cleanups.push(() => unmountLossyfs(m));
  const storeDir = join(m.dir, "store");
  const base = {
    brokerName: "broker-power",
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    storePathRootDir: storeDir,
    storePathCommitLog: join(storeDir, "commitlog"),
    mappedFileSizeCommitLog: 1024 * 1024,
    maxMessageSize: 64 * 1024,
    flushDiskType: mode,
    flushIntervalCommitLog: 200,
    transactionCheckpointInterval: 100,
    transactionCheckMax: 1000,
  };
  const checks: RemotingCommand[] = [];
  const producer = new RemotingClient({
    requestTimeoutMs: 15_000,
    logger: createLogger("tx-power", "error"),
    onRequest: (req) => {
      if (req.code === RequestCode.CHECK_TRANSACTION_STATE) checks.push(req);
      return undefined;
    },
  });
  cleanups.push(async () => {
    await producer.close();
    await killAllChildren();
  });
  const ok = (r: RemotingCommand, what: string) => {
    assert.equal(r.code, ResponseCode.SUCCESS, `${what}: ${r.remark}`);
    return r;
  };
  const heartbeat = (addr: string) =>
    producer.invoke(
      addr,
      createRequest(
        RequestCode.HEART_BEAT,
        undefined,
        Buffer.from(
          JSON.stringify({
            clientID: "10.0.0.7@7",
            producerDataSet: [{ groupName: GROUP }],
            consumerDataSet: [],
          }),
        ),
      ),
    );
  const end = (addr: string, h: Half, how: "commit" | "rollback", fromCheck = false) =>
    producer.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: GROUP,
        tranStateTableOffset: h.queueOffset,
        commitLogOffset: h.commitLogOffset,
        commitOrRollback: how === "commit" ? 8 : 12,
        fromTransactionCheck: fromCheck,
        msgId: h.key,
      }),
    );

  // 1. A broker on lossyfs; halves decided before a checkpoint is on disk, then more after it.
  // Halves are immune to check-backs (transactionTimeOut) so that only the restart checks.
  let b: ChildBroker = await spawnBroker({
    ...base,
    transactionCheckInterval: 100,
    transactionTimeOut: 600_000,
  });
  ok(await heartbeat(b.addr), "heartbeat");
  ok(await producer.invoke(b.addr, createTopicRequest(TOPIC, 1)), "create topic");
  const halves: Half[] = [];
  const sendHalves = async (prefix: string, n: number) => {
    const out: Half[] = [];
    for (let i = 0; i < n; i++) {
      const key = `${prefix}${i}`;
      const r = ok(
        await producer.invoke(
          b.addr,
          sendRequest(TOPIC, Buffer.from(key), {
            properties: { TRAN_MSG: "true", PGROUP: GROUP, UNIQ_KEY: key, KEYS: key },
          }),
        ),
        `half ${key}`,
      );
      const h: Half = {
        key,
        queueOffset: Number(r.extFields!.queueOffset),
        commitLogOffset: Number.parseInt(r.extFields!.msgId!.slice(-16), 16),
        fate: "pending",
        acked: false,
        beforeCheckpoint: false,
      };
      out.push(h);
      halves.push(h);
    }
    return out;
  };
  const decide = async (hs: Half[], how: "commit" | "rollback") => {
    for (const h of hs) {
      h.fate = how;
      ok(await end(b.addr, h, how), `${how} ${h.key}`);
      h.acked = true;
    }
  };
  const a = await sendHalves("A", 12);
  await decide(a.slice(0, 4), "commit");
  await decide(a.slice(4, 8), "rollback");
  // The checkpoint covers A (its file is rewritten every 100 ms while something changed).
  const { readCheckpoint } = await import("../src/transaction/TransactionCheckpoint.js");
  const cpPath = join(storeDir, "config", "transactionState.json");
  await eventually(
    async () => {
      const cp = await readCheckpoint(cpPath).catch(() => undefined);
      return cp !== undefined && cp.halfScanned >= 12 && cp.opScanned >= 8;
    },
    "a checkpoint covering the first halves and decisions",
    20_000,
  );
  for (const h of a) h.beforeCheckpoint = h.fate !== "pending";
  // After it: two of A's pending halves are committed, more halves come and are decided.
  await decide(a.slice(8, 10), "commit");
  const bHalves = await sendHalves("B", 12);
  await decide(bHalves.slice(0, 4), "commit");
  await decide(bHalves.slice(4, 8), "rollback");

  // 2. kill -9, power cut, restart on what reached the disk; halves due for check-back at once.
  await kill9(b.child);
  const dropped = await powerCut(m);
  t.diagnostic(`${mode}: ${dropped} unsynced bytes dropped by the power cut`);
  b = await spawnBroker({ ...base, transactionCheckInterval: 100, transactionTimeOut: 0 });
  ok(await heartbeat(b.addr), "heartbeat after restart");

  const pendingKeys = halves.filter((h) => h.fate === "pending").map((h) => h.key);
  const checkedKeys = () =>
    new Set(checks.map((c) => c.extFields?.transactionId ?? c.extFields?.msgId ?? ""));
  if (mode === "SYNC_FLUSH") {
    // Every acknowledged decision survived: exactly the undecided halves are checked back.
    await eventually(
      () => pendingKeys.every((k) => checkedKeys().has(k)),
      "check-backs of the pending halves",
      20_000,
    );
    assert.deepEqual([...checkedKeys()].sort(), [...pendingKeys].sort(), "no decided half is checked back");
  } else {
    // What the checkpoint covered is on disk: A's undecided halves are checked back, A's
    // decided ones are not. (B's records may be gone with the last flush interval.)
    const aPending = a.filter((h) => h.fate === "pending").map((h) => h.key);
    await eventually(
      () => aPending.every((k) => checkedKeys().has(k)),
      "check-backs of A's pending halves",
      20_000,
    );
    for (const h of a.filter((x) => x.beforeCheckpoint)) {
      assert.ok(
        !checkedKeys().has(h.key),
        `${h.key} was decided before the checkpoint and is not checked back`,
      );
    }
  }

  // 3. Answer every check-back as the producer's local transactions ended (pending → commit).
  const byKey = new Map(halves.map((h) => [h.key, h]));
  const answered = new Set<string>();
  for (const c of checks) {
    const key = c.extFields?.transactionId ?? "";
    const h = byKey.get(key);
    if (!h || answered.has(key)) continue;
    answered.add(key);
    const how = h.fate === "rollback" ? "rollback" : "commit";
    // A check-back names the half by its queue and log offsets as stored.
    const r = await end(
      b.addr,
      {
        ...h,
        queueOffset: Number(c.extFields!.tranStateTableOffset),
        commitLogOffset: Number(c.extFields!.commitLogOffset),
      },
      how,
      true,
    );
    ok(r, `answer to the check-back of ${key}`);
  }

  // 4. The real topic: each committed half once, no rolled-back one.
  const shouldDeliver = new Set(halves.filter((h) => h.fate !== "rollback").map((h) => h.key));
  const mustDeliver =
    mode === "SYNC_FLUSH"
      ? shouldDeliver
      : new Set(
          [...answered]
            .filter((k) => byKey.get(k)!.fate !== "rollback")
            .concat(a.filter((h) => h.beforeCheckpoint && h.fate === "commit").map((h) => h.key)),
        );
  let delivered: string[] = [];
  await eventually(
    async () => {
      const r = await producer.invoke(b.addr, pullRequest(TOPIC, 0, 0, { maxMsgNums: 100 }));
      delivered =
        r.code === ResponseCode.SUCCESS && r.body ? decodeMessages(r.body).map((x) => x.body.toString()) : [];
      return [...mustDeliver].every((k) => delivered.includes(k));
    },
    "the committed halves in the real topic",
    20_000,
  );
  assert.equal(new Set(delivered).size, delivered.length, `no half delivered twice: ${delivered.join(",")}`);
  for (const k of delivered) assert.ok(shouldDeliver.has(k), `${k} was rolled back and is never delivered`);
  t.diagnostic(
    `${mode}: ${delivered.length} delivered, ${checkedKeys().size} checked back after the power cut`,
  );
  await kill9(b.child);
}

test("SYNC_FLUSH power cut: committed halves delivered once, rolled back never, pending ones checked back", async (t) => {
  await runRound(t, "SYNC_FLUSH");
});

test("ASYNC_FLUSH power cut: the transaction checkpoint never claims more than the log kept", async (t) => {
  await runRound(t, "ASYNC_FLUSH");
});
