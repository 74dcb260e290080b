/**
 * SQL92 match bits (filter/MatchBits, filter/SqlMatchIndex): the bits agree with a list model
 * through growth and trimming; the index evaluates arriving messages once per expression and
 * a pull over covered offsets answers exactly what the evaluating pull answers, from every
 * start offset, also for subscriptions made after the messages were stored and after a
 * restart (not covered: evaluated); over TCP, a raw pull after the subscription's first pull
 * returns only matches, through the bits.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { decodeMessages, ResponseCode } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { type MessageInput, MessageStore } from "@tidemq/store";
import { MatchBits } from "../src/filter/MatchBits.js";
import { SqlMatchIndex, sqlMatchIndexOf } from "../src/filter/SqlMatchIndex.js";
import { compileSql92 } from "../src/filter/sql92/index.js";
import { getMessageMatchingSql } from "../src/filter/sqlPull.js";
import {
  createTopicRequest,
  openBroker,
  pullAll,
  pullRequest,
  removeDir,
  sendRequest,
  tempDir,
} from "./helpers.js";

const logger = createLogger("test-sql-index", "warn");

test("MatchBits agree with a list model through growth, trimming, skips and restarts", () => {
  let seed = 4242;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (const maxBits of [64, 100, 1000]) {
    const start = 7 + rnd(1000);
    const bits = new MatchBits(start, maxBits);
    let model: boolean[] = [];
    let base = start; // model: offsets [base, base + model.length) known
    for (let step = 0; step < 20_000; step++) {
      const op = rnd(100);
      if (op < 90) {
        const m = rnd(3) === 0;
        bits.push(m);
        model.push(m);
      } else if (op < 98) {
        const n = rnd(40);
        bits.skipTo(bits.end + n);
        for (let i = 0; i < n; i++) model.push(false);
      } else {
        const at = bits.end + rnd(500);
        bits.restart(at);
        model = [];
        base = at;
      }
      // Trimming drops whole old words: the model forgets what the bits forgot.
      assert.ok(bits.base >= base, "base only moves up");
      assert.equal(bits.end, base + model.length);
      model = model.slice(bits.base - base);
      base = bits.base;
      assert.ok(bits.end - bits.base <= maxBits + 32, `kept ${bits.end - bits.base} of ${maxBits}`);
      if (step % 97 === 0) {
        for (let o = base - 3; o < bits.end + 3; o++) {
          const known = o >= base && o < bits.end;
          assert.equal(bits.covers(o), known, `covers ${o}`);
          assert.equal(bits.has(o), known && model[o - base]!, `bit ${o} (max ${maxBits}, step ${step})`);
        }
      }
    }
  }
  assert.throws(() => new MatchBits(0, 10), RangeError);
});

function input(i: number): MessageInput {
  return {
    topic: "Q",
    queueId: 0,
    flag: 0,
    body: Buffer.from(`m${i}`),
    properties: { a: String(i % 100), region: i % 3 === 0 ? "EU" : "US", ...(i % 7 === 0 ? { x: "1" } : {}) },
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { host: "127.0.0.1", port: 5000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  };
}

/** Every pull from `from` to the end, as [queue offset, a] pairs, and the offsets pulls resumed at. */
async function drain(
  store: Parameters<typeof getMessageMatchingSql>[0],
  expr: string,
  from: number,
  max: number,
): Promise<{ got: number[]; nexts: number[] }> {
  const filter = compileSql92(expr);
  const got: number[] = [];
  const nexts: number[] = [];
  let offset = from;
  for (let guard = 0; guard < 10_000; guard++) {
    const r = await getMessageMatchingSql(store, "Q", 0, offset, max, filter, undefined);
    if (r.status === "FOUND") {
      for (const m of decodeMessages(r.body)) got.push(Number(m.queueOffset));
    } else if (r.status !== "NO_MATCHED_MESSAGE") break;
    nexts.push(r.nextBeginOffset);
    if (r.nextBeginOffset <= offset) break;
    offset = r.nextBeginOffset;
  }
  return { got, nexts };
}

test("pulls through the match index answer exactly what evaluating pulls answer; later subscriptions and restarts fall back", async () => {
  const dir = await tempDir("sql-index");
  const open = () =>
    MessageStore.open({
      storePathRootDir: join(dir, "store"),
      storeHost: { host: "127.0.0.1", port: 10911 },
      logger,
    });
  let store = await open();
  try {
    const index = new SqlMatchIndex(store, { maxBitsPerExpression: 4096 });
    const exprs = ["a > 90 AND region = 'EU'", "x IS NOT NULL", "a BETWEEN 10 AND 12"];
    // Subscribed first (the first pull's moment), then 3,000 messages arrive.
    for (const e of exprs) index.track("Q", 0, compileSql92(e));
    for (let i = 0; i < 3000; i += 100) {
      await store.putMessages(Array.from({ length: 100 }, (_, k) => input(i + k)));
    }
    await index.settled();
    const bits = index.track("Q", 0, compileSql92(exprs[0]!));
    assert.equal(bits.base, 0);
    assert.equal(bits.end, 3000);
    assert.ok(index.evaluated >= 3000 && index.evaluated < 6000, `read once for all: ${index.evaluated}`);
    let expected = 0;
    for (let i = 0; i < 3000; i++) if (i % 100 > 90 && i % 3 === 0) expected++;
    assert.equal(bits.count(0, 3000), expected);
    // The evaluating path: a store without arrivals has no index.
    const plain = { getMessage: store.getMessage.bind(store) };
    const indexed = {
      getMessage: store.getMessage.bind(store),
      getMaxOffsetInQueue: store.getMaxOffsetInQueue.bind(store),
      onMessageArrived: () => {},
    };
    // sqlPull takes its store's index (sqlMatchIndexOf): this store object's covers from 0.
    const viaIndex = indexed;
    const shared = sqlMatchIndexOf(viaIndex);
    for (const e of exprs) shared.track("Q", 0, compileSql92(e), 0);
    await shared.settled();
    for (const e of exprs) {
      for (const [from, max] of [
        [0, 32],
        [0, 1],
        [1234, 5],
        [2999, 32],
      ] as const) {
        const a = await drain(plain, e, from, max);
        const b = await drain(viaIndex, e, from, max);
        assert.deepEqual(b.got, a.got, `${e} from ${from} max ${max}`);
        for (const o of a.got) assert.ok(compileSql92(e).matches((n) => input(o).properties[n]));
      }
    }
    // A subscription made now covers nothing stored before: it is evaluated, same answer.
    const late = "a < 3";
    const lateBits = shared.track("Q", 0, compileSql92(late));
    assert.equal(lateBits.covers(0), false);
    assert.deepEqual((await drain(viaIndex, late, 0, 32)).got, (await drain(plain, late, 0, 32)).got);
    // Restart: nothing is covered, pulls evaluate, answers unchanged.
    const before = (await drain(plain, exprs[1]!, 0, 32)).got;
    await store.shutdown();
    store = await open();
    const afterRestart = sqlMatchIndexOf(store);
    assert.equal(afterRestart.track("Q", 0, compileSql92(exprs[1]!)).covers(0), false);
    assert.deepEqual((await drain(store, exprs[1]!, 0, 32)).got, before);
    // Arrivals after the restart are covered again.
    await store.putMessages(Array.from({ length: 50 }, (_, k) => input(3000 + k)));
    await afterRestart.settled();
    assert.equal(afterRestart.track("Q", 0, compileSql92(exprs[1]!)).end, 3050);
    assert.deepEqual((await drain(store, exprs[1]!, 0, 32)).got, [
      ...before,
      ...Array.from({ length: 50 }, (_, k) => 3000 + k).filter((i) => i % 7 === 0),
    ]);
    // A pull at the bits' frontier (woken by the arrival, before the index read it) records
    // what it evaluated: the index does not evaluate it again. (This store object tells the
    // index of no arrivals, so only the pull can have extended the bits.)
    const quietStore = {
      getMessage: store.getMessage.bind(store),
      getMaxOffsetInQueue: store.getMaxOffsetInQueue.bind(store),
      onMessageArrived: () => {},
    };
    const fed = sqlMatchIndexOf(quietStore);
    const e0 = exprs[0]!;
    assert.equal((await drain(quietStore, e0, 3050, 32)).got.length, 0, "nothing stored there yet");
    await store.putMessages(Array.from({ length: 60 }, (_, k) => input(3050 + k)));
    const firstPulls = await drain(quietStore, e0, 3050, 4);
    const fedBits = fed.track("Q", 0, compileSql92(e0));
    assert.deepEqual([fedBits.base, fedBits.end], [3050, 3110]);
    assert.equal(fed.evaluated, 0);
    await fed.settled();
    assert.equal(fed.evaluated, 0, "nothing left for the index to read");
    const plainNow = { getMessage: store.getMessage.bind(store) };
    assert.deepEqual(firstPulls.got, (await drain(plainNow, e0, 3050, 4)).got);
    assert.deepEqual((await drain(quietStore, e0, 3050, 4)).got, firstPulls.got, "through the bits");
    assert.ok(firstPulls.got.length > 0);
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
});

test("over TCP: after a subscription's first pull, arriving messages are matched once and a raw pull returns only matches", async () => {
  const t = await openBroker("broker-sql-index");
  try {
    const { client, addr } = t;
    await client.invoke(addr, createTopicRequest("T_IDX", 1));
    const expr = "n > 40 AND color = 'red'";
    const first = await client.invoke(
      addr,
      pullRequest("T_IDX", 0, 0, { subscription: expr, expressionType: "SQL92", maxMsgNums: 32 }),
    );
    assert.notEqual(first.code, ResponseCode.SUCCESS, "nothing stored yet");
    for (let i = 0; i < 60; i++) {
      const p = { n: String(i), color: i % 2 === 0 ? "red" : "blue" };
      const res = await client.invoke(addr, sendRequest("T_IDX", Buffer.from(`b${i}`), { properties: p }));
      assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    }
    const index = sqlMatchIndexOf(t.broker.context.store);
    await index.settled();
    const bits = index.track("T_IDX", 0, compileSql92(expr));
    assert.ok(bits.covers(0) && bits.end === 60, `covered [${bits.base}, ${bits.end})`);
    const all = await pullAll(client, addr, "T_IDX", 0, 0, { subscription: expr, expressionType: "SQL92" });
    assert.deepEqual(
      all.messages.map((m) => Number(m.properties.n)),
      [42, 44, 46, 48, 50, 52, 54, 56, 58],
    );
  } finally {
    await t.close();
  }
});
