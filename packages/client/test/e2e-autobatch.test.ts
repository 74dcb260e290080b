import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { RequestCode } from "@tidemq/protocol";
import {
  BrokerError,
  type MessageQueue,
  type MessageView,
  type MQClientInstance,
  Producer,
  PullConsumer,
  type SendReceipt,
} from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  // maxMessageSize 64 KiB: a lone message passes, a big enough batch is refused (see below).
  cluster = await TestCluster.start(["broker-a"], { maxMessageSize: 64 * 1024 });
});
after(async () => {
  await cluster?.stop();
});

function producer(extra: object = {}): Producer {
  return new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST, ...extra });
}

/** Counts the send requests the producer puts on its (real) transport, by request code. */
function countRequests(p: Producer): Map<number, number> {
  const instance = (p as unknown as { instance: MQClientInstance }).instance;
  const transport = instance.api.transport;
  const invoke = transport.invoke.bind(transport);
  const counts = new Map<number, number>();
  transport.invoke = (addr, request, timeoutMs) => {
    counts.set(request.code, (counts.get(request.code) ?? 0) + 1);
    return invoke(addr, request, timeoutMs);
  };
  return counts;
}

/** Every message of a queue from `from` on, read with a pull consumer. */
async function readQueue(mq: MessageQueue, from: number, count: number): Promise<MessageView[]> {
  const pc = new PullConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("PG"),
    logger: testLogger("pull"),
  });
  await pc.startup();
  try {
    const out: MessageView[] = [];
    let offset = from;
    while (out.length < count) {
      const r = await pc.pull(mq, offset, 64);
      assert.equal(r.status, "FOUND", `messages at offset ${offset}`);
      out.push(...r.messages);
      offset = r.nextBeginOffset;
    }
    return out;
  } finally {
    await pc.shutdown();
  }
}

test("sends of one turn travel as few SEND_BATCH_MESSAGE requests, each with its own receipt and properties", async () => {
  const topic = uniq("AutoBatch");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic, autoBatchMaxCount: 512 });
  await p.startup();
  try {
    const counts = countRequests(p);
    const n = 200;
    const receipts = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        p.send({
          topic,
          tag: `T${i % 3}`,
          keys: [`k${i}`],
          body: `m${i}`,
          properties: { n: String(i) },
          flag: i,
        }),
      ),
    );
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2) ?? 0, 0, "no message went alone");
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE), 1, "200 small messages fit one batch");

    const first = receipts[0]!.queueOffset;
    assert.equal(new Set(receipts.map((r) => r.messageId)).size, n);
    assert.equal(new Set(receipts.map((r) => r.offsetMessageId)).size, n);
    receipts.forEach((r, i) => {
      assert.equal(r.queueOffset, first + i, "consecutive offsets in send order");
      assert.equal(r.offset, r.queueOffset);
      assert.match(r.offsetMessageId, /^[0-9A-F]{32}$/);
      assert.equal(r.sendStatus, "SEND_OK");
      assert.equal(r.messageQueue.topic, topic);
    });

    const views = await readQueue(receipts[0]!.messageQueue, first, n);
    views.slice(0, n).forEach((m, i) => {
      const r = receipts[i]!;
      assert.equal(m.messageId, r.messageId);
      assert.equal(m.offsetMessageId, r.offsetMessageId);
      assert.equal(m.queueOffset, r.queueOffset);
      assert.equal(m.body.toString(), `m${i}`);
      assert.equal(m.tag, `T${i % 3}`);
      assert.deepEqual(m.keys, [`k${i}`]);
      assert.equal(m.properties.get("n"), String(i));
      assert.equal(m.flag, i);
    });
  } finally {
    await p.shutdown();
  }
});

test("consecutive batches (their buffers reused) and sendBatch store every body intact", async () => {
  const topic = uniq("AutoBatchRounds");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic });
  await p.startup();
  try {
    const receipts: SendReceipt[] = [];
    for (let round = 0; round < 5; round++) {
      const size = 100 + round * 37; // a different layout each round
      const sent = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          p.send({ topic, body: Buffer.alloc(size, (round * 50 + i) % 251) }),
        ),
      );
      receipts.push(...sent);
      const batch = await p.sendBatch(
        Array.from({ length: 10 }, (_, i) => ({ topic, body: `batch-${round}-${i}`, tag: "b" })),
      );
      assert.equal(batch.messageIds.length, 10);
    }
    const first = receipts[0]!.queueOffset;
    const last = receipts.at(-1)!.queueOffset;
    const byId = new Map(
      (await readQueue(receipts[0]!.messageQueue, first, last - first + 1)).map(
        (m) => [m.messageId, m] as const,
      ),
    );
    receipts.forEach((r, n) => {
      const round = Math.floor(n / 50);
      const m = byId.get(r.messageId);
      assert.ok(m, `message ${n} stored`);
      assert.deepEqual(m.body, Buffer.alloc(100 + round * 37, n % 251));
    });
  } finally {
    await p.shutdown();
  }
});

test("limits split a turn's sends into several batches; awaited sends go alone", async () => {
  const topic = uniq("AutoBatchLimits");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic, autoBatchMaxCount: 10 });
  await p.startup();
  try {
    const counts = countRequests(p);
    const receipts = await Promise.all(
      Array.from({ length: 21 }, (_, i) => p.send({ topic, body: `m${i}` })),
    );
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE), 2, "10 + 10 as batches");
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2), 1, "the 21st alone");
    const offsets = receipts.map((r) => r.queueOffset);
    assert.deepEqual(
      offsets,
      offsets.map((_, i) => offsets[0]! + i),
    );
    await p.send({ topic, body: "alone" });
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2), 2, "one send per turn is a plain send");
  } finally {
    await p.shutdown();
  }
});

test("sends made in promise chains of one turn join its batch; a lone send leaves before the check phase", async () => {
  const topic = uniq("AutoBatchTurn");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic });
  await p.startup();
  try {
    const counts = countRequests(p);
    // Each send is issued a few promise hops after the previous one, all in one turn.
    const sends: Promise<SendReceipt>[] = [];
    let chain = Promise.resolve();
    for (let i = 0; i < 5; i++) {
      chain = chain.then(async () => {
        await null;
        sends.push(p.send({ topic, body: `chained-${i}` }));
      });
    }
    await chain;
    await Promise.all(sends);
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE), 1, "one batch for the whole turn");
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2) ?? 0, 0);

    // A lone send is on the transport before an immediate queued ahead of it runs: with one
    // send in flight it must not wait for a later loop phase.
    const sentBeforeImmediate = await new Promise<boolean>((resolve) => {
      setImmediate(() => resolve((counts.get(RequestCode.SEND_MESSAGE_V2) ?? 0) === 1));
      sends.push(p.send({ topic, body: "lone" }));
    });
    assert.equal(sentBeforeImmediate, true);
    await Promise.all(sends);
  } finally {
    await p.shutdown();
  }
});
test("messages that cannot be batched go alone, in send order, and everything arrives intact", async () => {
  const topic = uniq("AutoBatchMix");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic });
  await p.startup();
  try {
    const counts = countRequests(p);
    const [mq] = await p.getPublishQueues(topic);
    const big = Buffer.alloc(6000, "b"); // over compressMsgBodyOverHowmuch (4096): compressed, alone
    const sends: Array<Promise<SendReceipt>> = [
      p.send({ topic, body: "a0", messageGroup: "g" }),
      p.send({ topic, body: "a1", messageGroup: "g" }),
      p.send({ topic, body: big, messageGroup: "g" }),
      p.send({ topic, body: "a3", messageGroup: "g" }),
      p.send({ topic, body: "q", tag: "pinned" }, { queue: mq }),
      p.send({ topic, body: "d", delayLevel: 1 }),
      p.send({ topic, body: "x", keys: "kx" }),
    ];
    const receipts = await Promise.all(sends);
    // a0+a1 leave as a batch before `big`, which goes alone (order is kept); a3 leaves alone
    // before the queue-pinned message; the delayed one alone; x alone at the end of the turn.
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE), 1);
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2), 5);
    const groupOffsets = receipts.slice(0, 4).map((r) => r.queueOffset);
    assert.deepEqual(
      groupOffsets,
      [...groupOffsets].sort((a, b) => a - b),
      "the messageGroup kept its order",
    );

    const byOffset = new Map(
      (await readQueue(mq!, receipts[0]!.queueOffset, 6)).map((m) => [m.queueOffset, m] as const),
    );
    const bodyOf = (r: SendReceipt) => byOffset.get(r.queueOffset)?.body;
    assert.equal(bodyOf(receipts[0]!)?.toString(), "a0");
    assert.deepEqual(bodyOf(receipts[2]!), big);
    assert.equal(byOffset.get(receipts[4]!.queueOffset)?.tag, "pinned");
    assert.deepEqual(byOffset.get(receipts[6]!.queueOffset)?.keys, ["kx"]);
    for (const r of receipts) assert.equal(r.sendStatus, "SEND_OK");
  } finally {
    await p.shutdown();
  }
});

test("a batch that reaches autoBatchMaxCount (default 128) leaves at once; the rest at the end of the turn", async () => {
  const topic = uniq("AutoBatchFull");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic });
  await p.startup();
  try {
    const counts = countRequests(p);
    const receipts = await Promise.all(
      Array.from({ length: 300 }, (_, i) => p.send({ topic, body: `f${i}` })),
    );
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE), 3, "128 + 128 + 44");
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2) ?? 0, 0);
    const first = receipts[0]!.queueOffset;
    assert.deepEqual(
      receipts.map((r) => r.queueOffset),
      Array.from({ length: 300 }, (_, i) => first + i),
      "send order kept across batches",
    );
    const stored = await readQueue(receipts[0]!.messageQueue, first, 300);
    assert.deepEqual(
      stored.map((m) => m.body.toString()),
      Array.from({ length: 300 }, (_, i) => `f${i}`),
    );
  } finally {
    await p.shutdown();
  }
});

test("a refused batch fails every member with the broker's error", async () => {
  const topic = uniq("AutoBatchFail");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic, autoBatchMaxCount: 512 });
  await p.startup();
  try {
    const counts = countRequests(p);
    // 40 × ~2 KB exceeds the broker's maxMessageSize (64 KiB); each alone would pass.
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => p.send({ topic, body: Buffer.alloc(2000, i) })),
    );
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE), 1, "one request, not retried");
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.ok(r.reason instanceof BrokerError, String(r.reason));
      assert.equal(r.reason, (results[0] as PromiseRejectedResult).reason, "the batch's error, fanned out");
    }
    const alone = await p.send({ topic, body: Buffer.alloc(2000, 1) });
    assert.equal(alone.sendStatus, "SEND_OK");
  } finally {
    await p.shutdown();
  }
});

test("autoBatch: false sends every message alone", async () => {
  const topic = uniq("NoAutoBatch");
  await cluster.createTopic(topic, 1);
  const p = producer({ topic, autoBatch: false });
  await p.startup();
  try {
    const counts = countRequests(p);
    await Promise.all(Array.from({ length: 5 }, (_, i) => p.send({ topic, body: `m${i}` })));
    assert.equal(counts.get(RequestCode.SEND_MESSAGE_V2), 5);
    assert.equal(counts.get(RequestCode.SEND_BATCH_MESSAGE) ?? 0, 0);
  } finally {
    await p.shutdown();
  }
});
