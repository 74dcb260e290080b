/**
 * Delay levels over a real broker process: parked in SCHEDULE_TOPIC_XXXX, delivered as a new
 * record in the real topic when due (never earlier), kept through kill -9 and clean restarts.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import {
  createRequest,
  decodeMessages,
  encodeBatchBody,
  type MessageExt,
  PullSysFlag,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import { kill9, killAllChildren, spawnBroker, stopClean } from "./childBroker.js";
import {
  cleanupsAfterAll,
  createTopicRequest,
  newClient,
  pullAll,
  pullRequest,
  removeDir,
  sendRequest,
  tempDir,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();
cleanups.push(killAllChildren);

function brokerOverrides(dir: string, messageDelayLevel: string, extra: object = {}): object {
  return {
    brokerName: "broker-s",
    brokerIP1: "127.0.0.1",
    listenPort: 0,
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 8 * 1024 * 1024,
    messageDelayLevel,
    ...extra,
  };
}

/** Pulls a topic's queues with long polling, keeping every message by its KEYS. */
class Collector {
  readonly byKey = new Map<string, MessageExt[]>();
  private readonly offsets: number[];
  constructor(
    private readonly topic: string,
    queues: number,
  ) {
    this.offsets = new Array(queues).fill(0);
  }
  get distinct(): number {
    return this.byKey.size;
  }
  get duplicates(): number {
    let d = 0;
    for (const v of this.byKey.values()) d += v.length - 1;
    return d;
  }
  /** Pulls until `want` distinct keys arrived or the deadline passes (each round a long poll). */
  async until(client: RemotingClient, addr: string, want: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; round < 100_000 && this.distinct < want; round++) {
      if (Date.now() > deadline)
        assert.fail(`only ${this.distinct} of ${want} messages of ${this.topic} arrived in ${timeoutMs} ms`);
      await Promise.all(
        this.offsets.map(async (offset, q) => {
          const res = await client
            .invoke(
              addr,
              pullRequest(this.topic, q, offset, {
                sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND,
                suspendTimeoutMillis: 300,
                maxMsgNums: 64,
              }),
            )
            .catch(() => undefined);
          if (!res) return;
          if (res.code === ResponseCode.SUCCESS && res.body) {
            for (const m of decodeMessages(res.body)) {
              const k = m.properties.KEYS ?? "";
              const list = this.byKey.get(k) ?? [];
              list.push(m);
              this.byKey.set(k, list);
            }
          }
          const next = Number(res.extFields?.nextBeginOffset);
          if (Number.isSafeInteger(next)) this.offsets[q] = next;
        }),
      );
    }
  }
}

interface Sent {
  key: string;
  level: number;
  sentAt: number;
}

async function sendDelayed(client: RemotingClient, addr: string, topic: string, key: string, level: number) {
  const sentAt = Date.now();
  const res = await client.invoke(
    addr,
    sendRequest(topic, Buffer.from(`body-${key}`), {
      queueId: key.length % 4,
      properties: { KEYS: key, TAGS: "TagA", UNIQ_KEY: `U-${key}`, DELAY: String(level) },
    }),
  );
  return { res, sentAt };
}

/** Asserts every sent message arrived with its body, keys and tag, DELAY gone, and not before its delay. */
function checkDelivered(sent: Sent[], got: Collector, table: number[]): void {
  for (const s of sent) {
    const list = got.byKey.get(s.key);
    assert.ok(list && list.length > 0, `${s.key} delivered`);
    for (const m of list) {
      const delay = table[Math.min(s.level, table.length) - 1]!;
      assert.ok(
        m.storeTimestamp >= s.sentAt + delay,
        `${s.key} (level ${s.level}) delivered ${m.storeTimestamp - s.sentAt} ms after the send, before its ${delay} ms`,
      );
      assert.equal(m.body.toString(), `body-${s.key}`);
      assert.equal(m.properties.TAGS, "TagA");
      assert.equal(m.properties.UNIQ_KEY, `U-${s.key}`);
      assert.equal(m.properties.DELAY, undefined);
      assert.equal(m.properties.DELAY_DUE_MS, undefined);
      assert.equal(m.properties.REAL_TOPIC, m.topic);
    }
  }
}

test("delay levels: parked in SCHEDULE_TOPIC_XXXX, delivered once in the real topic, never early; bad levels behave as documented", async (t) => {
  const dir = await tempDir("sched-basic");
  cleanups.push(() => removeDir(dir));
  const table = [200, 500, 1000, 1500];
  const b = await spawnBroker(brokerOverrides(dir, "200ms 500ms 1s 1500ms"));
  const client = newClient();
  cleanups.push(async () => {
    await client.close();
    await kill9(b.child);
  });
  const topic = "SchedBasic";
  assert.equal((await client.invoke(b.addr, createTopicRequest(topic, 4))).code, ResponseCode.SUCCESS);

  const sent: Sent[] = [];
  for (let i = 0; i < 40; i++) {
    const level = 1 + (i % 4);
    const key = `k${i}`;
    const { res, sentAt } = await sendDelayed(client, b.addr, topic, key, level);
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark ?? "");
    sent.push({ key, level, sentAt });
  }
  // Parked: nothing in the real topic yet (the shortest delay is 200 ms, the sends took less or
  // some are due — so look at the schedule queue of the longest level instead).
  const parked = await pullAll(client, b.addr, "SCHEDULE_TOPIC_XXXX", 3);
  assert.ok(parked.messages.length >= 1, "level-4 messages parked in queue 3");
  const p = parked.messages[0]!;
  assert.equal(p.properties.REAL_TOPIC, topic);
  assert.ok(Number(p.properties.DELAY_DUE_MS) >= p.bornTimestamp + 1500);

  const got = new Collector(topic, 4);
  await got.until(client, b.addr, 40, 30_000);
  checkDelivered(sent, got, table);
  assert.equal(got.duplicates, 0, "no crash, no duplicate");

  // Bad input. 0 and −1: not delayed (RocketMQ ignores levels ≤ 0).
  for (const [key, level] of [
    ["zero", 0],
    ["neg", -1],
  ] as const) {
    const { res } = await sendDelayed(client, b.addr, topic, key, level);
    assert.equal(res.code, ResponseCode.SUCCESS);
  }
  await got.until(client, b.addr, 42, 10_000);
  // 19 with a 4-level table: clamped to level 4 (1.5 s), as RocketMQ clamps to its last level.
  const clampedAt = Date.now();
  const clamped = await sendDelayed(client, b.addr, topic, "clamped", 19);
  assert.equal(clamped.res.code, ResponseCode.SUCCESS);
  await got.until(client, b.addr, 43, 10_000);
  assert.ok(got.byKey.get("clamped")![0]!.storeTimestamp >= clampedAt + 1500, "clamped to the last level");
  // Not a number: refused with a clear error.
  const bad = await sendDelayed(client, b.addr, topic, "bad", Number.NaN);
  assert.equal(bad.res.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(bad.res.remark ?? "", /not a whole delay level/);
  // A batch with a delay level: refused.
  const batch = createRequest(
    RequestCode.SEND_BATCH_MESSAGE,
    sendRequest(topic, Buffer.alloc(0), { properties: { DELAY: "2" } }).extFields,
    encodeBatchBody([{ body: Buffer.from("b1"), flag: 0, properties: {} }]),
  );
  const batchRes = await client.invoke(b.addr, batch);
  assert.equal(batchRes.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(batchRes.remark ?? "", /batch message cannot carry a delay level/);
  t.diagnostic(`max lateness seen by the test: ${maxLateness(sent, got, table)} ms`);
});

function maxLateness(sent: Sent[], got: Collector, table: number[]): number {
  let max = 0;
  for (const s of sent) {
    const m = got.byKey.get(s.key)?.[0];
    if (m) max = Math.max(max, m.storeTimestamp - s.sentAt - table[s.level - 1]!);
  }
  return max;
}

test("kill -9 while delayed messages are pending and while due ones are being delivered: all delivered after restart, none early", async (t) => {
  const dir = await tempDir("sched-kill");
  cleanups.push(() => removeDir(dir));
  const table = [300, 2000, 4000];
  const overrides = brokerOverrides(dir, "300ms 2s 4s");
  const first = await spawnBroker(overrides);
  const client = newClient();
  cleanups.push(() => client.close());
  const topic = "SchedKill";
  assert.equal((await client.invoke(first.addr, createTopicRequest(topic, 4))).code, ResponseCode.SUCCESS);

  const sent: Sent[] = [];
  // Level 1 keeps the broker delivering while it is killed; levels 2–3 are pending then.
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 600; i++) {
    const level = i < 400 ? 1 : 2 + (i % 2);
    const key = `m${i}`;
    sends.push(
      sendDelayed(client, first.addr, topic, key, level).then(({ res, sentAt }) => {
        assert.equal(res.code, ResponseCode.SUCCESS);
        sent.push({ key, level, sentAt });
      }),
    );
  }
  await Promise.all(sends);
  const before = new Collector(topic, 4);
  await before.until(client, first.addr, 1, 10_000);
  await kill9(first.child);

  const second = await spawnBroker(overrides);
  cleanups.push(() => kill9(second.child));
  const got = new Collector(topic, 4);
  await got.until(client, second.addr, 600, 60_000);
  checkDelivered(sent, got, table);
  t.diagnostic(
    `delivered ${got.distinct} distinct, ${got.duplicates} redelivered after the kill (at-least-once), ${before.distinct} seen before it`,
  );

  // A clean stop records all progress: a clean restart delivers nothing again.
  await stopClean(second.child);
  const offsetsFile = JSON.parse(await readFile(join(dir, "config", "delayOffset.json"), "utf8"));
  assert.deepEqual(
    [offsetsFile.offsetTable["1"], offsetsFile.offsetTable["2"], offsetsFile.offsetTable["3"]],
    [400, 100, 100],
    "every level's progress at the end of its queue",
  );
});
