import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createRequest,
  decodeMessage,
  decodeMessages,
  decodeObjectKeyMap,
  type MessageExt,
  type MessageQueue,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  type SubscriptionData,
  type TopicConfig,
} from "@tidemq/protocol";
import { createLogger, RemotingClient, RemotingServer } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import { type BrokerConfig, DEFAULT_BROKER_CONFIG } from "../src/BrokerConfig.js";
import { type ClientServices, createClientServices } from "../src/ClientServices.js";
import { CONSUMER_OFFSET_FILE } from "../src/ConsumerOffsetManager.js";
import type { BrokerContext, BrokerStats, TopicConfigManagerApi } from "../src/context.js";
import { newTopicConfig } from "../src/TopicConfigManager.js";
import { eventually, removeDir, tempDir } from "./helpers.js";

const logger = createLogger("client-processors-test", "silent");

/** Test scaffolding for the topic manager another module owns: an in-memory table. */
class TestTopics implements TopicConfigManagerApi {
  private readonly table = new Map<string, TopicConfig>();
  get(topic: string): TopicConfig | undefined {
    return this.table.get(topic);
  }
  all(): TopicConfig[] {
    return [...this.table.values()];
  }
  async upsert(config: TopicConfig): Promise<void> {
    this.table.set(config.topicName, config);
  }
  async delete(topic: string): Promise<void> {
    this.table.delete(topic);
  }
  async ensureSystemTopic(topic: string, queueNums: number, perm: number): Promise<TopicConfig> {
    const found = this.table.get(topic);
    if (found) return found;
    const config = newTopicConfig(topic, queueNums, perm);
    this.table.set(topic, config);
    return config;
  }
}

/** Counters only: the real BrokerStats belongs to another module. */
class CountingStats implements BrokerStats {
  puts = 0;
  gets = 0;
  recordPut(n: number): void {
    this.puts += n;
  }
  recordGet(n: number): void {
    this.gets += n;
  }
  putTps(): string {
    return "0 0 0";
  }
  getTps(): string {
    return "0 0 0";
  }
  putTotal(): number {
    return this.puts;
  }
  getTotal(): number {
    return this.gets;
  }
}

/** Requests a broker sent to one client, with a way to await the next matching one. */
class Inbox {
  readonly received: RemotingCommand[] = [];
  private waiters: Array<{ code: number; resolve: (c: RemotingCommand) => void }> = [];
  readonly handler = (request: RemotingCommand): undefined => {
    this.received.push(request);
    const i = this.waiters.findIndex((w) => w.code === request.code);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(request);
    return undefined;
  };
  next(code: number, timeoutMs = 5_000): Promise<RemotingCommand> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no request ${code} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        code,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
      });
    });
  }
}

function sub(topic: string, subString = "*", subVersion = Date.now()): SubscriptionData {
  return {
    topic,
    subString,
    tagsSet: subString === "*" ? [] : [subString],
    codeSet: [],
    subVersion,
    classFilterMode: false,
  };
}

function heartbeatBody(
  clientID: string,
  consumers: Array<{ group: string; subs: SubscriptionData[] }>,
  producers: string[] = [],
) {
  return Buffer.from(
    JSON.stringify({
      clientID,
      producerDataSet: producers.map((groupName) => ({ groupName })),
      consumerDataSet: consumers.map((c) => ({
        groupName: c.group,
        consumeType: "CONSUME_PASSIVELY",
        messageModel: "CLUSTERING",
        consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
        unitMode: false,
        subscriptionDataSet: c.subs,
      })),
    }),
  );
}

describe("client processors over TCP", () => {
  let dir: string;
  let server: RemotingServer;
  let store: MessageStore;
  let services: ClientServices;
  let config: BrokerConfig;
  let addr: string;
  const topics = new TestTopics();
  const stats = new CountingStats();
  const inbox1 = new Inbox();
  const inbox2 = new Inbox();
  let client1: RemotingClient;
  let client2: RemotingClient;
  let admin: RemotingClient;

  before(async () => {
    dir = await tempDir("client-proc");
    server = new RemotingServer({ port: 0, host: "127.0.0.1", logger });
    await server.start();
    addr = `127.0.0.1:${server.port}`;
    store = await MessageStore.open({
      storePathRootDir: join(dir, "store"),
      mappedFileSizeCommitLog: 1024 * 1024,
      storeHost: { host: "127.0.0.1", port: server.port },
      logger,
    });
    config = {
      ...DEFAULT_BROKER_CONFIG,
      brokerIP1: "127.0.0.1",
      listenPort: server.port,
      storePathRootDir: join(dir, "store"),
      flushConsumerOffsetInterval: 100,
    };
    services = await createClientServices({ configDir: join(dir, "config"), config, logger });
    const ctx: BrokerContext = {
      config,
      brokerAddr: addr,
      server,
      store,
      logger,
      topics,
      subscriptionGroups: services.subscriptionGroups,
      consumers: services.consumers,
      offsets: services.offsets,
      stats,
      bootTimestamp: Date.now(),
    };
    services.register(ctx);
    await topics.upsert(newTopicConfig("T", 2, 6));
    client1 = new RemotingClient({ onRequest: inbox1.handler, logger });
    client2 = new RemotingClient({ onRequest: inbox2.handler, logger });
    admin = new RemotingClient({ logger });
  });

  after(async () => {
    await Promise.allSettled([client1?.close(), client2?.close(), admin?.close()]);
    await services?.stop();
    await server?.stop();
    await store?.shutdown();
    await removeDir(dir);
  });

  const call = (client: RemotingClient, code: number, header?: object, body?: Buffer) =>
    client.invoke(addr, createRequest(code, header, body));

  async function put(topic: string, queueId: number, body: string, properties: Record<string, string> = {}) {
    return store.putMessage({
      topic,
      queueId,
      flag: 0,
      body: Buffer.from(body),
      properties,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { host: "127.0.0.1", port: 40000 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
    });
  }

  async function readQueue(topic: string, queueId: number): Promise<MessageExt[]> {
    const r = await store.getMessage(topic, queueId, 0, 32);
    return r.status === "FOUND" ? decodeMessages(r.body) : [];
  }

  test("heartbeat, consumer list, NOTIFY_CONSUMER_IDS_CHANGED, connection list with conflicts, unregister", async () => {
    const hb2 = await call(
      client2,
      RequestCode.HEART_BEAT,
      undefined,
      heartbeatBody("10.0.0.2@2", [{ group: "G1", subs: [sub("T"), sub("%RETRY%G1")] }]),
    );
    assert.equal(hb2.code, ResponseCode.SUCCESS, hb2.remark);
    assert.equal(topics.get("%RETRY%G1")?.readQueueNums, 1, "heartbeat creates the retry topic");
    assert.ok(services.subscriptionGroups.get("G1"), "the group was auto-created");

    const notified = inbox2.next(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED);
    const hb1 = await call(
      client1,
      RequestCode.HEART_BEAT,
      undefined,
      heartbeatBody("10.0.0.1@1", [{ group: "G1", subs: [sub("T"), sub("%RETRY%G1")] }]),
    );
    assert.equal(hb1.code, ResponseCode.SUCCESS, hb1.remark);
    const notice = await notified;
    assert.equal(notice.extFields?.consumerGroup, "G1");

    const list = await call(client1, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "G1" });
    assert.equal(list.code, ResponseCode.SUCCESS);
    assert.deepEqual(JSON.parse(list.body!.toString()).consumerIdList.sort(), ["10.0.0.1@1", "10.0.0.2@2"]);

    let conn = await call(admin, RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: "G1" });
    assert.equal(conn.code, ResponseCode.SUCCESS);
    let body = JSON.parse(conn.body!.toString());
    assert.equal(body.connectionSet.length, 2);
    assert.match(body.connectionSet[0].clientAddr, /^127\.0\.0\.1:\d+$/);
    assert.equal(body.connectionSet[0].version, 409);
    assert.equal(body.messageModel, "CLUSTERING");
    assert.deepEqual(Object.keys(body.subscriptionTable).sort(), ["%RETRY%G1", "T"]);
    assert.deepEqual(body.subscriptionConflicts, []);

    // client1 changes its tag filter: a conflict, reported in the connection list.
    await call(
      client1,
      RequestCode.HEART_BEAT,
      undefined,
      heartbeatBody("10.0.0.1@1", [{ group: "G1", subs: [sub("T", "TagA"), sub("%RETRY%G1")] }]),
    );
    conn = await call(admin, RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: "G1" });
    body = JSON.parse(conn.body!.toString());
    assert.equal(body.subscriptionConflicts.length, 1);
    assert.equal(body.subscriptionConflicts[0].kind, "EXPRESSION");
    assert.equal(body.subscriptionConflicts[0].topic, "T");
    assert.match(body.subscriptionConflicts[0].description, /10\.0\.0\.1@1 "TagA"/);

    // client1 leaves: client2 hears of it, the list shrinks.
    const left = inbox2.next(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED);
    const un = await call(client1, RequestCode.UNREGISTER_CLIENT, {
      clientID: "10.0.0.1@1",
      consumerGroup: "G1",
    });
    assert.equal(un.code, ResponseCode.SUCCESS);
    await left;
    const list2 = await call(client1, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "G1" });
    assert.deepEqual(JSON.parse(list2.body!.toString()).consumerIdList, ["10.0.0.2@2"]);

    // client2's connection closes: the group is gone at once, not after 120 s.
    client2.closeConnection(addr);
    await eventually(
      () => services.consumers.getGroup("G1") === undefined,
      "the closed connection to leave G1",
    );
    const none = await call(client1, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "G1" });
    assert.equal(none.code, ResponseCode.SYSTEM_ERROR);
    assert.equal(none.remark, "no consumer for this group, G1");
    const offline = await call(admin, RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: "G1" });
    assert.equal(offline.code, ResponseCode.CONSUMER_NOT_ONLINE);
  });

  test("producer heartbeat and producer connection list", async () => {
    const hb = await call(
      client1,
      RequestCode.HEART_BEAT,
      undefined,
      heartbeatBody("10.0.0.1@1", [], ["PG1"]),
    );
    assert.equal(hb.code, ResponseCode.SUCCESS);
    const list = await call(admin, RequestCode.GET_PRODUCER_CONNECTION_LIST, { producerGroup: "PG1" });
    assert.equal(list.code, ResponseCode.SUCCESS);
    assert.deepEqual(
      JSON.parse(list.body!.toString()).connectionSet.map((c: { clientId: string }) => c.clientId),
      ["10.0.0.1@1"],
    );
    const unknown = await call(admin, RequestCode.GET_PRODUCER_CONNECTION_LIST, { producerGroup: "nobody" });
    assert.equal(unknown.code, ResponseCode.SYSTEM_ERROR);
  });

  test("bad input is answered with an error and the broker keeps serving", async () => {
    const badGroup = await call(
      client1,
      RequestCode.HEART_BEAT,
      undefined,
      heartbeatBody("x@1", [{ group: "bad group", subs: [] }]),
    );
    assert.equal(badGroup.code, ResponseCode.SYSTEM_ERROR);
    assert.match(badGroup.remark ?? "", /invalid group name "bad group"/);
    const badBody = await call(client1, RequestCode.HEART_BEAT, undefined, Buffer.from("{not json"));
    assert.equal(badBody.code, ResponseCode.SYSTEM_ERROR);
    const missing = await call(client1, RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: "G",
      topic: "T",
    });
    assert.equal(missing.code, ResponseCode.SYSTEM_ERROR);
    assert.match(missing.remark ?? "", /queueId/);
    const badNumber = await call(client1, RequestCode.GET_MAX_OFFSET, { topic: "T", queueId: "zero" });
    assert.equal(badNumber.code, ResponseCode.SYSTEM_ERROR);
    const ok = await call(client1, RequestCode.GET_MAX_OFFSET, { topic: "T", queueId: 0 });
    assert.equal(ok.code, ResponseCode.SUCCESS);
  });

  test("consumer offsets: the 4.7 rule for new groups, commit (also -1 and oneway), persistence", async () => {
    const fresh = await call(client1, RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: "GO",
      topic: "T",
      queueId: 1,
    });
    assert.equal(fresh.code, ResponseCode.SUCCESS, "min offset 0 and nothing committed → 0");
    assert.equal(fresh.extFields?.offset, "0");
    const notFound = await call(client1, RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: "GO",
      topic: "T",
      queueId: 1,
      setZeroIfNotFound: false,
    });
    assert.equal(notFound.code, ResponseCode.QUERY_NOT_FOUND);
    assert.equal(notFound.remark, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first");

    const upd = await call(client1, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: "GO",
      topic: "T",
      queueId: 0,
      commitOffset: 3,
    });
    assert.equal(upd.code, ResponseCode.SUCCESS, "answered although ali-ons sends it with flag 0");
    const q = await call(client1, RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: "GO",
      topic: "T",
      queueId: 0,
    });
    assert.equal(q.extFields?.offset, "3");

    await call(client1, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: "GO",
      topic: "T",
      queueId: 1,
      commitOffset: -1,
    });
    const minus = await call(client1, RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: "GO",
      topic: "T",
      queueId: 1,
    });
    assert.equal(minus.code, ResponseCode.SUCCESS, "-1 counts as nothing committed");
    assert.equal(minus.extFields?.offset, "0");

    await client1.invokeOneway(
      addr,
      createRequest(
        RequestCode.UPDATE_CONSUMER_OFFSET,
        { consumerGroup: "GO", topic: "T", queueId: 1, commitOffset: 8 },
        undefined,
        {
          oneway: true,
        },
      ),
    );
    await eventually(() => services.offsets.query("GO", "T", 1) === 8, "the oneway commit");

    // The periodic flush writes the file (flushConsumerOffsetInterval = 100 ms here).
    const file = join(dir, "config", CONSUMER_OFFSET_FILE);
    await eventually(async () => {
      try {
        const table = JSON.parse(await readFile(file, "utf8")).offsetTable;
        return table["T@GO"]?.["0"] === 3 && table["T@GO"]?.["1"] === 8;
      } catch {
        return false;
      }
    }, "consumerOffset.json to hold the commits");
    // A second set of services over the same directory (a restarted broker) sees them.
    const reloaded = await createClientServices({ configDir: join(dir, "config"), config, logger });
    assert.equal(reloaded.offsets.query("GO", "T", 0), 3);
    assert.equal(reloaded.offsets.query("GO", "T", 1), 8);
    await reloaded.stop();
  });

  test("max/min offset, earliest store time, search by timestamp, view by id, query by key", async () => {
    const before = Date.now();
    const r1 = await put("TQ", 0, "first", {
      TAGS: "A",
      KEYS: "order-1 extra",
      UNIQ_KEY: "UNIQ0000000000000000000000000001",
    });
    await new Promise((r) => setTimeout(r, 5));
    const middle = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await put("TQ", 0, "second", { TAGS: "B", KEYS: "order-2" });
    await eventually(() => store.getMaxOffsetInQueue("TQ", 0) === 2, "two messages in TQ");

    const max = await call(client1, RequestCode.GET_MAX_OFFSET, { topic: "TQ", queueId: 0 });
    assert.equal(max.extFields?.offset, "2");
    const min = await call(client1, RequestCode.GET_MIN_OFFSET, { topic: "TQ", queueId: 0 });
    assert.equal(min.extFields?.offset, "0");
    const emptyMax = await call(client1, RequestCode.GET_MAX_OFFSET, { topic: "NOPE", queueId: 3 });
    assert.equal(emptyMax.code, ResponseCode.SUCCESS);
    assert.equal(emptyMax.extFields?.offset, "0");
    const earliest = await call(client1, RequestCode.GET_EARLIEST_MSG_STORETIME, { topic: "TQ", queueId: 0 });
    assert.equal(earliest.extFields?.timestamp, String(r1.storeTimestamp));
    assert.ok(r1.storeTimestamp >= before);
    const search = async (timestamp: number) =>
      (await call(client1, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: "TQ", queueId: 0, timestamp }))
        .extFields?.offset;
    assert.equal(await search(before - 1000), "0");
    assert.equal(await search(middle), "1", "first message stored at or after the time");
    assert.equal(await search(Date.now() + 60_000), "2", "all older: max offset");

    const view = await call(admin, RequestCode.VIEW_MESSAGE_BY_ID, { offset: r1.commitLogOffset });
    assert.equal(view.code, ResponseCode.SUCCESS);
    const viewed = decodeMessage(view.body!);
    assert.equal(viewed.body.toString(), "first");
    assert.equal(viewed.msgId, r1.msgIds[0]);
    const badView = await call(admin, RequestCode.VIEW_MESSAGE_BY_ID, { offset: 999_999_999 });
    assert.equal(badView.code, ResponseCode.SYSTEM_ERROR);
    assert.equal(badView.remark, "can not find message by the offset, 999999999");

    const byKey = (key: string, extra: object = {}) =>
      call(admin, RequestCode.QUERY_MESSAGE, {
        topic: "TQ",
        key,
        maxNum: 64,
        beginTimestamp: 0,
        endTimestamp: "9223372036854775807",
        ...extra,
      });
    let found!: RemotingCommand;
    await eventually(async () => {
      found = await byKey("order-1");
      return found.code === ResponseCode.SUCCESS;
    }, "the index to hold order-1");
    assert.deepEqual(
      decodeMessages(found.body!).map((m) => m.body.toString()),
      ["first"],
    );
    assert.ok(found.extFields?.indexLastUpdateTimestamp !== undefined);
    assert.ok(found.extFields?.indexLastUpdatePhyoffset !== undefined);
    const uniq = await byKey("UNIQ0000000000000000000000000001", { _UNIQUE_KEY_QUERY: "true" });
    assert.equal(uniq.code, ResponseCode.SUCCESS);
    const none = await byKey("no-such-key");
    assert.equal(none.code, ResponseCode.QUERY_NOT_FOUND);
    assert.equal(none.remark, "can not find message, maybe time range not correct");
    const outOfRange = await call(admin, RequestCode.QUERY_MESSAGE, {
      topic: "TQ",
      key: "order-1",
      maxNum: 64,
      beginTimestamp: Date.now() + 3_600_000,
      endTimestamp: Date.now() + 7_200_000,
    });
    assert.equal(outOfRange.code, ResponseCode.QUERY_NOT_FOUND);
  });

  test("send-back: retry copy with DELAY, then the DLQ after max reconsumes or on request", async () => {
    const original = await put("T", 0, "payload", { TAGS: "A", KEYS: "k" });
    const back = (offset: number, extra: object = {}) =>
      call(client1, RequestCode.CONSUMER_SEND_MSG_BACK, {
        offset,
        group: "GS",
        delayLevel: 0,
        originTopic: "T",
        ...extra,
      });
    const r = await back(original.commitLogOffset, { maxReconsumeTimes: 2 });
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    assert.equal(topics.get("%RETRY%GS")?.writeQueueNums, 1);
    await eventually(async () => (await readQueue("%RETRY%GS", 0)).length === 1, "the retry copy");
    const retry = (await readQueue("%RETRY%GS", 0))[0]!;
    assert.equal(retry.body.toString(), "payload");
    assert.equal(retry.reconsumeTimes, 1);
    assert.equal(retry.properties.RETRY_TOPIC, "T");
    assert.equal(retry.properties.DELAY, "3", "level 3 + reconsumeTimes 0");
    assert.equal(retry.properties.ORIGIN_MESSAGE_ID, original.msgIds[0]);
    assert.equal(retry.properties.KEYS, "k");

    // Second failure: reconsumeTimes 1 < 2 → retry again at level 4.
    assert.equal((await back(retry.commitLogOffset, { maxReconsumeTimes: 2 })).code, ResponseCode.SUCCESS);
    await eventually(async () => (await readQueue("%RETRY%GS", 0)).length === 2, "the second retry copy");
    const retry2 = (await readQueue("%RETRY%GS", 0))[1]!;
    assert.equal(retry2.reconsumeTimes, 2);
    assert.equal(retry2.properties.DELAY, "4");

    // Third failure: reconsumeTimes 2 ≥ 2 → DLQ, original topic and id kept, no DELAY.
    assert.equal((await back(retry2.commitLogOffset, { maxReconsumeTimes: 2 })).code, ResponseCode.SUCCESS);
    await eventually(async () => (await readQueue("%DLQ%GS", 0)).length === 1, "the DLQ copy");
    const dead = (await readQueue("%DLQ%GS", 0))[0]!;
    assert.equal(dead.properties.RETRY_TOPIC, "T");
    assert.equal(dead.properties.ORIGIN_MESSAGE_ID, original.msgIds[0]);
    assert.equal(dead.properties.DELAY, undefined);
    assert.equal(dead.reconsumeTimes, 3);

    // delayLevel < 0: straight to the DLQ.
    assert.equal((await back(original.commitLogOffset, { delayLevel: -1 })).code, ResponseCode.SUCCESS);
    await eventually(async () => (await readQueue("%DLQ%GS", 0)).length === 2, "the second DLQ copy");

    const missing = await back(999_999_999);
    assert.equal(missing.code, ResponseCode.SYSTEM_ERROR);
    assert.equal(missing.remark, "look message by offset failed, 999999999");
  });

  test("consume stats, consumed-by-who, subscription group admin", async () => {
    await topics.upsert(newTopicConfig("TS", 2, 6));
    for (let i = 0; i < 3; i++) await put("TS", 0, `m${i}`);
    await eventually(() => store.getMaxOffsetInQueue("TS", 0) === 3, "three messages in TS");
    await call(client1, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: "GC",
      topic: "TS",
      queueId: 0,
      commitOffset: 2,
    });
    const res = await call(admin, RequestCode.GET_CONSUME_STATS, { consumerGroup: "GC", topic: "TS" });
    assert.equal(res.code, ResponseCode.SUCCESS);
    const text = res.body!.toString();
    assert.match(text, /"consumeTps":/);
    const table = decodeObjectKeyMap<
      MessageQueue,
      { brokerOffset: number; consumerOffset: number; lastTimestamp: number }
    >(text.slice(text.indexOf('"offsetTable":') + '"offsetTable":'.length));
    assert.equal(table.length, 2);
    const q0 = table.find(([mq]) => mq.queueId === 0)!;
    assert.deepEqual(q0[0], { brokerName: config.brokerName, queueId: 0, topic: "TS" });
    assert.equal(q0[1].brokerOffset, 3);
    assert.equal(q0[1].consumerOffset, 2);
    assert.ok(q0[1].lastTimestamp > 0, "store time of the message at consumerOffset - 1");
    const q1 = table.find(([mq]) => mq.queueId === 1)!;
    assert.deepEqual(q1[1], { brokerOffset: 0, consumerOffset: 0, lastTimestamp: 0 });
    // Without a topic: every topic the group has offsets for.
    const all = await call(admin, RequestCode.GET_CONSUME_STATS, { consumerGroup: "GC" });
    assert.match(all.body!.toString(), /"topic":"TS"/);

    const who = await call(admin, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic: "TS" });
    assert.deepEqual(JSON.parse(who.body!.toString()).groupList, ["GC"]);

    const create = await call(
      admin,
      RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
      undefined,
      Buffer.from(JSON.stringify({ groupName: "GADMIN", retryMaxTimes: 5, consumeBroadcastEnable: false })),
    );
    assert.equal(create.code, ResponseCode.SUCCESS, create.remark);
    const groups = await call(admin, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG);
    const parsed = JSON.parse(groups.body!.toString());
    assert.equal(parsed.subscriptionGroupTable.GADMIN.retryMaxTimes, 5);
    assert.equal(parsed.subscriptionGroupTable.GADMIN.consumeBroadcastEnable, false);
    assert.ok(Number.isInteger(parsed.dataVersion.counter));
    const badCreate = await call(
      admin,
      RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
      undefined,
      Buffer.from('{"groupName":"a b"}'),
    );
    assert.equal(badCreate.code, ResponseCode.SYSTEM_ERROR);
    const del = await call(admin, RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName: "GADMIN" });
    assert.equal(del.code, ResponseCode.SUCCESS);
    assert.equal(services.subscriptionGroups.get("GADMIN"), undefined);
  });

  test("reset offset by time: written by the broker when nobody is online, relayed to online consumers", async () => {
    await topics.upsert(newTopicConfig("TR", 1, 6));
    await put("TR", 0, "a");
    await new Promise((r) => setTimeout(r, 5));
    const mid = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await put("TR", 0, "b");
    await put("TR", 0, "c");
    await eventually(() => store.getMaxOffsetInQueue("TR", 0) === 3, "three messages in TR");
    await call(client1, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: "GR",
      topic: "TR",
      queueId: 0,
      commitOffset: 3,
    });

    const reset = await call(admin, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, {
      topic: "TR",
      group: "GR",
      timestamp: mid,
      isForce: false,
    });
    assert.equal(reset.code, ResponseCode.SUCCESS, reset.remark);
    const table = decodeObjectKeyMap<MessageQueue, number>(
      reset.body!.toString().slice('{"offsetTable":'.length),
    );
    assert.deepEqual(table, [[{ brokerName: config.brokerName, queueId: 0, topic: "TR" }, 1]]);
    assert.equal(services.offsets.query("GR", "TR", 0), 1, "no consumer online: the broker stored it");

    // With a consumer online the broker tells it (RESET_CONSUMER_CLIENT_OFFSET, 220).
    await call(
      client1,
      RequestCode.HEART_BEAT,
      undefined,
      heartbeatBody("10.0.0.1@1", [{ group: "GR", subs: [sub("TR")] }]),
    );
    const told = inbox1.next(RequestCode.RESET_CONSUMER_CLIENT_OFFSET);
    const reset2 = await call(admin, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, {
      topic: "TR",
      group: "GR",
      timestamp: -1,
      isForce: true,
    });
    assert.equal(reset2.code, ResponseCode.SUCCESS);
    const notice = await told;
    assert.equal(notice.extFields?.group, "GR");
    assert.deepEqual(decodeObjectKeyMap(notice.body!.toString().slice('{"offsetTable":'.length)), [
      [{ brokerName: config.brokerName, queueId: 0, topic: "TR" }, 3],
    ]);

    const unknownTopic = await call(admin, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, {
      topic: "NOPE",
      group: "GR",
      timestamp: -1,
      isForce: true,
    });
    assert.equal(unknownTopic.code, ResponseCode.SYSTEM_ERROR);
    const unknownGroup = await call(admin, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, {
      topic: "TR",
      group: "NOGROUP",
      timestamp: -1,
      isForce: true,
    });
    assert.equal(unknownGroup.code, ResponseCode.SYSTEM_ERROR);
    assert.equal(unknownGroup.remark, "THe consumer group <NOGROUP> not exist");
  });

  test("CHECK_CLIENT_CONFIG: TAG always, SQL92 only with enablePropertyFilter", async () => {
    const check = (expressionType: string) =>
      call(
        client1,
        RequestCode.CHECK_CLIENT_CONFIG,
        undefined,
        Buffer.from(
          JSON.stringify({
            clientId: "c",
            group: "G",
            subscriptionData: { ...sub("T", "a > 1"), expressionType },
          }),
        ),
      );
    assert.equal((await check("TAG")).code, ResponseCode.SUCCESS);
    assert.equal((await check("SQL92")).code, ResponseCode.SUCCESS);
    config.enablePropertyFilter = false;
    try {
      const off = await check("SQL92");
      assert.equal(off.code, ResponseCode.SYSTEM_ERROR);
      assert.match(off.remark ?? "", /enablePropertyFilter/);
    } finally {
      config.enablePropertyFilter = true;
    }
  });
});

test("a client silent for channelExpiredTimeout is dropped, the group notified, its connection closed", async () => {
  const dir = await tempDir("client-expiry");
  const server = new RemotingServer({ port: 0, host: "127.0.0.1", logger });
  const inbox = new Inbox();
  const quiet = new RemotingClient({ logger });
  const lively = new RemotingClient({ onRequest: inbox.handler, logger });
  let store: MessageStore | undefined;
  let services: ClientServices | undefined;
  let beat: NodeJS.Timeout | undefined;
  try {
    await server.start();
    const addr = `127.0.0.1:${server.port}`;
    store = await MessageStore.open({
      storePathRootDir: join(dir, "store"),
      mappedFileSizeCommitLog: 1024 * 1024,
      storeHost: { host: "127.0.0.1", port: server.port },
      logger,
    });
    const config: BrokerConfig = {
      ...DEFAULT_BROKER_CONFIG,
      brokerIP1: "127.0.0.1",
      channelExpiredTimeout: 400,
    };
    services = await createClientServices({ configDir: join(dir, "config"), config, logger });
    services.register({
      config,
      brokerAddr: addr,
      server,
      store,
      logger,
      topics: new TestTopics(),
      subscriptionGroups: services.subscriptionGroups,
      consumers: services.consumers,
      offsets: services.offsets,
      stats: new CountingStats(),
      bootTimestamp: Date.now(),
    });
    const heartbeat = (client: RemotingClient, id: string) =>
      client.invoke(
        addr,
        createRequest(
          RequestCode.HEART_BEAT,
          undefined,
          heartbeatBody(id, [{ group: "GE", subs: [sub("T", "*", 1)] }]),
        ),
      );
    assert.equal((await heartbeat(quiet, "10.0.0.1@quiet")).code, ResponseCode.SUCCESS);
    assert.equal((await heartbeat(lively, "10.0.0.2@lively")).code, ResponseCode.SUCCESS);
    assert.equal(services.consumers.getGroup("GE")?.channels.size, 2);
    const quietConn = [...services.consumers.getGroup("GE")!.channels].find(
      ([, i]) => i.clientId === "10.0.0.1@quiet",
    )![0];
    // Only the lively client keeps beating; the quiet one expires.
    const notified = inbox.next(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, 5_000);
    beat = setInterval(() => heartbeat(lively, "10.0.0.2@lively").catch(() => undefined), 100);
    await eventually(() => quietConn.closed, "the broker to close the silent connection");
    await notified;
    const list = await lively.invoke(
      addr,
      createRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "GE" }),
    );
    assert.deepEqual(JSON.parse(list.body!.toString()).consumerIdList, ["10.0.0.2@lively"]);
    clearInterval(beat);
    beat = undefined;
    await eventually(
      () => services!.consumers.getGroup("GE") === undefined,
      "the lively client to expire too",
    );
  } finally {
    if (beat) clearInterval(beat);
    await Promise.allSettled([quiet.close(), lively.close()]);
    await services?.stop();
    await server.stop();
    await store?.shutdown();
    await removeDir(dir);
  }
});
