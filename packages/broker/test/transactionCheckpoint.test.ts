/**
 * The transaction-state checkpoint (config/transactionState.json): its file format, a restart
 * that reads only the records after it, and the full scan it falls back to when the file is
 * damaged or ahead of the log.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createRequest, RequestCode, ResponseCode } from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import { ResolvedHalves } from "../src/transaction/ResolvedHalves.js";
import { decodeCheckpoint, encodeCheckpoint } from "../src/transaction/TransactionCheckpoint.js";
import { createTopicRequest, removeDir, sendRequest, startBroker, tempDir } from "./helpers.js";

test("checkpoint file: round trip, resolved halves as runs, a damaged or foreign file refused", () => {
  const table = new ResolvedHalves(1000);
  for (const [o, s] of [
    [6, "discarded"],
    [0, "committed"],
    [2, "rolledBack"],
    [1, "committed"],
    [5, "committed"],
  ] as const) {
    table.set(o, s);
  }
  const resolved = table.runs();
  const cp = {
    halfScanned: 9,
    opScanned: 12,
    logEnd: 4096,
    pending: [
      {
        info: {
          queueOffset: 3,
          commitLogOffset: 700,
          storeTimestamp: 1_700_000_000_000,
          group: "PG",
          realTopic: "T",
          realQueueId: 2,
          uniqKey: "U3",
          immunityMs: undefined,
        },
        checks: 2,
      },
    ],
    resolved,
  };
  const text = encodeCheckpoint(cp);
  assert.deepEqual(decodeCheckpoint(text), cp);
  const body = JSON.parse(JSON.parse(text).body);
  assert.deepEqual(body.resolved, [
    [0, 2, 0],
    [2, 1, 1],
    [5, 1, 0],
    [6, 1, 2],
  ]);
  assert.throws(() => decodeCheckpoint(text.replace('"halfScanned\\":9', '"halfScanned\\":8')), /checksum/);
  assert.throws(() => decodeCheckpoint("{}"), /not a checkpoint/);
  assert.throws(() => decodeCheckpoint("not json"));
});

async function halfAndEnd(
  client: RemotingClient,
  addr: string,
  n: number,
  from: number,
  decide: (i: number) => number | undefined,
): Promise<Array<{ offset: number; commitLogOffset: number }>> {
  const out = [];
  for (let i = from; i < from + n; i++) {
    const r = await client.invoke(
      addr,
      sendRequest("TxCp", Buffer.from(`m${i}`), {
        queueId: 0,
        properties: { TRAN_MSG: "true", PGROUP: "PG_CP", UNIQ_KEY: `U-cp-${i}` },
      }),
    );
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    const h = {
      offset: Number(r.extFields!.queueOffset),
      commitLogOffset: Number.parseInt(r.extFields!.msgId!.slice(-16), 16),
    };
    out.push(h);
    const d = decide(i);
    if (d === undefined) continue;
    const e = await client.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: "PG_CP",
        tranStateTableOffset: h.offset,
        commitLogOffset: h.commitLogOffset,
        commitOrRollback: d,
        msgId: `U-cp-${i}`,
      }),
    );
    assert.equal(e.code, ResponseCode.SUCCESS, e.remark);
  }
  return out;
}

test("a restart reads only the records after the checkpoint and rebuilds the same state; a damaged or too-new file means a full scan", async () => {
  const dir = await tempDir("tx-cp");
  const settings = { transactionCheckInterval: 60_000, transactionCheckpointInterval: 3_600_000 };
  let broker: BrokerController | undefined = await startBroker(dir, settings);
  const client = new RemotingClient({ requestTimeoutMs: 10_000, logger: createLogger("tx-cp", "error") });
  try {
    let addr = `127.0.0.1:${broker.port}`;
    assert.equal((await client.invoke(addr, createTopicRequest("TxCp", 1))).code, ResponseCode.SUCCESS);
    // 20 halves: i % 4 == 0 committed, 1 rolled back, 2 and 3 pending.
    const decide = (i: number) => (i % 4 === 0 ? 8 : i % 4 === 1 ? 12 : undefined);
    const first = await halfAndEnd(client, addr, 20, 0, decide);
    const service = () => broker!.transactionService!;
    // TRANSACTION_STATUS reads the halves stored since the last scan (so the state is complete).
    const catchUp = async () =>
      assert.equal((await client.invoke(addr, createRequest(9101, {}))).code, ResponseCode.SUCCESS);
    await catchUp();
    assert.equal(await service().checkpoint(), true, "a checkpoint is written");
    assert.equal(await service().checkpoint(), false, "nothing new: nothing written");
    const cpPath = join(dir, "config", "transactionState.json");
    const cp1 = await readFile(cpPath, "utf8");
    // After the checkpoint: a pending half of before is committed, 8 more halves.
    const p2 = first[2]!;
    const late = await client.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: "PG_CP",
        tranStateTableOffset: p2.offset,
        commitLogOffset: p2.commitLogOffset,
        commitOrRollback: 8,
        msgId: "U-cp-2",
      }),
    );
    assert.equal(late.code, ResponseCode.SUCCESS, late.remark);
    const second = await halfAndEnd(client, addr, 8, 20, decide);
    const all = [...first, ...second];
    const statuses = () => all.map((h) => service().status(h.offset).half?.status);
    await catchUp();
    const before = statuses();
    // 28 halves: 7 committed, 7 rolled back, 14 left pending, one of them committed late.
    assert.equal(service().status().pending, 13);
    assert.equal(before.filter((s) => s === "committed").length, 8);
    await broker.shutdown();
    broker = undefined;

    const saved = await readFile(cpPath, "utf8");
    // From the explicit checkpoint: only the 8 later halves and the 5 later op records are read.
    await writeFile(cpPath, cp1);
    broker = await startBroker(dir, settings);
    assert.deepEqual(statuses(), before);
    assert.deepEqual(
      { ...service().status().startup, ms: 0 },
      { fromCheckpoint: true, halvesRead: 8, opsRead: 5, ms: 0 },
    );
    await broker.shutdown();
    // The stop wrote a checkpoint over everything: a restart reads no record.
    assert.equal(decodeCheckpoint(await readFile(cpPath, "utf8")).halfScanned, 28);
    broker = await startBroker(dir, settings);
    addr = `127.0.0.1:${broker.port}`;
    assert.deepEqual(statuses(), before);
    assert.deepEqual(
      { ...service().status().startup, ms: 0 },
      { fromCheckpoint: true, halvesRead: 0, opsRead: 0, ms: 0 },
    );
    await broker.shutdown();
    broker = undefined;

    const oldCp = decodeCheckpoint(saved);
    // Damaged: ignored, full scan, same state.
    await writeFile(cpPath, saved.replace(/"crc":\d+/, '"crc":1'));
    broker = await startBroker(dir, settings);
    assert.deepEqual(statuses(), before);
    assert.deepEqual(
      { ...service().status().startup, ms: 0 },
      { fromCheckpoint: false, halvesRead: 28, opsRead: 15, ms: 0 },
    );
    // A duplicate commit of a committed half stores nothing, also after the restarts.
    addr = `127.0.0.1:${broker.port}`;
    const dup = await client.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: "PG_CP",
        tranStateTableOffset: first[0]!.offset,
        commitLogOffset: first[0]!.commitLogOffset,
        commitOrRollback: 8,
        msgId: "U-cp-0",
      }),
    );
    assert.match(dup.remark ?? "", /already committed; nothing stored/);
    await broker.shutdown();
    broker = undefined;

    // Ahead of the log (a log cut back under it): ignored, full scan.
    await writeFile(cpPath, encodeCheckpoint({ ...oldCp, logEnd: oldCp.logEnd + 1_000_000 }));
    broker = await startBroker(dir, settings);
    assert.deepEqual(statuses(), before);
    assert.equal(service().status().startup?.fromCheckpoint, false);
    assert.equal(
      broker.context.store.getMaxOffsetInQueue("TxCp", 0),
      8,
      "committed once each: 5 + 2 + 1 late",
    );
  } finally {
    await client.close();
    await broker?.shutdown();
    await removeDir(dir);
  }
});
