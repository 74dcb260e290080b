import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createRequest, RequestCode, ResponseCode } from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import MQClient from "ali-ons/lib/mq_client.js";
import MQClientAPI from "ali-ons/lib/mq_client_api.js";
import type { NameServer } from "../src/index.js";
import { registerRequest, silentLogger, startNameServer, topicConfig } from "./helpers.js";

// The unmodified ali-ons client (the referee): its own MQClientAPI performs the route look-ups
// its producer and consumer make (GET_ROUTEINFO_BY_TOPIC, parsed with its JSON2 parser).

let ns: NameServer;
let broker: RemotingClient;
let api: MQClientAPI;
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} };

before(async () => {
  ns = await startNameServer();
  broker = new RemotingClient({ logger: silentLogger });
  const addr = `127.0.0.1:${ns.port}`;
  const res = await broker.invoke(
    addr,
    registerRequest({ brokerName: "broker-a", brokerAddr: "127.0.0.1:10911" }, [
      topicConfig("AliTopic", 8),
      topicConfig("TBW102", 8),
      topicConfig("ReadOnly", 2, 4),
    ]),
  );
  assert.equal(res.code, ResponseCode.SUCCESS);
  await broker.invoke(
    addr,
    registerRequest({ brokerName: "broker-a", brokerAddr: "127.0.0.1:10921", brokerId: 1 }, []),
  );
  api = new MQClientAPI({ nameSrv: addr, httpclient: {}, logger: quietLogger });
  api.on("error", () => {});
  await api.ready();
});

after(async () => {
  await api.close();
  await broker.close();
  await ns.stop();
});

test("ali-ons reads the route we registered and builds its publish and subscribe queues from it", async () => {
  const route = await api.getTopicRouteInfoFromNameServer("AliTopic", 3000);
  assert.deepEqual(route.queueDatas, [
    { brokerName: "broker-a", perm: 6, readQueueNums: 8, topicSysFlag: 0, writeQueueNums: 8 },
  ]);
  assert.deepEqual(route.brokerDatas, [
    {
      brokerAddrs: { "0": "127.0.0.1:10911", "1": "127.0.0.1:10921" },
      brokerName: "broker-a",
      cluster: "DefaultCluster",
    },
  ]);
  const proto = MQClient.prototype;
  const publish = proto._topicRouteData2TopicPublishInfo("AliTopic", route);
  assert.equal(publish.orderTopic, false);
  assert.deepEqual(
    publish.messageQueueList.map((q) => `${q.brokerName}/${q.queueId}`),
    [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `broker-a/${i}`),
  );
  assert.equal(proto._topicRouteData2TopicSubscribeInfo("AliTopic", route).length, 8);
  // A read-only topic: readable queues for consumers, none for producers.
  const ro = await api.getTopicRouteInfoFromNameServer("ReadOnly", 3000);
  assert.equal(proto._topicRouteData2TopicPublishInfo("ReadOnly", ro).messageQueueList.length, 0);
  assert.equal(proto._topicRouteData2TopicSubscribeInfo("ReadOnly", ro).length, 2);
});

test("ali-ons' default-topic look-up (TBW102) works too", async () => {
  const route = await api.getDefaultTopicRouteInfoFromNameServer("TBW102", 3000);
  assert.equal(route.queueDatas[0]?.writeQueueNums, 8);
  assert.equal(route.brokerDatas[0]?.brokerAddrs["0"], "127.0.0.1:10911");
});

test("ali-ons gets a clean TOPIC_NOT_EXIST (17) error for an unknown topic", async () => {
  await assert.rejects(
    api.getTopicRouteInfoFromNameServer("UnknownTopic", 3000),
    (err: Error & { code?: number }) => {
      assert.equal(err.name, "MQClientException");
      assert.equal(err.code, 17);
      assert.equal(err.message, "No topic route info in name server for the topic: UnknownTopic");
      return true;
    },
  );
});

test("ali-ons' code 217 call is answered at once with an error, not left to time out", async () => {
  const started = Date.now();
  await assert.rejects(
    api.getKVConfigByValue("PROJECT_CONFIG", "127.0.0.1", 3000),
    (err: Error & { code?: number }) => {
      assert.equal(err.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
      return true;
    },
  );
  assert.ok(Date.now() - started < 1500, "answered well before ali-ons' 3 s timeout");
});

test("ali-ons sees an orderTopicConf route when the NameServer enables order messages", async () => {
  const ordered = await startNameServer({ orderMessageEnable: true });
  const c = new RemotingClient({ logger: silentLogger });
  const client = new MQClientAPI({
    nameSrv: `127.0.0.1:${ordered.port}`,
    httpclient: {},
    logger: quietLogger,
  });
  client.on("error", () => {});
  try {
    const addr = `127.0.0.1:${ordered.port}`;
    await c.invoke(
      addr,
      registerRequest({ brokerName: "broker-o", brokerAddr: "127.0.0.1:10931" }, [topicConfig("Ord")]),
    );
    await c.invoke(
      addr,
      createRequest(RequestCode.PUT_KV_CONFIG, {
        namespace: "ORDER_TOPIC_CONFIG",
        key: "Ord",
        value: "broker-o:3",
      }),
    );
    await client.ready();
    const route = await client.getTopicRouteInfoFromNameServer("Ord", 3000);
    assert.equal(route.orderTopicConf, "broker-o:3");
    const publish = MQClient.prototype._topicRouteData2TopicPublishInfo("Ord", route);
    assert.equal(publish.orderTopic, true);
    assert.equal(publish.messageQueueList.length, 3);
  } finally {
    await client.close();
    await c.close();
    await ordered.stop();
  }
});

test("ali-ons reaches a NameServer on its default (dual-stack) host through localhost", async () => {
  const dual = await startNameServer({ host: undefined });
  const c = new RemotingClient({ logger: silentLogger });
  const client = new MQClientAPI({ nameSrv: `localhost:${dual.port}`, httpclient: {}, logger: quietLogger });
  client.on("error", () => {});
  try {
    await c.invoke(
      `127.0.0.1:${dual.port}`,
      registerRequest({ brokerName: "broker-l", brokerAddr: "127.0.0.1:10941" }, [topicConfig("LocalT", 4)]),
    );
    await client.ready();
    const route = await client.getTopicRouteInfoFromNameServer("LocalT", 3000);
    assert.equal(route.queueDatas[0]?.writeQueueNums, 4);
  } finally {
    await client.close();
    await c.close();
    await dual.stop();
  }
});
