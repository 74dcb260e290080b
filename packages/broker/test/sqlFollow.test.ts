/**
 * The SQL92 match index follows what consumers declare and scans as far as evaluating pulls:
 * SqlSubscriptions and MatchBits.nextMatch against models; an indexed pull passes
 * non-matching offsets by the bits, so a sparse match costs no more pulls than without the
 * index, with the same answers (also under a byte limit); the index's bound (pairs and bits
 * per pair) holds and answers stay exact beyond it; over TCP, a HEART_BEAT declaring an
 * SQL92 subscription makes the bits fill before any pull, a changed subscription and the
 * last consumer leaving drop them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import {
  createRequest,
  decodeMessages,
  encodeJson,
  RequestCode,
  ResponseCode,
  type SubscriptionData,
} from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { type MessageInput, MessageStore } from "@tidemq/store";
import { MatchBits } from "../src/filter/MatchBits.js";
import { sqlMatchIndexOf } from "../src/filter/SqlMatchIndex.js";
import { SqlSubscriptions } from "../src/filter/SqlSubscriptions.js";
import { compileSql92 } from "../src/filter/sql92/index.js";
import { getMessageMatchingSql, MAX_SQL_SCAN } from "../src/filter/sqlPull.js";
import { createTopicRequest, openBroker, pullAll, removeDir, sendRequest, tempDir } from "./helpers.js";

const logger = createLogger("test-sql-follow", "warn");

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

test("SqlSubscriptions: a pair is added when the first group declares it and removed when the last stops", () => {
  const rnd = lcg(77);
  const groups = ["g0", "g1", "g2", "g3"];
  const topics = ["T1", "T2"];
  const exprs = ["a > 1", "b = 'x'", "c IS NULL"];
  const tables = new Map<string, SubscriptionData[]>();
  const subs = new SqlSubscriptions();
  const declared = () => {
    const s = new Set<string>();
    for (const t of tables.values())
      for (const d of t) if (d.expressionType === "SQL92") s.add(`${d.topic}|${d.subString}`);
    return s;
  };
  for (let step = 0; step < 5000; step++) {
    const before = declared();
    const g = groups[rnd(groups.length)]!;
    let table: SubscriptionData[] | undefined;
    if (rnd(5) === 0) {
      tables.delete(g);
    } else {
      // One subscription per topic (a group's table is keyed by topic); some are tags.
      table = [];
      for (const topic of topics) {
        const k = rnd(5);
        if (k === 4) continue;
        table.push({
          topic,
          subString: k === 3 ? "TagA" : exprs[k]!,
          tagsSet: [],
          codeSet: [],
          subVersion: step,
          ...(k === 3 ? {} : { expressionType: "SQL92" as const }),
        });
      }
      tables.set(g, table);
    }
    const { added, removed } = subs.groupChanged(g, table);
    const after = declared();
    const key = (p: { topic: string; expression: string }) => `${p.topic}|${p.expression}`;
    assert.deepEqual(
      new Set(added.map(key)),
      new Set([...after].filter((k) => !before.has(k))),
      `added, step ${step}`,
    );
    assert.deepEqual(
      new Set(removed.map(key)),
      new Set([...before].filter((k) => !after.has(k))),
      `removed, step ${step}`,
    );
    assert.deepEqual(new Set(subs.all().map(key)), after);
  }
});

test("MatchBits.nextMatch answers the first set bit (or end) through growth and trimming", () => {
  const rnd = lcg(9);
  for (const density of [2, 50, 2000]) {
    const bits = new MatchBits(rnd(100), 256);
    const set = new Set<number>();
    for (let step = 0; step < 4000; step++) {
      const m = rnd(density) === 0;
      if (m) set.add(bits.end);
      bits.push(m);
      if (step % 13 === 0) bits.skipTo(bits.end + rnd(70));
      if (step % 7 === 0) {
        const from = bits.base - 2 + rnd(bits.end - bits.base + 5);
        let want: number;
        if (from < bits.base) want = from;
        else {
          want = bits.end;
          for (let o = from; o < bits.end; o++) {
            if (set.has(o)) {
              want = o;
              break;
            }
          }
        }
        assert.equal(bits.nextMatch(from), want, `from ${from} in [${bits.base}, ${bits.end})`);
      }
    }
  }
});

function input(topic: string, queueId: number, i: number, hit: boolean): MessageInput {
  return {
    topic,
    queueId,
    flag: 0,
    body: Buffer.alloc(50 + (i % 7) * 40, 1),
    properties: { n: String(i), hit: hit ? "yes" : "no" },
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { host: "127.0.0.1", port: 5000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  };
}

type PullStore = Parameters<typeof getMessageMatchingSql>[0];

async function drain(
  store: PullStore,
  topic: string,
  expr: string,
  max: number,
  maxBytes?: number,
): Promise<{ got: number[]; pulls: number }> {
  const filter = compileSql92(expr);
  const got: number[] = [];
  let offset = 0;
  let pulls = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const r = await getMessageMatchingSql(store, topic, 0, offset, max, filter, maxBytes);
    pulls++;
    if (r.status === "FOUND") {
      for (const m of decodeMessages(r.body)) got.push(Number(m.properties.n));
      if (maxBytes !== undefined && r.messageCount > 1) assert.ok(r.body.length <= maxBytes, "byte limit");
    } else if (r.status !== "NO_MATCHED_MESSAGE") break;
    if (r.nextBeginOffset <= offset) break;
    offset = r.nextBeginOffset;
  }
  return { got, pulls };
}

test("an indexed pull scans past MAX_SQL_SCAN: same answers as evaluating pulls, never more pulls", async () => {
  const dir = await tempDir("sql-follow-scan");
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  try {
    const rnd = lcg(5);
    const total = 30_000;
    // Sparse: ~1 in 3,000, plus a run of 40 in a row and one near the end.
    const hits = new Set<number>();
    for (let i = 0; i < total; i++) if (rnd(3000) === 0) hits.add(i);
    for (let i = 12_000; i < 12_040; i++) hits.add(i);
    hits.add(total - 2);
    for (let i = 0; i < total; i += 500) {
      await store.putMessages(Array.from({ length: 500 }, (_, k) => input("S", 0, i + k, hits.has(i + k))));
    }
    const plain = { getMessage: store.getMessage.bind(store) };
    const indexed = {
      getMessage: store.getMessage.bind(store),
      getMaxOffsetInQueue: store.getMaxOffsetInQueue.bind(store),
      onMessageArrived: () => {},
    };
    const expr = "hit = 'yes'";
    const index = sqlMatchIndexOf(indexed);
    index.track("S", 0, compileSql92(expr), 0);
    await index.settled();
    const want = [...hits].sort((a, b) => a - b);
    for (const [max, maxBytes] of [
      [32, undefined],
      [1, undefined],
      [7, 400],
    ] as const) {
      const a = await drain(plain, "S", expr, max, maxBytes);
      const b = await drain(indexed, "S", expr, max, maxBytes);
      assert.deepEqual(a.got, want, `evaluating, max ${max}`);
      assert.deepEqual(b.got, want, `indexed, max ${max} bytes ${maxBytes}`);
      assert.ok(b.pulls <= a.pulls, `indexed ${b.pulls} pulls, evaluating ${a.pulls} (max ${max})`);
    }
    // The scan bound of the evaluating path costs it pulls; the bits pass those offsets.
    const a = await drain(plain, "S", expr, 32);
    assert.ok(a.pulls >= total / MAX_SQL_SCAN, `evaluating: ${a.pulls} pulls`);
    const b = await drain(indexed, "S", expr, 32);
    assert.ok(b.pulls < a.pulls, `indexed ${b.pulls} < evaluating ${a.pulls}`);
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
});

test("the index's bound: at most maxTracked pairs, at most maxBits offsets each, answers exact beyond", async () => {
  const dir = await tempDir("sql-follow-bound");
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  try {
    // A store object of its own, so sqlPull's pulls go through this bounded index.
    const viaIndex = {
      getMessage: store.getMessage.bind(store),
      getMaxOffsetInQueue: store.getMaxOffsetInQueue.bind(store),
      onMessageArrived: store.onMessageArrived.bind(store),
    };
    const index = sqlMatchIndexOf(viaIndex, { maxTracked: 3, maxBitsPerExpression: 64 });
    const f = compileSql92("hit = 'yes'");
    index.follow("B", f, [0, 1], 2000);
    index.follow("B", compileSql92("n > 5"), [0, 1], 1000);
    assert.equal(index.size, 3, "the fourth pair evicted the least recently used");
    assert.equal(index.bitsOf("B", 0, "n > 5"), undefined, "the older one went");
    const hitAt = (i: number) => i % 37 === 0;
    for (let i = 0; i < 1000; i += 100) {
      await store.putMessages(Array.from({ length: 100 }, (_, k) => input("B", 0, i + k, hitAt(i + k))));
    }
    await index.settled();
    assert.ok(index.size <= 3);
    const bits = index.bitsOf("B", 0, f.expression);
    assert.ok(bits !== undefined);
    assert.equal(bits.end, 1000);
    assert.ok(bits.end - bits.base <= 64 + 32, `kept [${bits.base}, ${bits.end})`);
    assert.ok(bits.base > 0, "the oldest offsets were dropped");
    // Offsets dropped from the bits are evaluated again: the answer is whole and exact.
    const expected = Array.from({ length: 1000 }, (_, i) => i).filter(hitAt);
    // Below the bits' base evaluated, from it on through the bits.
    assert.deepEqual((await drain(viaIndex, "B", "hit = 'yes'", 8)).got, expected);
    assert.deepEqual((await drain(store, "B", "hit = 'yes'", 8)).got, expected);
    index.unfollow("B", f.expression);
    assert.equal(index.bitsOf("B", 0, f.expression), undefined);
    assert.ok(index.size <= 2);
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
});

function heartbeat(clientId: string, group: string, topic: string, expression: string, subVersion: number) {
  return createRequest(
    RequestCode.HEART_BEAT,
    undefined,
    encodeJson({
      clientID: clientId,
      producerDataSet: [],
      consumerDataSet: [
        {
          groupName: group,
          consumeType: "CONSUME_PASSIVELY",
          messageModel: "CLUSTERING",
          consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
          subscriptionDataSet: [
            { topic, subString: expression, tagsSet: [], codeSet: [], subVersion, expressionType: "SQL92" },
          ],
        },
      ],
    }),
  );
}

test("over TCP: a HEART_BEAT's SQL92 subscription fills the bits before any pull; a changed subscription or the last consumer leaving drops them", async () => {
  const t = await openBroker("broker-sql-follow");
  try {
    const { client, addr } = t;
    await client.invoke(addr, createTopicRequest("T_HB", 2));
    const e1 = "n > 40 AND color = 'red'";
    const e2 = "color = 'blue'";
    let res = await client.invoke(addr, heartbeat("127.0.0.1@hb1", "CG_HB", "T_HB", e1, 1));
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    const index = sqlMatchIndexOf(t.broker.context.store);
    for (const q of [0, 1])
      assert.equal(index.bitsOf("T_HB", q, e1)?.end, 0, `queue ${q} followed from its end`);
    for (let i = 0; i < 60; i++) {
      const p = { n: String(i), color: i % 2 === 0 ? "red" : "blue" };
      res = await client.invoke(
        addr,
        sendRequest("T_HB", Buffer.from(`b${i}`), { properties: p, queueId: i % 2 }),
      );
      assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    }
    await index.settled();
    const bits0 = index.bitsOf("T_HB", 0, e1)!;
    assert.deepEqual([bits0.base, bits0.end], [0, 30], "queue 0 covered before any pull");
    assert.equal(bits0.count(0, 30), 9);
    const all = await pullAll(client, addr, "T_HB", 0, 0, {
      subscription: e1,
      expressionType: "SQL92",
      group: "CG_HB",
    });
    assert.deepEqual(
      all.messages.map((m) => Number(m.properties.n)),
      [42, 44, 46, 48, 50, 52, 54, 56, 58],
    );
    // A second group declaring the same expression shares the bits; the first changes its own.
    res = await client.invoke(addr, heartbeat("127.0.0.1@hb2", "CG_HB2", "T_HB", e1, 1));
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    res = await client.invoke(addr, heartbeat("127.0.0.1@hb1", "CG_HB", "T_HB", e2, 2));
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    assert.equal(index.bitsOf("T_HB", 0, e1), bits0, "still declared by CG_HB2");
    assert.equal(index.bitsOf("T_HB", 1, e2)?.end, 30, "the new expression followed from now");
    // The last group declaring e1 leaves: its bits go. (Both groups share this connection.)
    res = await client.invoke(
      addr,
      createRequest(RequestCode.UNREGISTER_CLIENT, { clientID: "127.0.0.1@hb2", consumerGroup: "CG_HB2" }),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    assert.equal(index.bitsOf("T_HB", 0, e1), undefined);
    assert.notEqual(index.bitsOf("T_HB", 0, e2), undefined);
    res = await client.invoke(
      addr,
      createRequest(RequestCode.UNREGISTER_CLIENT, { clientID: "127.0.0.1@hb1", consumerGroup: "CG_HB" }),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    assert.equal(index.bitsOf("T_HB", 0, e2), undefined);
    assert.equal(index.size, 0);
    // Without the bits pulls still answer exactly (evaluated).
    const again = await pullAll(client, addr, "T_HB", 1, 0, {
      subscription: e2,
      expressionType: "SQL92",
      group: "CG_HB",
    });
    assert.equal(again.messages.length, 30);
  } finally {
    await t.close();
  }
});
