/**
 * The SQL92 match index's bounds come from broker.conf (sqlMatchIndexMaxPairs,
 * sqlMatchIndexBitsPerPair): a broker started with a small bound, or with the index off,
 * answers SQL92 pulls exactly as without it (only coverage drops); a bad value refuses to
 * start, naming the key — from the file, from overrides, and as a real `tidemq broker`.
 * Heartbeat following makes pairs only for the queues this broker answers pulls on.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRequest, encodeJson, RequestCode, ResponseCode } from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import { servedQueueCount } from "../src/filter/followSqlSubscriptions.js";
import { sqlMatchIndexOf } from "../src/filter/SqlMatchIndex.js";
import { loadBrokerConfig } from "../src/loadBrokerConfig.js";
import { createTopicRequest, openBroker, pullAll, removeDir, sendRequest, tempDir } from "./helpers.js";

const tidemq = fileURLToPath(new URL("../../../cli/bin/tidemq.js", import.meta.url));

function heartbeat(clientId: string, groups: Array<[string, string]>, topic: string) {
  return createRequest(
    RequestCode.HEART_BEAT,
    undefined,
    encodeJson({
      clientID: clientId,
      producerDataSet: [],
      consumerDataSet: groups.map(([group, expression]) => ({
        groupName: group,
        consumeType: "CONSUME_PASSIVELY",
        messageModel: "CLUSTERING",
        consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
        subscriptionDataSet: [
          { topic, subString: expression, tagsSet: [], codeSet: [], subVersion: 1, expressionType: "SQL92" },
        ],
      })),
    }),
  );
}

const EXPRESSIONS: Array<[string, (n: number) => boolean]> = [
  ["m = 'y'", (n) => n % 7 === 0],
  ["n > 150 AND n < 230", (n) => n > 150 && n < 230],
  ["n BETWEEN 3 AND 5", (n) => n >= 3 && n <= 5],
];

/** Sends 300 messages over 2 queues, then pulls every expression from both: exact answers. */
async function sendAndPullExactly(client: RemotingClient, addr: string, topic: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const res = await client.invoke(
      addr,
      sendRequest(topic, Buffer.from(`b${i}`), {
        properties: { n: String(i), m: i % 7 === 0 ? "y" : "n" },
        queueId: i % 2,
      }),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  }
  for (const [expression, matches] of EXPRESSIONS) {
    for (const q of [0, 1]) {
      const got = await pullAll(client, addr, topic, q, 0, {
        subscription: expression,
        expressionType: "SQL92",
        group: "CG_B0",
      });
      const want = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 2 === q && matches(i));
      assert.deepEqual(
        got.messages.map((m) => Number(m.properties.n)),
        want,
        `${expression} on queue ${q}`,
      );
    }
  }
}

test("a broker with sqlMatchIndexMaxPairs=2 and sqlMatchIndexBitsPerPair=64: the bound holds, pulls answer exactly", async () => {
  const t = await openBroker("broker-sql-bounds", { sqlMatchIndexMaxPairs: 2, sqlMatchIndexBitsPerPair: 64 });
  try {
    const { client, addr } = t;
    await client.invoke(addr, createTopicRequest("T_BOUND", 2));
    const groups = EXPRESSIONS.map(([e], i): [string, string] => [`CG_B${i}`, e]);
    const res = await client.invoke(addr, heartbeat("127.0.0.1@b", groups, "T_BOUND"));
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    const index = sqlMatchIndexOf(t.broker.context.store);
    assert.equal(index.size, 2, "3 expressions × 2 queues declared, 2 pairs kept");
    await sendAndPullExactly(client, addr, "T_BOUND");
    await index.settled();
    assert.ok(index.size <= 2, `${index.size} pairs`);
    let seen = 0;
    for (const [e] of EXPRESSIONS)
      for (const q of [0, 1]) {
        const bits = index.bitsOf("T_BOUND", q, e);
        if (bits === undefined) continue;
        seen++;
        assert.ok(bits.end - bits.base <= 64 + 32, `[${bits.base}, ${bits.end}) kept for ${e} on ${q}`);
      }
    assert.ok(seen > 0 && seen <= 2);
  } finally {
    await t.close();
  }
});

test("sqlMatchIndexMaxPairs=0: no pair is followed by heartbeat or pull, pulls answer exactly", async () => {
  const t = await openBroker("broker-sql-off", { sqlMatchIndexMaxPairs: 0 });
  try {
    const { client, addr } = t;
    await client.invoke(addr, createTopicRequest("T_OFF", 2));
    const groups = EXPRESSIONS.map(([e], i): [string, string] => [`CG_B${i}`, e]);
    const res = await client.invoke(addr, heartbeat("127.0.0.1@o", groups, "T_OFF"));
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    await sendAndPullExactly(client, addr, "T_OFF");
    assert.equal(sqlMatchIndexOf(t.broker.context.store).size, 0);
  } finally {
    await t.close();
  }
});

test("a bad sqlMatchIndex* value refuses to load, naming the key (file or overrides)", async () => {
  const dir = await tempDir("sql-bounds-conf");
  try {
    const conf = join(dir, "broker.conf");
    for (const line of [
      "sqlMatchIndexMaxPairs=-1",
      "sqlMatchIndexMaxPairs=lots",
      "sqlMatchIndexMaxPairs=1000000",
      "sqlMatchIndexBitsPerPair=63",
      "sqlMatchIndexBitsPerPair=2.5",
      `sqlMatchIndexBitsPerPair=${2 ** 31}`,
    ]) {
      await writeFile(conf, `brokerIP1=127.0.0.1\nstorePathRootDir=${dir}\n${line}\n`);
      const key = line.split("=")[0]!;
      await assert.rejects(loadBrokerConfig({ file: conf, env: {} }), (err: Error) => {
        assert.equal(err.name, "BrokerConfigError");
        assert.match(err.message, new RegExp(`invalid value for ${key} `), line);
        return true;
      });
    }
    await assert.rejects(
      loadBrokerConfig({ env: {}, overrides: { brokerIP1: "127.0.0.1", sqlMatchIndexBitsPerPair: 8 } }),
      /invalid value for sqlMatchIndexBitsPerPair/,
    );
    await writeFile(
      conf,
      `brokerIP1=127.0.0.1\nstorePathRootDir=${dir}\nsqlMatchIndexMaxPairs=0\nsqlMatchIndexBitsPerPair=4096\n`,
    );
    const { config, warnings } = await loadBrokerConfig({ file: conf, env: {} });
    assert.deepEqual(
      [config.sqlMatchIndexMaxPairs, config.sqlMatchIndexBitsPerPair, warnings],
      [0, 4096, []],
    );
  } finally {
    await removeDir(dir);
  }
});

test("tidemq broker with sqlMatchIndexBitsPerPair=10 exits 1 naming the key", async () => {
  const dir = await tempDir("sql-bounds-cli");
  try {
    const conf = join(dir, "broker.conf");
    await writeFile(conf, `storePathRootDir=${dir}\nsqlMatchIndexBitsPerPair=10\n`);
    const child = spawn(process.execPath, [tidemq, "broker", "-c", conf], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn", NAMESRV_ADDR: "" },
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      assert.equal(code, 1, stderr);
      assert.match(stderr, /sqlMatchIndexBitsPerPair.*"10"/);
    } finally {
      if (child.exitCode === null && child.signalCode === null && child.pid)
        process.kill(child.pid, "SIGKILL");
    }
  } finally {
    await removeDir(dir);
  }
});

function topicRequest(topic: string, read: number, write: number, perm = 6) {
  return createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic,
    defaultTopic: "TBW102",
    readQueueNums: read,
    writeQueueNums: write,
    perm,
    topicFilterType: "SINGLE_TAG",
    topicSysFlag: 0,
    order: false,
  });
}

test("servedQueueCount: readQueueNums of a readable topic here, else none", () => {
  assert.equal(servedQueueCount(undefined), 0);
  assert.equal(servedQueueCount({ perm: 6, readQueueNums: 3 }), 3);
  assert.equal(servedQueueCount({ perm: 4, readQueueNums: 5 }), 5);
  assert.equal(servedQueueCount({ perm: 2, readQueueNums: 5 }), 0, "write-only");
  assert.equal(servedQueueCount({ perm: 6, readQueueNums: 0 }), 0);
});

test("over TCP: heartbeat following makes pairs only for the queues this broker serves pulls on", async () => {
  const t = await openBroker("broker-sql-served");
  try {
    const { client, addr } = t;
    const e = "n >= 0";
    // Read 2 of 4 written queues; a write-only topic; a topic not on this broker (yet).
    for (const req of [topicRequest("T_HALF", 2, 4), topicRequest("T_WO", 4, 4, 2)]) {
      const r = await client.invoke(addr, req);
      assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    }
    for (const [i, topic] of ["T_HALF", "T_WO", "T_LATER"].entries()) {
      const r = await client.invoke(addr, heartbeat(`127.0.0.1@s${i}`, [[`CG_S${i}`, e]], topic));
      assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    }
    const index = sqlMatchIndexOf(t.broker.context.store);
    const followed = (topic: string, queues: number) =>
      Array.from({ length: queues }, (_, q) => q).filter((q) => index.bitsOf(topic, q, e) !== undefined);
    assert.deepEqual(followed("T_HALF", 4), [0, 1]);
    assert.deepEqual(followed("T_WO", 4), []);
    assert.equal(index.size, 2);
    // Arrivals on a queue no pull reaches make no pair; on a served one of a topic made later, they do.
    let r = await client.invoke(addr, topicRequest("T_LATER", 1, 3));
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    for (const [topic, queueId] of [
      ["T_HALF", 3],
      ["T_HALF", 2],
      ["T_WO", 1],
      ["T_LATER", 2],
      ["T_LATER", 0],
    ] as const) {
      r = await client.invoke(
        addr,
        sendRequest(topic, Buffer.from("x"), { properties: { n: "1" }, queueId }),
      );
      assert.equal(r.code, ResponseCode.SUCCESS, `${topic}/${queueId}: ${r.remark}`);
    }
    await index.settled();
    assert.deepEqual(followed("T_HALF", 4), [0, 1]);
    assert.deepEqual(followed("T_WO", 4), []);
    assert.deepEqual(followed("T_LATER", 3), [0]);
    assert.equal(index.size, 3);
    // readQueueNums raised: the queue is served now, and its next arrival follows it.
    r = await client.invoke(addr, topicRequest("T_HALF", 4, 4));
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    r = await client.invoke(
      addr,
      sendRequest("T_HALF", Buffer.from("y"), { properties: { n: "2" }, queueId: 3 }),
    );
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    await index.settled();
    assert.deepEqual(followed("T_HALF", 4), [0, 1, 3]);
    assert.equal(index.bitsOf("T_HALF", 3, e)?.end, 2, "followed from the queue's end at that arrival");
  } finally {
    await t.close();
  }
});
