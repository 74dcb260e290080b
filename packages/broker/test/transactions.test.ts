/**
 * The broker's transaction service over real TCP, with a raw remoting client playing a Java
 * producer: the check-back request (header and body), CHECK_IMMUNITY_TIME_IN_SECONDS, the
 * discard after transactionCheckMax checks, and the state kept across a restart.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createRequest,
  decodeEndTransactionResults,
  decodeMessage,
  decodeMessages,
  type EndTransactionEntry,
  encodeEndTransactionBatch,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  TransactionRequestCode,
} from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import { copyRecord } from "../src/transaction/TransactionRecords.js";
import { createTopicRequest, eventually, removeDir, sendRequest, startBroker, tempDir } from "./helpers.js";

const FAST = { transactionCheckInterval: 100, transactionTimeOut: 200, transactionCheckMax: 2 };

test("check-back to the group's connection, CHECK_IMMUNITY_TIME_IN_SECONDS, discard after transactionCheckMax, kept across a restart", async () => {
  const dir = await tempDir("tx");
  let broker: BrokerController | undefined = await startBroker(dir, FAST);
  const checks: RemotingCommand[] = [];
  let onCheck: (() => void) | undefined;
  const producer = new RemotingClient({
    requestTimeoutMs: 10_000,
    logger: createLogger("tx-producer", "error"),
    onRequest: (req) => {
      if (req.code === RequestCode.CHECK_TRANSACTION_STATE) {
        checks.push(req);
        onCheck?.();
      }
      return undefined;
    },
  });
  try {
    let addr = `127.0.0.1:${broker.port}`;
    assert.equal((await producer.invoke(addr, createTopicRequest("TxReal", 4))).code, ResponseCode.SUCCESS);
    const heartbeat = () =>
      producer.invoke(
        addr,
        createRequest(
          RequestCode.HEART_BEAT,
          undefined,
          Buffer.from(
            JSON.stringify({
              clientID: "10.0.0.9@9",
              producerDataSet: [{ groupName: "PG_TEST" }],
              consumerDataSet: [],
            }),
          ),
        ),
      );
    assert.equal((await heartbeat()).code, ResponseCode.SUCCESS);
    const half = (body: string, extra: Record<string, string> = {}) =>
      producer.invoke(
        addr,
        sendRequest("TxReal", Buffer.from(body), {
          queueId: 3,
          properties: { TRAN_MSG: "true", PGROUP: "PG_TEST", UNIQ_KEY: `U-${body}`, KEYS: body, ...extra },
        }),
      );
    const checked = await half("checked");
    assert.equal(checked.code, ResponseCode.SUCCESS, checked.remark);
    const immune = await half("immune", { CHECK_IMMUNITY_TIME_IN_SECONDS: "3600" });
    assert.equal(immune.code, ResponseCode.SUCCESS);
    const halfOffset = Number(checked.extFields!.queueOffset);

    // Two check-backs, then the discard (the producer never answers).
    const discarded = new Promise<void>((resolve) => {
      onCheck = () => {
        if (checks.length >= 2) resolve();
      };
    });
    await discarded;
    const c = checks[0]!;
    assert.equal(Number(c.extFields!.tranStateTableOffset), halfOffset);
    assert.equal(c.extFields!.msgId, "U-checked");
    const m = decodeMessage(c.body!);
    assert.equal(m.topic, "TxReal", "the check carries the half with its real topic");
    assert.equal(m.queueId, 3);
    assert.equal(m.body.toString(), "checked");
    assert.ok(
      checks.every((x) => Number(x.extFields!.tranStateTableOffset) === halfOffset),
      "the immune half is not checked",
    );
    const service = broker.transactionService!;
    for (let i = 0; i < 200 && service.status(halfOffset).half?.status !== "discarded"; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(service.status(halfOffset).half?.status, "discarded");
    assert.equal(checks.length, 2, "at most transactionCheckMax check-backs");
    const store = broker.context.store;
    assert.equal(
      store.getMaxOffsetInQueue("TRANS_CHECK_MAX_TIME_TOPIC", 0),
      1,
      "moved to TRANS_CHECK_MAX_TIME_TOPIC",
    );
    assert.equal(store.getMaxOffsetInQueue("TxReal", 3), 0, "never delivered");

    // A late commit is refused; the immune half is still pending.
    const commitLogOffset = Number.parseInt(checked.extFields!.msgId!.slice(-16), 16);
    const late = await producer.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: "PG_TEST",
        tranStateTableOffset: halfOffset,
        commitLogOffset,
        commitOrRollback: 8,
        msgId: "U-checked",
      }),
    );
    assert.equal(late.code, ResponseCode.SYSTEM_ERROR);
    assert.match(late.remark ?? "", /discarded.*commit is refused/);
    assert.equal(service.status().pending, 1);

    // Restart: the discard and the pending immune half are rebuilt from the log.
    await broker.shutdown();
    broker = await startBroker(dir, FAST);
    addr = `127.0.0.1:${broker.port}`;
    const after = broker.transactionService!.status(halfOffset);
    assert.equal(after.half?.status, "discarded");
    assert.equal(after.pending, 1);
    assert.equal(broker.context.store.getMaxOffsetInQueue("TxReal", 3), 0);
  } finally {
    onCheck = undefined;
    await producer.close();
    await broker?.shutdown();
    await removeDir(dir);
  }
});

test("a commit torn by power loss (real-topic copy on disk, op record not) is found at start-up and never delivered twice", async () => {
  const dir = await tempDir("tx-torn");
  let broker: BrokerController | undefined = await startBroker(dir, FAST);
  const client = new RemotingClient({ requestTimeoutMs: 10_000, logger: createLogger("tx-torn", "error") });
  try {
    let addr = `127.0.0.1:${broker.port}`;
    assert.equal((await client.invoke(addr, createTopicRequest("TxTorn", 1))).code, ResponseCode.SUCCESS);
    const sent = await client.invoke(
      addr,
      sendRequest("TxTorn", Buffer.from("torn"), {
        queueId: 0,
        properties: { TRAN_MSG: "true", PGROUP: "PG_TEST", UNIQ_KEY: "U-torn", KEYS: "torn" },
      }),
    );
    assert.equal(sent.code, ResponseCode.SUCCESS, sent.remark);
    const halfOffset = Number(sent.extFields!.queueOffset);
    const commitLogOffset = Number.parseInt(sent.extFields!.msgId!.slice(-16), 16);
    // What a commit leaves when power fails between its two records: the copy alone.
    const rec = await broker.context.store.lookMessageByOffset(commitLogOffset);
    const half = decodeMessage(rec!);
    await broker.context.store.putMessage(copyRecord(half, "commit"));
    assert.equal(broker.context.store.getMaxOffsetInQueue("TxTorn", 0), 1);
    await broker.shutdown();

    broker = await startBroker(dir, FAST);
    addr = `127.0.0.1:${broker.port}`;
    const s = broker.transactionService!.status(halfOffset);
    assert.equal(s.half?.status, "committed", "the copy found by UNIQ_KEY counts as the commit");
    assert.equal(s.pending, 0, "nothing left to check back");
    const again = await client.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: "PG_TEST",
        tranStateTableOffset: halfOffset,
        commitLogOffset,
        commitOrRollback: 8,
        msgId: "U-torn",
      }),
    );
    assert.equal(again.code, ResponseCode.SUCCESS);
    assert.match(again.remark ?? "", /already committed/);
    assert.equal(broker.context.store.getMaxOffsetInQueue("TxTorn", 0), 1, "still one record in the topic");
    // The missing op record was written at start-up: a further restart needs no look-up.
    assert.equal(broker.context.store.getMaxOffsetInQueue("RMQ_SYS_TRANS_OP_HALF_TOPIC", 0), 1);
  } finally {
    await client.close();
    await broker?.shutdown();
    await removeDir(dir);
  }
});

test("END_TRANSACTION_BATCH decides each half as its own END_TRANSACTION and answers one result per entry", async () => {
  const dir = await tempDir("tx-batch");
  const broker = await startBroker(dir, { transactionCheckInterval: 60_000 });
  const client = new RemotingClient({ requestTimeoutMs: 10_000, logger: createLogger("tx-batch", "error") });
  try {
    const addr = `127.0.0.1:${broker.port}`;
    assert.equal((await client.invoke(addr, createTopicRequest("TxBatch", 1))).code, ResponseCode.SUCCESS);
    const halves: Array<{ tranStateTableOffset: number; commitLogOffset: number }> = [];
    for (let i = 0; i < 4; i++) {
      const r = await client.invoke(
        addr,
        sendRequest("TxBatch", Buffer.from(`b${i}`), {
          queueId: 0,
          properties: { TRAN_MSG: "true", PGROUP: "PG_BATCH", UNIQ_KEY: `U-b${i}` },
        }),
      );
      assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
      halves.push({
        tranStateTableOffset: Number(r.extFields!.queueOffset),
        commitLogOffset: Number.parseInt(r.extFields!.msgId!.slice(-16), 16),
      });
    }
    const batch = (group: string, entries: EndTransactionEntry[]) =>
      client.invoke(
        addr,
        createRequest(
          TransactionRequestCode.END_TRANSACTION_BATCH,
          { producerGroup: group, fromTransactionCheck: false },
          encodeEndTransactionBatch(entries),
        ),
      );
    const [h0, h1, h2, h3] = halves as [
      (typeof halves)[0],
      (typeof halves)[0],
      (typeof halves)[0],
      (typeof halves)[0],
    ];
    const res = await batch("PG_BATCH", [
      { ...h0, commitOrRollback: 8 },
      { ...h1, commitOrRollback: 12 },
      { ...h0, commitOrRollback: 12 }, // contradicts the commit in the same batch
      { tranStateTableOffset: 999, commitLogOffset: h2.commitLogOffset, commitOrRollback: 8 },
      { ...h2, commitOrRollback: 3 },
      { ...h3, commitOrRollback: 8 },
      { ...h3, commitOrRollback: 8 }, // the same decision twice
    ]);
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    const results = decodeEndTransactionResults(res.body, 7);
    assert.deepEqual(results[0], { code: ResponseCode.SUCCESS });
    assert.deepEqual(results[1], { code: ResponseCode.SUCCESS });
    assert.equal(results[2]!.code, ResponseCode.SYSTEM_ERROR);
    assert.match(results[2]!.remark!, /already (being )?committed.*rollback is refused/);
    assert.equal(results[3]!.code, ResponseCode.SYSTEM_ERROR);
    assert.match(results[3]!.remark!, /Find prepared transaction message failed/);
    assert.match(results[4]!.remark!, /commitOrRollback 3 is not/);
    assert.equal(results[5]!.code, ResponseCode.SUCCESS);
    assert.equal(results[6]!.code, ResponseCode.SUCCESS);
    assert.match(results[6]!.remark ?? "", /already (being )?committed; nothing stored/);
    const store = broker.context.store;
    assert.equal(store.getMaxOffsetInQueue("TxBatch", 0), 2, "h0 and h3 committed once each");
    const service = broker.transactionService!;
    assert.equal(service.status(h1.tranStateTableOffset).half?.status, "rolledBack");
    // Another group's commit of a pending half is refused, per entry.
    const wrong = await batch("PG_OTHER", [
      { ...h2, commitOrRollback: 8 },
      { ...h0, commitOrRollback: 8 },
    ]);
    const w = decodeEndTransactionResults(wrong.body, 2);
    assert.match(w[0]!.remark!, /producer group wrong/);
    assert.equal(
      w[1]!.code,
      ResponseCode.SUCCESS,
      "a resolved half answers as a duplicate END_TRANSACTION does",
    );
    assert.equal(store.getMaxOffsetInQueue("TxBatch", 0), 2);
    assert.equal(service.status(h2.tranStateTableOffset).half?.status, "pending");
    // A malformed body is refused whole; the broker keeps serving.
    const bad = await client.invoke(
      addr,
      createRequest(
        TransactionRequestCode.END_TRANSACTION_BATCH,
        { producerGroup: "PG_BATCH" },
        Buffer.alloc(5),
      ),
    );
    assert.equal(bad.code, ResponseCode.SYSTEM_ERROR);
    assert.match(bad.remark ?? "", /not a whole number/);
    assert.equal(service.status().pending, 1);
  } finally {
    await client.close();
    await broker.shutdown();
    await removeDir(dir);
  }
});

test("oneway END_TRANSACTIONs arriving together (as a Java producer sends them) share one append and one op record per kind; a restart reads them back", async () => {
  const dir = await tempDir("tx-oneway");
  const settings = { transactionCheckInterval: 60_000, transactionCheckpointInterval: 0 };
  let broker = await startBroker(dir, settings);
  const client = new RemotingClient({ requestTimeoutMs: 10_000, logger: createLogger("tx-oneway", "error") });
  try {
    let addr = `127.0.0.1:${broker.port}`;
    assert.equal((await client.invoke(addr, createTopicRequest("TxOneway", 1))).code, ResponseCode.SUCCESS);
    const N = 30;
    const halves = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const r = await client.invoke(
          addr,
          sendRequest("TxOneway", Buffer.from(`o${i}`), {
            queueId: 0,
            properties: { TRAN_MSG: "true", PGROUP: "PG_ONEWAY", UNIQ_KEY: `U-o${i}` },
          }),
        );
        assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
        return {
          i,
          queueOffset: Number(r.extFields!.queueOffset),
          commitLogOffset: Number.parseInt(r.extFields!.msgId!.slice(-16), 16),
        };
      }),
    );
    const opQueue = () => broker.context.store.getMaxOffsetInQueue("RMQ_SYS_TRANS_OP_HALF_TOPIC", 0);
    assert.equal(opQueue(), 0);
    // All written in one turn (one socket write): even ones committed, odd ones rolled back.
    await Promise.all(
      halves.map((h) =>
        client.invokeOneway(
          addr,
          createRequest(RequestCode.END_TRANSACTION, {
            producerGroup: "PG_ONEWAY",
            tranStateTableOffset: h.queueOffset,
            commitLogOffset: h.commitLogOffset,
            commitOrRollback: h.i % 2 === 0 ? 8 : 12,
            msgId: `U-o${h.i}`,
            fromTransactionCheck: false,
          }),
        ),
      ),
    );
    const decided = () =>
      halves.every((h) => {
        const st = broker.transactionService!.status(h.queueOffset).half?.status;
        return st === "committed" || st === "rolledBack";
      });
    await eventually(decided, "every half decided", 10_000);
    const store = broker.context.store;
    assert.equal(store.getMaxOffsetInQueue("TxOneway", 0), N / 2, "one copy per commit");
    // One op record per decision before; now the decisions that arrived together share them.
    assert.ok(opQueue() < N, `${opQueue()} op records for ${N} decisions`);
    const ops = await store.getMessage("RMQ_SYS_TRANS_OP_HALF_TOPIC", 0, 0, 64);
    assert.equal(ops.status, "FOUND");
    const bodies = decodeMessages(ops.body).map((m) => m.body.toString());
    assert.ok(
      bodies.some((b) => b.includes(",")),
      `an op record names several halves: ${JSON.stringify(bodies)}`,
    );

    // A restart without a checkpoint rebuilds every decision from the batched op records.
    await broker.shutdown();
    broker = await startBroker(dir, settings);
    addr = `127.0.0.1:${broker.port}`;
    const service = broker.transactionService!;
    assert.equal(service.status().pending, 0);
    assert.equal(service.status().startup?.opsRead, opQueue());
    for (const h of halves) {
      assert.equal(service.status(h.queueOffset).half?.status, h.i % 2 === 0 ? "committed" : "rolledBack");
    }
    assert.equal(broker.context.store.getMaxOffsetInQueue("TxOneway", 0), N / 2);
  } finally {
    await client.close();
    await broker.shutdown();
    await removeDir(dir);
  }
});
