import assert from "node:assert/strict";
import { test } from "node:test";
import { Perm, TideMQError, type TopicConfig, type TopicConfigSerializeWrapper } from "@tidemq/protocol";
import { type RegisterBrokerArgs, RouteInfoManager } from "../src/index.js";
import { topicConfig } from "./helpers.js";

const topic = (name: string, queues = 4, perm = 6): TopicConfig => topicConfig(name, queues, perm);

function wrapper(topics: TopicConfig[], counter = 1, timestamp = 1000): TopicConfigSerializeWrapper {
  return {
    topicConfigTable: Object.fromEntries(topics.map((t) => [t.topicName, t])),
    dataVersion: { timestamp, counter },
  };
}

function reg(
  brokerName: string,
  brokerId: number,
  brokerAddr: string,
  topics: TopicConfig[],
  extra: Partial<RegisterBrokerArgs> = {},
): RegisterBrokerArgs {
  return {
    clusterName: "DefaultCluster",
    brokerName,
    brokerId,
    brokerAddr,
    haServerAddr: brokerAddr.replace(/:\d+$/, ":10912"),
    topicConfigWrapper: wrapper(topics),
    filterServerList: [],
    now: 0,
    ...extra,
  };
}

test("a master's registration creates the cluster, the broker and one QueueData per topic", () => {
  const rim = new RouteInfoManager();
  const result = rim.registerBroker(
    reg("broker-a", 0, "10.0.0.1:10911", [topic("T1", 8), topic("T2", 2, 4)]),
  );
  assert.deepEqual(result, {});
  const route = rim.pickupTopicRouteData("T1");
  assert.deepEqual(route, {
    brokerDatas: [
      { brokerAddrs: { "0": "10.0.0.1:10911" }, brokerName: "broker-a", cluster: "DefaultCluster" },
    ],
    filterServerTable: {},
    queueDatas: [{ brokerName: "broker-a", perm: 6, readQueueNums: 8, topicSysFlag: 0, writeQueueNums: 8 }],
  });
  // Exactly RocketMQ's JSON shape and key order, brokerAddrs keys quoted.
  assert.equal(
    JSON.stringify(route),
    '{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],' +
      '"filterServerTable":{},' +
      '"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}',
  );
  assert.equal(rim.pickupTopicRouteData("T2")?.queueDatas[0]?.perm, 4);
  assert.equal(rim.pickupTopicRouteData("nope"), undefined);
  assert.deepEqual(rim.getAllTopicList().topicList.sort(), ["T1", "T2"]);
});

test("a slave's topic configs are ignored and it learns its master's addresses", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]));
  const result = rim.registerBroker(reg("broker-a", 1, "10.0.0.2:10911", [topic("T1"), topic("SlaveOnly")]));
  assert.deepEqual(result, { haServerAddr: "10.0.0.1:10912", masterAddr: "10.0.0.1:10911" });
  assert.equal(rim.pickupTopicRouteData("SlaveOnly"), undefined);
  assert.deepEqual(rim.pickupTopicRouteData("T1")?.brokerDatas[0]?.brokerAddrs, {
    "0": "10.0.0.1:10911",
    "1": "10.0.0.2:10911",
  });
});

test("topic configs are applied only when the data version changes", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1", 4)]));
  // Same data version, different content: a periodic re-registration, ignored.
  rim.registerBroker({ ...reg("broker-a", 0, "10.0.0.1:10911", [topic("T1", 16)]), now: 10 });
  assert.equal(rim.pickupTopicRouteData("T1")?.queueDatas[0]?.writeQueueNums, 4);
  assert.equal(rim.getBrokerLiveInfo("10.0.0.1:10911")?.lastUpdateTimestamp, 10);
  // A new data version: applied. Topics missing from the body stay (incremental registration).
  rim.registerBroker({
    ...reg("broker-a", 0, "10.0.0.1:10911", []),
    topicConfigWrapper: wrapper([topic("T2", 16)], 2),
  });
  assert.equal(rim.pickupTopicRouteData("T1")?.queueDatas[0]?.writeQueueNums, 4);
  assert.equal(rim.pickupTopicRouteData("T2")?.queueDatas[0]?.writeQueueNums, 16);
  rim.registerBroker({
    ...reg("broker-a", 0, "10.0.0.1:10911", []),
    topicConfigWrapper: wrapper([topic("T1", 16)], 3),
  });
  assert.equal(rim.pickupTopicRouteData("T1")?.queueDatas[0]?.writeQueueNums, 16);
});

test("queryDataVersion reports changes and refreshes liveness only when unchanged", () => {
  const rim = new RouteInfoManager();
  assert.deepEqual(rim.queryDataVersion("10.0.0.1:10911", { timestamp: 1, counter: 1 }, 5), {
    changed: true,
    stored: undefined,
  });
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]));
  const same = rim.queryDataVersion("10.0.0.1:10911", { timestamp: 1000, counter: 1 }, 50);
  assert.deepEqual(same, { changed: false, stored: { timestamp: 1000, counter: 1 } });
  assert.equal(rim.getBrokerLiveInfo("10.0.0.1:10911")?.lastUpdateTimestamp, 50);
  const other = rim.queryDataVersion("10.0.0.1:10911", { timestamp: 1000, counter: 2 }, 99);
  assert.equal(other.changed, true);
  assert.equal(rim.getBrokerLiveInfo("10.0.0.1:10911")?.lastUpdateTimestamp, 50);
});

test("an address re-registered under another brokerId replaces its old record (slave promoted)", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]));
  rim.registerBroker(reg("broker-a", 1, "10.0.0.2:10911", []));
  rim.onChannelClosed("10.0.0.1:10911");
  // The master went away with the only topic data; the slave alone keeps broker-a in the cluster.
  assert.deepEqual(rim.getClusterInfo().brokerAddrTable["broker-a"]?.brokerAddrs, { "1": "10.0.0.2:10911" });
  assert.equal(rim.pickupTopicRouteData("T1")?.brokerDatas[0]?.brokerAddrs["1"], "10.0.0.2:10911");
  rim.registerBroker({ ...reg("broker-a", 0, "10.0.0.2:10911", [topic("T1")]), now: 5 });
  assert.deepEqual(rim.getClusterInfo().brokerAddrTable["broker-a"]?.brokerAddrs, { "0": "10.0.0.2:10911" });
});

test("a scan drops silent brokers; the last address of a brokerName takes its queues and cluster entry", () => {
  const rim = new RouteInfoManager({ brokerExpiredMs: 1000 });
  rim.registerBroker({ ...reg("broker-a", 0, "10.0.0.1:10911", [topic("T1"), topic("Shared")]), now: 0 });
  rim.registerBroker({
    ...reg("broker-b", 0, "10.0.0.3:10911", [topic("Shared")]),
    now: 0,
    heartbeatTimeoutMillis: 5000,
  });
  assert.deepEqual(rim.scanNotActiveBroker(1000), []);
  // broker-b refreshes itself; broker-a stays silent past its 1 s timeout.
  rim.registerBroker({
    ...reg("broker-b", 0, "10.0.0.3:10911", [topic("Shared")]),
    now: 900,
    heartbeatTimeoutMillis: 5000,
  });
  const dropped = rim.scanNotActiveBroker(1001);
  assert.deepEqual(
    dropped.map((d) => d.brokerAddr),
    ["10.0.0.1:10911"],
  );
  assert.equal(rim.pickupTopicRouteData("T1"), undefined);
  assert.deepEqual(rim.getAllTopicList().topicList, ["Shared"]);
  const shared = rim.pickupTopicRouteData("Shared");
  assert.deepEqual(
    shared?.queueDatas.map((q) => q.brokerName),
    ["broker-b"],
  );
  assert.deepEqual(rim.getClusterInfo().clusterAddrTable, { DefaultCluster: ["broker-b"] });
  // broker-b's own (5 s) timeout applies, not the default.
  assert.deepEqual(rim.scanNotActiveBroker(5900), []);
  assert.equal(rim.scanNotActiveBroker(5901).length, 1);
  assert.deepEqual(rim.getClusterInfo(), { brokerAddrTable: {}, clusterAddrTable: {} });
  assert.deepEqual(rim.getAllTopicList().topicList, []);
});

test("a closed connection drops its brokers at once, unless they re-registered on another one", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker({ ...reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]), channelId: 1 });
  rim.registerBroker({ ...reg("broker-b", 0, "10.0.0.3:10911", [topic("T2")]), channelId: 2 });
  // broker-b reconnected: its latest registration is on connection 3.
  rim.registerBroker({ ...reg("broker-b", 0, "10.0.0.3:10911", [topic("T2")]), channelId: 3 });
  assert.deepEqual(rim.onConnectionClosed(2), []);
  assert.ok(rim.pickupTopicRouteData("T2"));
  assert.deepEqual(rim.onConnectionClosed(1), ["10.0.0.1:10911"]);
  assert.equal(rim.pickupTopicRouteData("T1"), undefined);
  assert.equal(rim.getBrokerLiveInfo("10.0.0.1:10911"), undefined);
});

test("unregisterBroker removes one address; the broker name goes with its last one", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]));
  rim.registerBroker(reg("broker-a", 1, "10.0.0.2:10911", []));
  rim.unregisterBroker("DefaultCluster", "10.0.0.2:10911", "broker-a", 1);
  assert.deepEqual(rim.pickupTopicRouteData("T1")?.brokerDatas[0]?.brokerAddrs, { "0": "10.0.0.1:10911" });
  // A stale unregister naming an id whose address changed does not remove the current one.
  rim.unregisterBroker("DefaultCluster", "10.9.9.9:10911", "broker-a", 0);
  assert.ok(rim.pickupTopicRouteData("T1"));
  // An unregister naming another id than the address is listed under (a DLedger replica whose id
  // followed a membership change) still removes it: the address is what identifies the broker.
  rim.registerBroker(reg("broker-a", 2, "10.0.0.3:10911", []));
  rim.unregisterBroker("DefaultCluster", "10.0.0.3:10911", "broker-a", 1);
  assert.deepEqual(rim.pickupTopicRouteData("T1")?.brokerDatas[0]?.brokerAddrs, { "0": "10.0.0.1:10911" });
  rim.unregisterBroker("DefaultCluster", "10.0.0.1:10911", "broker-a", 0);
  assert.equal(rim.pickupTopicRouteData("T1"), undefined);
  assert.deepEqual(rim.getClusterInfo(), { brokerAddrTable: {}, clusterAddrTable: {} });
});

test("deleteTopic removes a topic everywhere or only from one cluster", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1"), topic("T2")]));
  rim.registerBroker({ ...reg("broker-x", 0, "10.1.0.1:10911", [topic("T1")]), clusterName: "Other" });
  assert.deepEqual(rim.getTopicsByCluster("Other").topicList, ["T1"]);
  assert.deepEqual(rim.getTopicsByCluster("DefaultCluster").topicList.sort(), ["T1", "T2"]);
  assert.deepEqual(rim.getTopicsByCluster("Unknown").topicList, []);
  rim.deleteTopic("T1", "Other");
  assert.deepEqual(
    rim.pickupTopicRouteData("T1")?.queueDatas.map((q) => q.brokerName),
    ["broker-a"],
  );
  rim.deleteTopic("T1", "DefaultCluster");
  assert.equal(rim.pickupTopicRouteData("T1"), undefined);
  rim.deleteTopic("T2");
  assert.equal(rim.pickupTopicRouteData("T2"), undefined);
  rim.deleteTopic("never-there");
  assert.deepEqual(rim.getAllTopicList().topicList, []);
});

test("cluster info and the system topic list describe every live broker", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]));
  rim.registerBroker(reg("broker-a", 1, "10.0.0.2:10911", []));
  rim.registerBroker({ ...reg("broker-x", 0, "10.1.0.1:10911", []), clusterName: "Other" });
  assert.deepEqual(rim.getClusterInfo(), {
    brokerAddrTable: {
      "broker-a": {
        brokerAddrs: { "0": "10.0.0.1:10911", "1": "10.0.0.2:10911" },
        brokerName: "broker-a",
        cluster: "DefaultCluster",
      },
      "broker-x": { brokerAddrs: { "0": "10.1.0.1:10911" }, brokerName: "broker-x", cluster: "Other" },
    },
    clusterAddrTable: { DefaultCluster: ["broker-a"], Other: ["broker-x"] },
  });
  const sys = rim.getSystemTopicList();
  assert.deepEqual(sys.topicList.sort(), ["DefaultCluster", "Other", "broker-a", "broker-x"]);
  assert.equal(sys.brokerAddr, "10.0.0.1:10911");
});

test("wipe and add write permission flip the write bit of one broker's queues", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1"), topic("T2")]));
  rim.registerBroker(reg("broker-b", 0, "10.0.0.3:10911", [topic("T1")]));
  assert.equal(rim.wipeWritePermOfBroker("broker-a"), 2);
  const perms = () =>
    Object.fromEntries(rim.pickupTopicRouteData("T1")!.queueDatas.map((q) => [q.brokerName, q.perm]));
  assert.deepEqual(perms(), { "broker-a": Perm.READ, "broker-b": 6 });
  assert.equal(rim.addWritePermOfBroker("broker-a"), 2);
  assert.deepEqual(perms(), { "broker-a": 6, "broker-b": 6 });
  assert.equal(rim.wipeWritePermOfBroker("nobody"), 0);
});

test("KV config: put, get, list, delete; ORDER_TOPIC_CONFIG feeds orderTopicConf when enabled", () => {
  const rim = new RouteInfoManager({ orderMessageEnable: true });
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("Ordered")]));
  rim.putKVConfig("ns", "k1", "v1");
  rim.putKVConfig("ns", "k2", "v2");
  rim.putKVConfig("ns", "k1", "v1b");
  assert.equal(rim.getKVConfig("ns", "k1"), "v1b");
  assert.deepEqual(rim.getKVListByNamespace("ns"), { k1: "v1b", k2: "v2" });
  rim.deleteKVConfig("ns", "k1");
  rim.deleteKVConfig("ns", "absent");
  assert.equal(rim.getKVConfig("ns", "k1"), undefined);
  rim.deleteKVConfig("ns", "k2");
  assert.equal(rim.getKVListByNamespace("ns"), undefined);

  assert.equal(rim.pickupTopicRouteData("Ordered")?.orderTopicConf, undefined);
  rim.putKVConfig("ORDER_TOPIC_CONFIG", "Ordered", "broker-a:4");
  assert.equal(rim.pickupTopicRouteData("Ordered")?.orderTopicConf, "broker-a:4");
  const off = new RouteInfoManager();
  off.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("Ordered")]));
  off.putKVConfig("ORDER_TOPIC_CONFIG", "Ordered", "broker-a:4");
  assert.equal(off.pickupTopicRouteData("Ordered")?.orderTopicConf, undefined);
});

test("limits: the KV table, broker count and topic count are capped without partial updates", () => {
  const rim = new RouteInfoManager({ maxKvEntries: 2, maxBrokerAddrs: 1, maxTopics: 2 });
  rim.putKVConfig("a", "1", "x");
  rim.putKVConfig("b", "1", "x");
  rim.putKVConfig("a", "1", "overwrite is fine");
  assert.throws(() => rim.putKVConfig("a", "2", "x"), TideMQError);
  rim.registerBroker(reg("broker-a", 0, "10.0.0.1:10911", [topic("T1")]));
  assert.throws(() => rim.registerBroker(reg("broker-b", 0, "10.0.0.3:10911", [])), /too many brokers/);
  assert.throws(
    () =>
      rim.registerBroker({
        ...reg("broker-a", 0, "10.0.0.1:10911", []),
        topicConfigWrapper: wrapper([topic("T2"), topic("T3")], 9),
      }),
    /too many topics/,
  );
  assert.deepEqual(rim.getAllTopicList().topicList, ["T1"]);
  assert.equal(rim.getClusterInfo().brokerAddrTable["broker-b"], undefined);
});

test("malformed topic configs in a body are skipped or defaulted, never thrown on", () => {
  const rim = new RouteInfoManager();
  rim.registerBroker({
    ...reg("broker-a", 0, "10.0.0.1:10911", []),
    topicConfigWrapper: {
      topicConfigTable: {
        Good: topic("Good"),
        Null: null,
        Strings: { topicName: "Strings", readQueueNums: "3", writeQueueNums: "x" },
      } as unknown as Record<string, TopicConfig>,
      dataVersion: "garbage" as unknown as { timestamp: number; counter: number },
    },
  });
  assert.deepEqual(rim.getAllTopicList().topicList.sort(), ["Good", "Strings"]);
  const q = rim.pickupTopicRouteData("Strings")?.queueDatas[0];
  assert.deepEqual(q, {
    brokerName: "broker-a",
    perm: 6,
    readQueueNums: 3,
    topicSysFlag: 0,
    writeQueueNums: 0,
  });
  assert.deepEqual(rim.getBrokerLiveInfo("10.0.0.1:10911")?.dataVersion, { timestamp: 0, counter: 0 });
});
