import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { deflateSync } from "node:zlib";
import {
  bodyCrc,
  type ClusterInfo,
  createRequest,
  decodeJson,
  encodeJson,
  type KVTable,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  type TopicList,
  type TopicRouteData,
} from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { MAX_INFLATED_REGISTER_BODY, type NameServer } from "../src/index.js";
import { registerRequest, silentLogger, startNameServer, topicConfig, waitFor } from "./helpers.js";

let ns: NameServer;
let client: RemotingClient;
let addr: string;

before(async () => {
  ns = await startNameServer();
  client = new RemotingClient({ logger: silentLogger });
  addr = `127.0.0.1:${ns.port}`;
});

after(async () => {
  await client.close();
  await ns.stop();
});

const call = (req: RemotingCommand) => client.invoke(addr, req, 3000);
const route = (topic: string) => call(createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }));

test("a broker registered with a JSON body is returned by GET_ROUTEINFO_BY_TOPIC in RocketMQ's shape", async () => {
  const res = await call(
    registerRequest({ brokerName: "json-a", brokerAddr: "10.1.0.1:10911" }, [topicConfig("JsonTopic", 8)]),
  );
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  const r = await route("JsonTopic");
  assert.equal(r.code, ResponseCode.SUCCESS);
  assert.equal(
    r.body?.toString("utf8"),
    '{"brokerDatas":[{"brokerAddrs":{"0":"10.1.0.1:10911"},"brokerName":"json-a","cluster":"DefaultCluster"}],' +
      '"filterServerTable":{},' +
      '"queueDatas":[{"brokerName":"json-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}',
  );
});

test("a compressed registration body with a matching bodyCrc32 registers its topics", async () => {
  const probe = registerRequest(
    { brokerName: "zip-a", brokerAddr: "10.1.0.2:10911" },
    [topicConfig("ZipTopic", 4)],
    {
      compressed: true,
    },
  );
  const crc = bodyCrc(probe.body!);
  const res = await call(
    registerRequest({ brokerName: "zip-a", brokerAddr: "10.1.0.2:10911" }, [topicConfig("ZipTopic", 4)], {
      compressed: true,
      crc,
    }),
  );
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  const r = await route("ZipTopic");
  const data = decodeJson<TopicRouteData>(r.body, "route");
  assert.deepEqual(data.queueDatas, [
    { brokerName: "zip-a", perm: 6, readQueueNums: 4, topicSysFlag: 0, writeQueueNums: 4 },
  ]);
  assert.deepEqual(data.brokerDatas[0]?.brokerAddrs, { "0": "10.1.0.2:10911" });
});

test("a body whose CRC does not match is refused with SYSTEM_ERROR crc32 not match", async () => {
  const res = await call(
    registerRequest({ brokerName: "crc-a", brokerAddr: "10.1.0.3:10911" }, [topicConfig("CrcTopic")], {
      crc: 12345,
    }),
  );
  assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
  assert.equal(res.remark, "crc32 not match");
  assert.equal((await route("CrcTopic")).code, ResponseCode.TOPIC_NOT_EXIST);
});

test("a compressed body that is not deflate data is answered SYSTEM_ERROR", async () => {
  const req = registerRequest({ brokerName: "bad-zip", brokerAddr: "10.1.0.4:10911" }, []);
  req.extFields!.compressed = "true";
  req.body = Buffer.from("definitely not zlib");
  const res = await call(req);
  assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
  assert.match(res.remark ?? "", /inflate/);
});

test("a compressed body that inflates beyond the limit is refused, not expanded", async () => {
  // 65 MiB of zeros deflates to ~65 KiB: a small frame that would otherwise become a huge buffer.
  const req = registerRequest({ brokerName: "bomb", brokerAddr: "10.1.0.5:10911" }, []);
  req.extFields!.compressed = "true";
  req.body = deflateSync(Buffer.alloc(MAX_INFLATED_REGISTER_BODY + 1024 * 1024));
  assert.ok(req.body.length < 1024 * 1024);
  // The server inflates up to the limit before it can tell: 64 MiB of zlib work, which took 2.3 s
  // on a 2-core machine at load 16, close to `call`'s 3 s. The refusal is what is tested here,
  // not its speed.
  const res = await client.invoke(addr, req, 30_000);
  assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
  assert.match(res.remark ?? "", /does not inflate within/);
  assert.equal((await call(createRequest(RequestCode.GET_BROKER_CLUSTER_INFO))).code, ResponseCode.SUCCESS);
});

test("an unknown topic gets TOPIC_NOT_EXIST with RocketMQ's remark", async () => {
  const r = await route("NoSuchTopic");
  assert.equal(r.code, ResponseCode.TOPIC_NOT_EXIST);
  assert.equal(r.remark, "No topic route info in name server for the topic: NoSuchTopic");
});

test("a slave registration answers with its master's addresses and the ORDER_TOPIC_CONFIG table", async () => {
  await call(registerRequest({ brokerName: "ms-a", brokerAddr: "10.2.0.1:10911" }, [topicConfig("MsTopic")]));
  await call(
    createRequest(RequestCode.PUT_KV_CONFIG, {
      namespace: "ORDER_TOPIC_CONFIG",
      key: "MsTopic",
      value: "ms-a:8",
    }),
  );
  const res = await call(
    registerRequest({ brokerName: "ms-a", brokerAddr: "10.2.0.2:10911", brokerId: 1 }, [
      topicConfig("MsTopic"),
    ]),
  );
  assert.equal(res.code, ResponseCode.SUCCESS);
  assert.equal(res.extFields?.masterAddr, "10.2.0.1:10911");
  assert.equal(res.extFields?.haServerAddr, "10.2.0.1:10912");
  assert.equal(decodeJson<KVTable>(res.body, "kv").table.MsTopic, "ms-a:8");
  const data = decodeJson<TopicRouteData>((await route("MsTopic")).body, "route");
  assert.deepEqual(data.brokerDatas[0]?.brokerAddrs, { "0": "10.2.0.1:10911", "1": "10.2.0.2:10911" });
  // orderMessageEnable is off by default: no orderTopicConf in the route.
  assert.equal(data.orderTopicConf, undefined);
  await call(
    createRequest(RequestCode.DELETE_KV_CONFIG, { namespace: "ORDER_TOPIC_CONFIG", key: "MsTopic" }),
  );
});

test("cluster info, topic lists and the system topic list reflect registrations", async () => {
  await call(
    registerRequest({ clusterName: "ListCluster", brokerName: "list-a", brokerAddr: "10.3.0.1:10911" }, [
      topicConfig("ListT1"),
      topicConfig("ListT2"),
    ]),
  );
  const info = decodeJson<ClusterInfo>(
    (await call(createRequest(RequestCode.GET_BROKER_CLUSTER_INFO))).body,
    "ci",
  );
  assert.deepEqual(info.clusterAddrTable.ListCluster, ["list-a"]);
  assert.deepEqual(info.brokerAddrTable["list-a"], {
    brokerAddrs: { "0": "10.3.0.1:10911" },
    brokerName: "list-a",
    cluster: "ListCluster",
  });
  const all = decodeJson<TopicList>(
    (await call(createRequest(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER))).body,
    "all",
  );
  assert.ok(all.topicList.includes("ListT1") && all.topicList.includes("ListT2"));
  const byCluster = decodeJson<TopicList>(
    (await call(createRequest(RequestCode.GET_TOPICS_BY_CLUSTER, { cluster: "ListCluster" }))).body,
    "by cluster",
  );
  assert.deepEqual(byCluster.topicList.sort(), ["ListT1", "ListT2"]);
  const sys = decodeJson<TopicList>(
    (await call(createRequest(RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS))).body,
    "sys",
  );
  assert.ok(sys.topicList.includes("ListCluster") && sys.topicList.includes("list-a"));
  assert.equal(typeof sys.brokerAddr, "string");
});

test("QUERY_DATA_VERSION says whether the broker's data version changed", async () => {
  const b = { brokerName: "dv-a", brokerAddr: "10.4.0.1:10911" };
  await call(registerRequest(b, [topicConfig("DvTopic")], { counter: 7 }));
  const header = { ...b, clusterName: "DefaultCluster", brokerId: 0 };
  const same = await call(
    createRequest(
      RequestCode.QUERY_DATA_VERSION,
      header,
      encodeJson({ timestamp: 1_700_000_000_000, counter: 7 }),
    ),
  );
  assert.equal(same.code, ResponseCode.SUCCESS);
  assert.equal(same.extFields?.changed, "false");
  assert.deepEqual(decodeJson(same.body, "dv"), { timestamp: 1_700_000_000_000, counter: 7 });
  const other = await call(
    createRequest(
      RequestCode.QUERY_DATA_VERSION,
      header,
      encodeJson({ timestamp: 1_700_000_000_000, counter: 8 }),
    ),
  );
  assert.equal(other.extFields?.changed, "true");
});

test("UNREGISTER_BROKER removes the broker and its routes", async () => {
  const b = { brokerName: "unreg-a", brokerAddr: "10.5.0.1:10911" };
  await call(registerRequest(b, [topicConfig("UnregTopic")]));
  assert.equal((await route("UnregTopic")).code, ResponseCode.SUCCESS);
  const res = await call(
    createRequest(RequestCode.UNREGISTER_BROKER, { ...b, clusterName: "DefaultCluster", brokerId: 0 }),
  );
  assert.equal(res.code, ResponseCode.SUCCESS);
  assert.equal((await route("UnregTopic")).code, ResponseCode.TOPIC_NOT_EXIST);
});

test("DELETE_TOPIC_IN_NAMESRV removes a topic's route; deleting an unknown topic succeeds", async () => {
  await call(
    registerRequest({ brokerName: "del-a", brokerAddr: "10.6.0.1:10911" }, [topicConfig("DelTopic")]),
  );
  assert.equal(
    (await call(createRequest(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: "DelTopic" }))).code,
    ResponseCode.SUCCESS,
  );
  assert.equal((await route("DelTopic")).code, ResponseCode.TOPIC_NOT_EXIST);
  assert.equal(
    (await call(createRequest(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: "Never", clusterName: "X" })))
      .code,
    ResponseCode.SUCCESS,
  );
});

test("KV config codes: put, get, list by namespace, delete, not found", async () => {
  const put = (key: string, value: string) =>
    call(createRequest(RequestCode.PUT_KV_CONFIG, { namespace: "kvtest", key, value }));
  assert.equal((await put("a", "1")).code, ResponseCode.SUCCESS);
  assert.equal((await put("b", "2")).code, ResponseCode.SUCCESS);
  const got = await call(createRequest(RequestCode.GET_KV_CONFIG, { namespace: "kvtest", key: "a" }));
  assert.equal(got.code, ResponseCode.SUCCESS);
  assert.equal(got.extFields?.value, "1");
  const list = await call(createRequest(RequestCode.GET_KVLIST_BY_NAMESPACE, { namespace: "kvtest" }));
  assert.deepEqual(decodeJson<KVTable>(list.body, "kv"), { table: { a: "1", b: "2" } });
  await call(createRequest(RequestCode.DELETE_KV_CONFIG, { namespace: "kvtest", key: "a" }));
  const missing = await call(createRequest(RequestCode.GET_KV_CONFIG, { namespace: "kvtest", key: "a" }));
  assert.equal(missing.code, ResponseCode.QUERY_NOT_FOUND);
  assert.equal(missing.remark, "No config item, Namespace: kvtest Key: a");
  const none = await call(createRequest(RequestCode.GET_KVLIST_BY_NAMESPACE, { namespace: "empty-ns" }));
  assert.equal(none.code, ResponseCode.QUERY_NOT_FOUND);
});

test("WIPE and ADD write permission report how many topics changed", async () => {
  await call(
    registerRequest({ brokerName: "perm-a", brokerAddr: "10.7.0.1:10911" }, [
      topicConfig("PermT1"),
      topicConfig("PermT2"),
    ]),
  );
  const wipe = await call(createRequest(RequestCode.WIPE_WRITE_PERM_OF_BROKER, { brokerName: "perm-a" }));
  assert.equal(wipe.extFields?.wipeTopicCount, "2");
  assert.equal(decodeJson<TopicRouteData>((await route("PermT1")).body, "r").queueDatas[0]?.perm, 4);
  const add = await call(createRequest(RequestCode.ADD_WRITE_PERM_OF_BROKER, { brokerName: "perm-a" }));
  assert.equal(add.extFields?.addTopicCount, "2");
  assert.equal(decodeJson<TopicRouteData>((await route("PermT1")).body, "r").queueDatas[0]?.perm, 6);
});

test("a header missing a required field gets SYSTEM_ERROR naming the field", async () => {
  const res = await call(createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, {}));
  assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
  assert.match(res.remark ?? "", /"topic"/);
  const reg = registerRequest({ brokerName: "x", brokerAddr: "10.8.0.1:10911" }, []);
  delete reg.extFields!.haServerAddr;
  const r2 = await call(reg);
  assert.equal(r2.code, ResponseCode.SYSTEM_ERROR);
  assert.match(r2.remark ?? "", /"haServerAddr"/);
});

test("code 217 and unknown codes are answered at once with REQUEST_CODE_NOT_SUPPORTED", async () => {
  const started = Date.now();
  const r217 = await call(
    createRequest(RequestCode.GET_KV_CONFIG_BY_VALUE, { namespace: "PROJECT_CONFIG", key: "1" }),
  );
  assert.equal(r217.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  const unknown = await call(createRequest(9999, {}));
  assert.equal(unknown.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  assert.ok(Date.now() - started < 2000);
});

test("a broker silent longer than brokerExpiredMs is dropped by the scan", async () => {
  const quick = await startNameServer({ scanIntervalMs: 50, brokerExpiredMs: 300 });
  const c = new RemotingClient({ logger: silentLogger });
  // The broker has its own connection: an expiry closes it, as RocketMQ closes the channel.
  const broker = new RemotingClient({ logger: silentLogger });
  try {
    const a = `127.0.0.1:${quick.port}`;
    await broker.invoke(
      a,
      registerRequest({ brokerName: "exp-a", brokerAddr: "10.9.0.1:10911" }, [topicConfig("ExpT")]),
    );
    const lookup = () => c.invoke(a, createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "ExpT" }));
    assert.equal((await lookup()).code, ResponseCode.SUCCESS);
    await waitFor(
      "the silent broker to expire",
      async () => (await lookup()).code === ResponseCode.TOPIC_NOT_EXIST,
    );
    const info = decodeJson<ClusterInfo>(
      (await c.invoke(a, createRequest(RequestCode.GET_BROKER_CLUSTER_INFO))).body,
      "ci",
    );
    assert.deepEqual(info, { brokerAddrTable: {}, clusterAddrTable: {} });
  } finally {
    await broker.close();
    await c.close();
    await quick.stop();
  }
});

test("a broker that keeps registering outlives the timeout", async () => {
  const quick = await startNameServer({ scanIntervalMs: 50, brokerExpiredMs: 400 });
  const c = new RemotingClient({ logger: silentLogger });
  try {
    const a = `127.0.0.1:${quick.port}`;
    const started = Date.now();
    // Re-register every 100 ms for over twice the timeout, checking the route each time.
    for (let i = 0; i < 100 && Date.now() - started < 1000; i++) {
      await c.invoke(
        a,
        registerRequest({ brokerName: "live-a", brokerAddr: "10.9.0.2:10911" }, [topicConfig("LiveT")]),
      );
      const r = await c.invoke(a, createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "LiveT" }));
      assert.equal(r.code, ResponseCode.SUCCESS);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    await c.close();
    await quick.stop();
  }
});

test("a broker whose connection closes is dropped at once", async () => {
  const broker = new RemotingClient({ logger: silentLogger });
  try {
    const res = await broker.invoke(
      addr,
      registerRequest({ brokerName: "conn-a", brokerAddr: "10.10.0.1:10911" }, [topicConfig("ConnTopic")]),
    );
    assert.equal(res.code, ResponseCode.SUCCESS);
    assert.equal((await route("ConnTopic")).code, ResponseCode.SUCCESS);
  } finally {
    await broker.close();
  }
  // The default 120 s expiry cannot explain the drop: only the connection close can.
  await waitFor("the closed broker to disappear", async () => (await route("ConnTopic")).code === 17, 3000);
});

test("several NameServers are independent", async () => {
  const other = await startNameServer();
  try {
    await call(
      registerRequest({ brokerName: "only-here", brokerAddr: "10.11.0.1:10911" }, [topicConfig("HereT")]),
    );
    const r = await client.invoke(
      `127.0.0.1:${other.port}`,
      createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "HereT" }),
    );
    assert.equal(r.code, ResponseCode.TOPIC_NOT_EXIST);
    assert.notEqual(other.port, ns.port);
  } finally {
    await other.stop();
  }
});
