import assert from "node:assert/strict";
import { test } from "node:test";
import { NameServer } from "@tidemq/namesrv";
import { createRequest, decodeJson, RequestCode, ResponseCode, type TopicRouteData } from "@tidemq/protocol";
import { createLogger, type RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import {
  cleanupsAfterAll,
  createTopicRequest,
  eventually,
  newClient,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();

async function nameServer(): Promise<NameServer> {
  const ns = new NameServer({ port: 0, logger: createLogger("test-ns", "warn") });
  await ns.start();
  cleanups.push(() => ns.stop());
  return ns;
}

async function route(client: RemotingClient, ns: NameServer, topic: string) {
  const res = await client.invoke(
    `127.0.0.1:${ns.port}`,
    createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }),
  );
  return {
    code: res.code,
    route: res.code === 0 ? decodeJson<TopicRouteData>(res.body, "route") : undefined,
  };
}

test("registers with every NameServer at start, at once on topic changes, periodically, and leaves at stop", async () => {
  const dir = await tempDir("broker-reg");
  cleanups.push(() => removeDir(dir));
  const ns1 = await nameServer();
  const ns2 = await nameServer();
  const client = newClient();
  cleanups.push(() => client.close());
  const broker: BrokerController = await startBroker(dir, {
    namesrvAddr: `127.0.0.1:${ns1.port};127.0.0.1:${ns2.port}`,
    registerNameServerPeriod: 1000,
  });
  let stopped = false;
  cleanups.push(async () => {
    if (!stopped) await broker.shutdown();
  });
  const addr = `127.0.0.1:${broker.port}`;

  // Start-up registration carries the system topics (TBW102 with perm 7).
  for (const ns of [ns1, ns2]) {
    const r = await route(client, ns, "TBW102");
    assert.equal(r.code, ResponseCode.SUCCESS);
    assert.equal(r.route!.brokerDatas[0]!.brokerAddrs["0"], addr);
    assert.equal(r.route!.queueDatas[0]!.perm, 7);
  }
  // A new topic is routable right after UPDATE_AND_CREATE_TOPIC answers… (registration is immediate)
  assert.equal((await client.invoke(addr, createTopicRequest("T_REG", 3))).code, ResponseCode.SUCCESS);
  await eventually(
    async () => {
      const [a, b] = [await route(client, ns1, "T_REG"), await route(client, ns2, "T_REG")];
      return a.code === 0 && b.code === 0;
    },
    "T_REG on both NameServers",
    2000,
  );
  const r = await route(client, ns2, "T_REG");
  assert.equal(r.route!.queueDatas[0]!.writeQueueNums, 3);
  // …and so is an auto-created one.
  assert.equal(
    (await client.invoke(addr, sendRequest("T_REG_AUTO", Buffer.from("x")))).code,
    ResponseCode.SUCCESS,
  );
  await eventually(async () => (await route(client, ns1, "T_REG_AUTO")).code === 0, "T_REG_AUTO", 2000);

  // A NameServer added later (UPDATE_BROKER_CONFIG namesrvAddr) learns the broker from the periodic registration.
  const late = new NameServer({ port: 0, logger: createLogger("test-ns", "warn") });
  await late.start();
  cleanups.push(() => late.stop());
  const nsList = `${broker.config.namesrvAddr};127.0.0.1:${late.port}`;
  const upd = await client.invoke(
    addr,
    createRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from(`namesrvAddr=${nsList}\n`)),
  );
  assert.equal(upd.code, ResponseCode.SUCCESS, upd.remark);
  await eventually(
    async () => (await route(client, late, "T_REG")).code === 0,
    "periodic registration",
    5000,
  );

  // Clean stop: UNREGISTER_BROKER removes the routes.
  await broker.shutdown();
  stopped = true;
  for (const ns of [ns1, ns2, late]) {
    assert.equal((await route(client, ns, "T_REG")).code, ResponseCode.TOPIC_NOT_EXIST);
  }
});

test("topics survive a restart; a NameServer that is down does not stop the broker", async () => {
  const dir = await tempDir("broker-restart");
  cleanups.push(() => removeDir(dir));
  const client = newClient();
  cleanups.push(() => client.close());
  // Nothing listens on this NameServer address: registration fails, the broker serves anyway.
  const first = await startBroker(dir, { namesrvAddr: "127.0.0.1:1" });
  const addr1 = `127.0.0.1:${first.port}`;
  assert.equal((await client.invoke(addr1, createTopicRequest("T_KEEP", 5))).code, ResponseCode.SUCCESS);
  const sent = await client.invoke(addr1, sendRequest("T_KEEP", Buffer.from("kept"), { queueId: 4 }));
  assert.equal(sent.code, ResponseCode.SUCCESS);
  assert.equal(first.namesrvRegistration?.lastResult.get("127.0.0.1:1")?.ok, false);
  await first.shutdown();

  const second = await startBroker(dir);
  cleanups.push(() => second.shutdown());
  const tc = second.context.topics.get("T_KEEP");
  assert.equal(tc?.writeQueueNums, 5);
  assert.equal(second.context.store.getMaxOffsetInQueue("T_KEEP", 4), 1);
});
