/**
 * A transaction half's first attempt belongs to the producer's HalfBatcher, and its commit to
 * the transaction's one promise; over a real NameServer and brokers (whose handlers the tests
 * wrap to refuse on cue), what SendCore promised for halves still holds:
 * - a SEND_HALF_BATCH refused as a whole: every half goes on in the retry loop (attempt 2 of
 *   3), again together in one SEND_HALF_BATCH, each stored once;
 * - one half refused inside a batch: that half alone is retried, the others are stored by the
 *   first batch;
 * - a transaction with halves on two brokers: commit ends both and resolves once; a refusal
 *   from one broker rejects the commit with that broker's error while the other broker's half
 *   is committed, and the refused half is settled by the check-back.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  createResponse,
  decodeHalfBatch,
  decodeHalfBatchResults,
  encodeHalfBatch,
  encodeHalfBatchResults,
  RequestCode,
  ResponseCode,
  TransactionRequestCode,
} from "@tidemq/protocol";
import type { Logger, RequestHandler } from "@tidemq/remoting";
import { Admin, BrokerError, Producer, TransactionResolution, transactionStatus } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";
import { type Recorder, startRecorder } from "./recorder.js";

const clusters: TestCluster[] = [];
const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  for (const c of clusters) await c.stop();
});

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (msg: string) => lines.push(`${level} ${msg}`);
  return { lines, debug() {}, info: add("INFO"), warn: add("WARN"), error: add("ERROR") };
}

/** A Recorder of `topic`, stopped in after(). */
async function recorder(nsAddr: string, topic: string): Promise<Recorder> {
  const r = await startRecorder(nsAddr, topic, { groupPrefix: "FaC", fromFirstOffset: true });
  stops.push(() => r.stop());
  return r;
}

async function setUp(brokers: string[], queues: number) {
  const c = await TestCluster.start(brokers, {
    transactionCheckInterval: 200,
    transactionTimeOut: 500,
    transactionCheckMax: 1000,
  });
  clusters.push(c);
  const topic = uniq("FirstAttempt");
  await c.createTopic(topic, queues);
  const log = recordingLogger();
  const checked: string[] = [];
  const producer = new Producer({
    endpoints: c.nsAddr,
    producerGroup: uniq("FaP"),
    logger: log,
    retryTimesWhenSendFailed: 2,
    ...FAST,
    checker: {
      check: (view) => {
        checked.push(view.messageId);
        return TransactionResolution.COMMIT;
      },
    },
  });
  await producer.startup();
  stops.push(() => producer.shutdown());
  // The route is known from here on: halves take the batcher's first attempt.
  await producer.send({ topic, body: "route" });
  const admin = new Admin({ endpoints: c.nsAddr, logger: testLogger("admin") });
  stops.push(() => admin.shutdown());
  const pending = async (addr: string) =>
    (await transactionStatus(admin, addr)).byGroup[producer.producerGroup] ?? 0;
  return { c, topic, producer, log, checked, pending };
}

/** Wraps `code`'s handler on a broker: `wrap` gets the request and the original handler. */
function wrapHandler(
  c: TestCluster,
  broker: string,
  code: number,
  wrap: (orig: RequestHandler) => RequestHandler,
): () => void {
  const server = c.brokers.get(broker)!.context.server;
  const orig = server.handlerFor(code)!;
  server.registerHandler(code, wrap(orig));
  return () => server.registerHandler(code, orig);
}

test("a SEND_HALF_BATCH refused as a whole: every half goes on in the retry loop, again in one SEND_HALF_BATCH, each stored once and delivered once", async () => {
  const { c, topic, producer, log, pending } = await setUp(["broker-a"], 2);
  const addr = c.brokers.get("broker-a")!.brokerAddr;
  const batches: number[] = [];
  wrapHandler(c, "broker-a", TransactionRequestCode.SEND_HALF_BATCH, (orig) => (req, conn) => {
    batches.push(decodeHalfBatch(req.body).length);
    if (batches.length === 1) return createResponse(req, ResponseCode.SYSTEM_ERROR, "refused by the test");
    return orig(req, conn);
  });
  const r = await recorder(c.nsAddr, topic);
  const N = 12;
  const txs = Array.from({ length: N }, () => producer.beginTransaction());
  const receipts = await Promise.all(txs.map((tx, i) => producer.send({ topic, body: `h${i}` }, tx)));
  assert.deepEqual(batches, [N, N], "the refused batch, then its halves' retries together in one batch");
  assert.equal(
    log.lines.filter((l) => /refused by the test.*\(attempt 2 of 3\)/.test(l)).length,
    N,
    "each half's retry is logged as attempt 2 of 3",
  );
  assert.equal(new Set(receipts.map((x) => x.queueOffset + x.messageQueue.queueId * 1e6)).size, N);
  for (const [i, x] of receipts.entries()) {
    assert.equal(x.transactionId, x.messageId);
    assert.equal(x.brokerAddr, addr);
    assert.equal(txs[i]!.size, 1, "each half recorded once in its transaction");
  }
  assert.equal(await pending(addr), N, "each half stored once");
  await Promise.all(txs.map((tx) => tx.commit()));
  assert.equal(await pending(addr), 0);
  await waitFor(() => receipts.every((x) => r.got.has(x.messageId)), 20_000, "the committed halves");
  assert.equal(r.dups(), 0);
  assert.equal(r.got.size, N + 1, "the halves and the route message, nothing else");
});

test("one half refused inside a batch: that half alone is retried and stored once, the others by the first batch", async () => {
  const { c, topic, producer, log, pending } = await setUp(["broker-a"], 2);
  const addr = c.brokers.get("broker-a")!.brokerAddr;
  const batches: number[] = [];
  let singles = 0;
  wrapHandler(c, "broker-a", TransactionRequestCode.SEND_HALF_BATCH, (orig) => async (req, conn) => {
    const entries = decodeHalfBatch(req.body);
    batches.push(entries.length);
    if (batches.length > 1) return orig(req, conn);
    // The broker never sees entry 3; its answer says SYSTEM_ERROR (a retriable refusal).
    req.body = encodeHalfBatch(entries.filter((_, i) => i !== 3));
    const res = await orig(req, conn);
    const results = decodeHalfBatchResults(res!.body, entries.length - 1);
    results.splice(3, 0, { code: ResponseCode.SYSTEM_ERROR, remark: "entry 3 refused by the test" });
    res!.body = encodeHalfBatchResults(results);
    return res;
  });
  wrapHandler(c, "broker-a", RequestCode.SEND_MESSAGE_V2, (orig) => (req, conn) => {
    if (req.extFields?.f === "4") singles++; // a half (PREPARED) sent alone
    return orig(req, conn);
  });
  const N = 8;
  const txs = Array.from({ length: N }, () => producer.beginTransaction());
  const receipts = await Promise.all(txs.map((tx, i) => producer.send({ topic, body: `h${i}` }, tx)));
  assert.deepEqual(batches, [N], "one batch; the lone retry goes as SEND_MESSAGE_V2");
  assert.equal(singles, 1);
  assert.equal(log.lines.filter((l) => /entry 3 refused by the test.*\(attempt 2 of 3\)/.test(l)).length, 1);
  assert.equal(new Set(receipts.map((x) => `${x.messageQueue.queueId}/${x.queueOffset}`)).size, N);
  assert.equal(await pending(addr), N, "each half stored once");
  await Promise.all(txs.map((tx) => tx.rollback()));
  assert.equal(await pending(addr), 0);
});

test("a transaction with halves on two brokers: commit ends both; a refusal by one broker rejects the commit with its error, the other half is committed and the check-back settles the refused one", async () => {
  const { c, topic, producer, checked, pending } = await setUp(["broker-a", "broker-b"], 1);
  const addrA = c.brokers.get("broker-a")!.brokerAddr;
  const addrB = c.brokers.get("broker-b")!.brokerAddr;
  const r = await recorder(c.nsAddr, topic);
  /** A transaction with halves sent in one turn until both brokers hold one (round robin). */
  const spread = async () => {
    const tx = producer.beginTransaction();
    const receipts = await Promise.all(
      Array.from({ length: 4 }, (_, i) => producer.send({ topic, body: `s${i}` }, tx)),
    );
    assert.equal(tx.size, 4);
    assert.deepEqual(new Set(receipts.map((x) => x.brokerAddr)), new Set([addrA, addrB]));
    return { tx, receipts };
  };
  const one = await spread();
  await one.tx.commit();
  assert.equal(await pending(addrA), 0);
  assert.equal(await pending(addrB), 0);
  await waitFor(() => one.receipts.every((x) => r.got.has(x.messageId)), 20_000, "the committed halves");

  const restore = wrapHandler(
    c,
    "broker-b",
    TransactionRequestCode.END_TRANSACTION_BATCH,
    () => (req) => createResponse(req, ResponseCode.SYSTEM_ERROR, "commit refused by broker-b"),
  );
  const two = await spread();
  await assert.rejects(
    two.tx.commit(),
    (err: unknown) => err instanceof BrokerError && /commit refused by broker-b/.test(err.message),
  );
  restore();
  const onA = two.receipts.filter((x) => x.brokerAddr === addrA);
  const onB = two.receipts.filter((x) => x.brokerAddr === addrB);
  await waitFor(() => onA.every((x) => r.got.has(x.messageId)), 20_000, "broker-a's halves, committed");
  // broker-b never heard of the commit: it asks the producer group's checker (COMMIT).
  await waitFor(() => onB.every((x) => r.got.has(x.messageId)), 20_000, "broker-b's halves, by check-back");
  assert.ok(
    onB.every((x) => checked.includes(x.messageId)),
    "broker-b's halves were checked back",
  );
  assert.ok(!onA.some((x) => checked.includes(x.messageId)), "broker-a's were not");
  assert.equal(r.dups(), 0);
});
