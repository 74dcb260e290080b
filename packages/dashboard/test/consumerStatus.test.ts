/**
 * Consumer running info, "resend to a group" (CONSUME_MESSAGE_DIRECTLY) and message trace
 * through the console's API, against a real cluster with a traced producer and push consumer
 * of our client online: the broker relays the requests to the client.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { Admin, ConsumeResult, Producer, PushConsumer, type SendReceipt } from "@tidemq/client";
import type { DashboardServer } from "../src/index.js";
import { Http, quietLogger, startConsole, startTestCluster, type TestCluster } from "./cluster.js";

let cluster: TestCluster;
let server: DashboardServer;
let admin: Admin;
let producer: Producer;
let consumer: PushConsumer;
let http: Http;
let csrf: string;
const TOPIC = "StatusOrders";
const GROUP = "StatusGroup";
const FAST = { heartbeatBrokerInterval: 200, pollNameServerInterval: 200 };
const consumed: string[] = [];
const sent: SendReceipt[] = [];

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  cluster = await startTestCluster("dash-status-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
  await admin.createTopic({
    topic: TOPIC,
    brokerAddr: cluster.brokerAddr,
    readQueueNums: 2,
    writeQueueNums: 2,
  });
  producer = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: "StatusProducers",
    enableTrace: true,
    logger: quietLogger,
    ...FAST,
  });
  await producer.startup();
  consumer = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: GROUP,
    subscriptions: { [TOPIC]: "*" },
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    enableTrace: true,
    messageListener: {
      consume(m) {
        consumed.push(m.keys.join(","));
        return ConsumeResult.SUCCESS;
      },
    },
    logger: quietLogger,
    ...FAST,
  });
  await consumer.startup();
  for (let i = 0; i < 3; i++)
    sent.push(await producer.send({ topic: TOPIC, keys: [`st-${i}`], body: `order ${i}` }));
  await waitFor(() => consumed.length >= 3, "3 messages consumed");
  server = await startConsole(cluster);
  http = new Http(server.url);
  csrf = (await http.req("GET", "/api/session")).json.csrf as string;
});
after(async () => {
  await server?.stop();
  await consumer?.shutdown();
  await producer?.shutdown();
  await admin?.shutdown();
  await cluster?.stop();
});

async function clientId(): Promise<string> {
  const c = await admin.getConsumerConnectionList(GROUP);
  assert.equal(c.connectionSet.length, 1);
  return c.connectionSet[0]!.clientId;
}

test("running info of an online client: its process queues, in-flight, lock state and TPS", async () => {
  const id = await clientId();
  const r = await http.req(
    "GET",
    `/api/consumers/runningInfo?group=${GROUP}&clientId=${encodeURIComponent(id)}`,
  );
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const queues = (
    r.json.queues as { items: Array<{ topic: string; queueId: number; inFlight: number; locked: boolean }> }
  ).items;
  assert.deepEqual(
    queues.filter((q) => q.topic === TOPIC).map((q) => q.queueId),
    [0, 1],
    "both queues of the topic are this client's",
  );
  assert.equal(r.json.inFlight, 0, "everything was consumed");
  const status = r.json.status as Array<{ topic: string; consumeOKTPS: number }>;
  assert.ok(
    status.some((s) => s.topic === TOPIC),
    JSON.stringify(status),
  );
  const missing = await http.req("GET", `/api/consumers/runningInfo?group=${GROUP}&clientId=nobody@0`);
  assert.equal(missing.status, 404);
  assert.match(String(missing.json.error), /not online/);
});

test("resend to a group: one online client runs its listener on the stored message; admin + CSRF + audit", async () => {
  const before = consumed.length;
  const id = sent[1]!.offsetMessageId;
  const noCsrf = await http.req("POST", "/api/messages/consumeDirectly", {
    body: { group: GROUP, offsetMsgId: id },
  });
  assert.equal(noCsrf.status, 403);
  const r = await http.req("POST", "/api/messages/consumeDirectly", {
    csrf,
    body: { group: GROUP, offsetMsgId: id },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.consumeResult, "CR_SUCCESS");
  assert.equal(r.json.clientId, await clientId());
  assert.equal(consumed.length, before + 1);
  assert.equal(consumed.at(-1), "st-1");
  const foreign = await http.req("POST", "/api/messages/consumeDirectly", {
    csrf,
    body: { group: GROUP, offsetMsgId: "0A0102030000277100000000000000AA" },
  });
  assert.equal(foreign.status, 400);
  assert.match(String(foreign.json.error), /not a broker of this cluster/);
  const nobody = await http.req("POST", "/api/messages/consumeDirectly", {
    csrf,
    body: { group: "NoSuchGroupOnline", offsetMsgId: id },
  });
  assert.equal(nobody.status, 409);
  assert.equal(consumed.length, before + 1);
  const audit = (await readFile(server.audit.file, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { action: string; outcome: string });
  assert.deepEqual(
    audit.filter((a) => a.action === "message.consumeDirectly").map((a) => a.outcome),
    ["refused", "ok", "failed", "failed"],
  );
});

test("message trace: the timeline shows the send and the group's consumption; an untraced id has none", async () => {
  const msgId = sent[0]!.messageId;
  let t: Record<string, unknown> = {};
  // Trace records are written asynchronously and indexed after: bounded polling.
  await waitFor(async () => {
    const r = await http.req("GET", `/api/trace?msgId=${msgId}`);
    t = r.json;
    const consumes = (t.consumes as Array<{ end?: number }> | undefined) ?? [];
    return (
      r.status === 200 && (t.pubs as unknown[]).length === 1 && consumes.some((c) => c.end !== undefined)
    );
  }, "the trace of the first message");
  const pub = (t.pubs as Array<{ group: string; topic: string; keys: string; success: boolean }>)[0]!;
  assert.deepEqual([pub.group, pub.topic, pub.keys, pub.success], ["StatusProducers", TOPIC, "st-0", true]);
  const c = (t.consumes as Array<{ group: string; result: string }>).find((x) => x.group === GROUP)!;
  assert.equal(c.result, "SUCCESS");
  assert.equal(t.cut, false);
  const none = await http.req("GET", "/api/trace?msgId=0000000000000000000000000000ABCD");
  assert.equal(none.status, 200);
  assert.deepEqual([(none.json.pubs as unknown[]).length, (none.json.consumes as unknown[]).length], [0, 0]);
  const noTopic = await http.req("GET", `/api/trace?msgId=${msgId}&traceTopic=NoSuchTraceTopic`);
  assert.equal(noTopic.status, 404);
});
