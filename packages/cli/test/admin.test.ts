/**
 * `tidemq admin`: the argument parser and table helpers driven directly, then the real
 * executable as child processes against a NameServer and a broker started in this process
 * on ephemeral ports (one cluster for the whole file).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import type { BrokerController } from "@tidemq/broker";
import { Admin, ConsumeResult, clusterBrokerAddrs, Producer, PushConsumer } from "@tidemq/client";
import type { NameServer } from "@tidemq/namesrv";
import { decodeJson, RequestCode } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { parseArgs, parseTimestamp, UsageError, usageOf } from "../src/admin/args.js";
import { SPECS } from "../src/admin/specs.js";
import { isSystemTopic } from "../src/admin/systemTopics.js";
import { formatTable, oneLine } from "../src/admin/table.js";
import { brokerRow, clusterCells } from "../src/admin/views.js";
import { explain } from "../src/commands/admin.js";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { type AdminResult, runAdmin } from "./runAdmin.js";

const spec = (name: string) => SPECS.find((s) => s.name === name)!;

// ---------------------------------------------------------------- pure parts

test("isSystemTopic: reserved names, rmq_sys_/RMQ_SYS_, markers, cluster and broker names; retry and DLQ are the user's", () => {
  const names = new Set(["DefaultCluster", "broker-a"]);
  for (const t of [
    "TBW102",
    "SCHEDULE_TOPIC_XXXX",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "rmq_sys_wheel_timer",
    "%DLQ_RESENT%G1",
    "DefaultCluster",
    "broker-a",
  ]) {
    assert.equal(isSystemTopic(t, names), true, t);
  }
  for (const t of ["OrderPaid", "%RETRY%G1", "%DLQ%G1", "TRANS_ORDERS"])
    assert.equal(isSystemTopic(t, names), false, t);
});

test("parseArgs: mqadmin short flags, attached values, long names, flags, -n default", () => {
  const a = parseArgs(
    spec("updateTopic"),
    ["-t", "T1", "-cDefaultCluster", "--readQueueNums=4", "--json"],
    {},
  );
  assert.deepEqual(a.values, { t: "T1", c: "DefaultCluster", r: "4" });
  assert.equal(a.json, true);
  assert.equal(a.namesrv, "127.0.0.1:9876");
  assert.equal(parseArgs(spec("topicList"), [], { NAMESRV_ADDR: "10.0.0.1:9876" }).namesrv, "10.0.0.1:9876");
  assert.equal(parseArgs(spec("topicList"), ["-n", "a:1;b:2"], { NAMESRV_ADDR: "x:1" }).namesrv, "a:1;b:2");
  assert.equal(parseArgs(spec("topicList"), ["-c"], {}).values.c, "true");
  assert.equal(parseArgs(spec("clusterList"), ["-m", "--debug"], {}).debug, true);
  // "-1" is a value, not an option.
  assert.equal(parseArgs(spec("resetOffsetByTime"), ["-g", "G", "-t", "T", "-s", "-1"], {}).values.s, "-1");
  // --help skips the required-option checks.
  assert.equal(parseArgs(spec("topicRoute"), ["-h"], {}).help, true);
});

test("parseArgs: mistakes are UsageErrors naming the option", () => {
  const bad: Array<[string, string[], RegExp]> = [
    ["topicRoute", [], /missing option -t/],
    ["topicRoute", ["-t"], /-t needs a value/],
    ["topicRoute", ["-t", "-n", "x:1"], /-t needs a value/],
    ["topicRoute", ["-t", "A", "-t", "B"], /given twice/],
    ["topicRoute", ["-t", "A", "-z", "1"], /unknown option -z/],
    ["topicRoute", ["-t", "A", "--nope"], /unknown option --nope/],
    ["topicRoute", ["-t", "A", "stray"], /unexpected argument "stray"/],
    ["updateTopic", ["-t", "A"], /give -b or -c/],
    ["updateTopic", ["-t", "A", "-b", "h:1", "-c", "C"], /only one of -b or -c/],
    ["topicList", ["-c", "x"], /unexpected argument/],
  ];
  for (const [name, argv, re] of bad) {
    assert.throws(
      () => parseArgs(spec(name), argv, {}),
      (e: unknown) => e instanceof UsageError && re.test(e.message),
    );
  }
  assert.throws(() => parseArgs(spec("topicList"), new Array(300).fill("-c"), {}), /too many arguments/);
});

test("parseTimestamp: now, ms, -1, yyyyMMddHHmmssSSS and mqadmin's format in local time, ISO", () => {
  assert.equal(parseTimestamp("now", 1234), 1234);
  assert.equal(parseTimestamp("1700000000000"), 1_700_000_000_000);
  assert.equal(parseTimestamp("-1"), -1);
  assert.equal(parseTimestamp("20261124081530123"), new Date(2026, 10, 24, 8, 15, 30, 123).getTime());
  assert.equal(parseTimestamp("20261124081530"), new Date(2026, 10, 24, 8, 15, 30, 0).getTime());
  assert.equal(parseTimestamp("2026-11-24#08:15:30:123"), new Date(2026, 10, 24, 8, 15, 30, 123).getTime());
  assert.equal(parseTimestamp("2026-11-24T08:15:30Z"), Date.UTC(2026, 10, 24, 8, 15, 30));
  assert.throws(() => parseTimestamp("20260231000000000"), /not a valid date/);
  assert.throws(() => parseTimestamp("yesterday"), /not a timestamp/);
});

test("formatTable aligns columns, right-aligns numbers, cuts huge cells; oneLine", () => {
  const t = formatTable(
    ["#A", "#Num", "#C"],
    [
      ["x", 5, "long value"],
      ["yyyy", 12345, ""],
    ],
    [1],
  );
  assert.deepEqual(t.split("\n"), ["#A     #Num  #C", "x         5  long value", "yyyy  12345"]);
  assert.ok(formatTable(["#A"], [["z".repeat(500)]]).split("\n")[1]!.length <= 120);
  assert.equal(oneLine("a\n  b\r\nc"), "a; b; c");
});

test("clusterList row: mqadmin's arithmetic on the runtime table", () => {
  const now = 10 * 3_600_000;
  const r = brokerRow(
    { cluster: "C", brokerName: "b", brokerId: 0, addr: "h:1" },
    {
      brokerVersionDesc: "V4_9_8",
      putTps: "12.5 10.0 9.0",
      getTransferedTps: "3.25 1 1",
      sendThreadPoolQueueSize: "7",
      sendThreadPoolQueueHeadWaitTimeMills: "2",
      earliestMessageTimeStamp: String(now - 5_400_000),
      commitLogDiskRatio: "0.25",
      msgPutTotalYesterdayMorning: "10",
      msgPutTotalTodayMorning: "30",
      msgPutTotalTodayNow: "100",
      msgGetTotalTodayMorning: "5",
      msgGetTotalTodayNow: "8",
    },
    now,
  );
  assert.deepEqual(clusterCells(r, true), [
    "C",
    "b",
    0,
    "h:1",
    "V4_9_8",
    "12.50(7,2ms)",
    "3.25(0,0ms)",
    0,
    "1.50",
    "0.2500",
    70,
    3,
    20,
    5,
  ]);
  const down = clusterCells(
    brokerRow({ cluster: "C", brokerName: "b", brokerId: 1, addr: "h:2" }, undefined, now, "boom"),
    false,
  );
  assert.equal(down[4], "unreachable: boom");
});

test("helpers: cluster addresses, error hints", () => {
  const info = {
    brokerAddrTable: {
      "broker-b": { cluster: "C", brokerName: "broker-b", brokerAddrs: { "0": "h:3", "1": "h:4" } },
      "broker-a": { cluster: "C", brokerName: "broker-a", brokerAddrs: { "0": "h:1" } },
    },
    clusterAddrTable: { C: ["broker-b", "broker-a"] },
  };
  assert.deepEqual(clusterBrokerAddrs(info, "C", true), ["h:1", "h:3"]);
  assert.deepEqual(clusterBrokerAddrs(info, "C", false), ["h:1", "h:3", "h:4"]);
  assert.throws(() => clusterBrokerAddrs(info, "X", true), /cluster X is unknown .*clusters: C/);
  assert.match(
    explain("x: 1.2.3.4:9876 is unreachable (ECONNREFUSED)", ["1.2.3.4:9876"]),
    /is a NameServer running\? pass -n/,
  );
  assert.match(explain("x: 1.2.3.4:10911 is unreachable", ["1.2.3.4:9876"]), /is the broker running\?/);
  assert.equal(explain("other", []), "other");
  for (const s of SPECS) assert.match(usageOf(s), new RegExp(`tidemq admin ${s.name}`));
});

// ---------------------------------------------------------------- against a cluster

let ns: NameServer;
let broker: BrokerController;
let nsAddr: string;
let brokerAddr: string;
let brokerName: string;
let cluster: string;
let testCluster: TestCluster;
let children: Set<ChildProcess>;
const logger = createLogger("test", "warn");

before(async () => {
  testCluster = await startTestCluster("tidemq-admin-");
  ({ ns, broker, nsAddr, brokerName, cluster, children } = testCluster);
  brokerAddr = broker.brokerAddr;
});

after(async () => {
  await testCluster?.stop();
});

type Result = AdminResult;

/** Runs `tidemq admin …` (with -n of the test cluster unless `withNamesrv` is false). */
function admin(args: string[], o: { withNamesrv?: boolean; timeoutMs?: number } = {}): Promise<Result> {
  return runAdmin(o.withNamesrv === false ? undefined : nsAddr, args, children, o.timeoutMs);
}

async function ok(args: string[]): Promise<string> {
  const r = await admin(args);
  assert.equal(r.code, 0, `tidemq admin ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

async function okJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, "--json"])) as T;
}

/** Table rows (after the header) split into cells on runs of 2+ spaces. */
function rows(text: string, header: string): string[][] {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.startsWith(header));
  assert.ok(i >= 0, `no table with header ${header} in:\n${text}`);
  const out: string[][] = [];
  for (const l of lines.slice(i + 1)) {
    if (l.trim() === "") break;
    out.push(l.trim().split(/\s{2,}/));
  }
  return out;
}

function headerCells(text: string, header: string): string[] {
  return text
    .split("\n")
    .find((l) => l.startsWith(header))!
    .trim()
    .split(/\s{2,}/);
}

/** Polls `f` every 100 ms until it returns a value, at most `ms`. */
async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000; i++) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function assertOneLineFailure(r: Result, sub: string, re: RegExp, code = 1): void {
  assert.equal(r.code, code, `exit status: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `stderr has one line: ${r.stderr}`);
  assert.ok(lines[0]!.startsWith(`tidemq admin: ${sub}: `), lines[0]);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(r.stdout, "");
}

const TOPIC = "AdminTopic";
const GROUP = "AdminGroup";
const sent: Array<{
  msgId: string;
  offsetMsgId: string;
  queueId: number;
  queueOffset: number;
  brokerName: string;
}> = [];
const before0 = Date.now() - 1000;

test("help: tidemq admin --help lists every subcommand; each subcommand has --help", async () => {
  const top = await ok(["--help"]);
  for (const s of SPECS) assert.match(top, new RegExp(`^  ${s.name} `, "m"));
  assert.ok(SPECS.length >= 21, "mqadmin's 20 and TideMQ's own (transactionStatus, …)");
  const h = await ok(["updateTopic", "--help"]);
  assert.match(h, /-t, --topic <topic>/);
  assert.match(h, /-r, --readQueueNums <n>\s+read queues \(default 8\)/);
  assert.match(h, /--json/);
});

test("updateTopic, then topicList / topicRoute / topicStatus show it", async () => {
  const out = await ok(["updateTopic", "-c", cluster, "-t", TOPIC, "-r", "4", "-w", "4"]);
  assert.match(out, new RegExp(`create topic to ${brokerAddr} success\\.`));
  const topics = (await ok(["topicList"])).split("\n");
  assert.ok(topics.includes(TOPIC), topics.join(","));
  assert.ok((await okJson<string[]>(["topicList"])).includes(TOPIC));
  // The brokers' own topics only with -s.
  for (const sys of ["SELF_TEST_TOPIC", "SCHEDULE_TOPIC_XXXX", cluster]) {
    assert.ok(!topics.includes(sys), `${sys} hidden: ${topics.join(",")}`);
  }
  const withSystem = await okJson<string[]>(["topicList", "-s"]);
  for (const t of [TOPIC, "SELF_TEST_TOPIC", "SCHEDULE_TOPIC_XXXX", cluster]) {
    assert.ok(withSystem.includes(t), `${t} listed with -s: ${withSystem.join(",")}`);
  }

  const route = await ok(["topicRoute", "-t", TOPIC]);
  assert.deepEqual(headerCells(route, "#Cluster Name"), [
    "#Cluster Name",
    "#Broker Name",
    "#BID",
    "#Addr",
    "#Read Queues",
    "#Write Queues",
    "#Perm",
  ]);
  assert.deepEqual(rows(route, "#Cluster Name"), [
    [cluster, brokerName, "0", brokerAddr, "4", "4", "6 (RW-)"],
  ]);
  const routeJson = await okJson<{ queueDatas: Array<{ brokerName: string; writeQueueNums: number }> }>([
    "topicRoute",
    "-t",
    TOPIC,
  ]);
  assert.deepEqual(
    routeJson.queueDatas.map((q) => [q.brokerName, q.writeQueueNums]),
    [[brokerName, 4]],
  );

  const status = await ok(["topicStatus", "-t", TOPIC]);
  assert.deepEqual(headerCells(status, "#Broker Name"), [
    "#Broker Name",
    "#QID",
    "#Min Offset",
    "#Max Offset",
    "#Last Updated",
  ]);
  assert.deepEqual(
    rows(status, "#Broker Name"),
    [0, 1, 2, 3].map((q) => [brokerName, String(q), "0", "0"]),
  );
});

test("sendMessage, then queryMsgById / queryMsgByKey / queryMsgByOffset / consumeMessage find it", async () => {
  const table = await ok(["sendMessage", "-t", TOPIC, "-p", "hello admin", "-k", "order-1", "-c", "paid"]);
  const [row] = rows(table, "#Broker Name");
  assert.equal(row![0], brokerName);
  assert.equal(row![2], "SEND_OK");
  // The next two go to one chosen queue, not the first message's.
  const Q = (Number(row![1]) + 1) % 4;
  for (const q of [Q, Q]) {
    const r = await okJson<(typeof sent)[number] & { sendStatus: string }>([
      "sendMessage",
      "-t",
      TOPIC,
      "-p",
      `to queue ${q}`,
      "-k",
      "order-2",
      "-b",
      brokerName,
      "-i",
      String(q),
    ]);
    assert.equal(r.queueId, q);
    assert.equal(r.sendStatus, "SEND_OK");
    sent.push(r);
  }
  assert.equal(sent[1]!.queueOffset, sent[0]!.queueOffset + 1);
  const first = {
    msgId: row![3]!,
    offsetMsgId: row![4]!,
    queueId: Number(row![1]),
    queueOffset: Number(row![5]),
  };

  const byId = await ok(["queryMsgById", "-i", first.offsetMsgId]);
  assert.match(byId, new RegExp(`^OffsetID:\\s+${first.offsetMsgId}$`, "m"));
  assert.match(byId, new RegExp(`^MsgId:\\s+${first.msgId}$`, "m"));
  assert.match(byId, new RegExp(`^Topic:\\s+${TOPIC}$`, "m"));
  assert.match(byId, /^Tags:\s+\[paid\]$/m);
  assert.match(byId, /^Keys:\s+\[order-1\]$/m);
  assert.match(byId, new RegExp(`^Queue ID:\\s+${first.queueId}$`, "m"));
  assert.match(byId, /^Message Body:\s+hello admin$/m);
  const byUniq = await okJson<{ offsetMsgId: string; body: string }>([
    "queryMsgById",
    "-t",
    TOPIC,
    "-i",
    first.msgId,
  ]);
  assert.equal(byUniq.offsetMsgId, first.offsetMsgId);
  assert.equal(byUniq.body, "hello admin");

  const byKey = rows(await ok(["queryMsgByKey", "-t", TOPIC, "-k", "order-2"]), "#Message ID");
  assert.deepEqual(
    byKey.map((r) => r.slice(0, 4)),
    sent.map((s) => [s.msgId, String(Q), String(s.queueOffset), s.offsetMsgId]),
  );
  assert.equal(rows(await ok(["queryMsgByKey", "-t", TOPIC, "-k", "no-such-key"]), "#Message ID").length, 0);

  const byOffset = await ok([
    "queryMsgByOffset",
    "-t",
    TOPIC,
    "-b",
    brokerName,
    "-i",
    String(Q),
    "-o",
    String(sent[1]!.queueOffset),
  ]);
  assert.match(byOffset, new RegExp(`^OffsetID:\\s+${sent[1]!.offsetMsgId}$`, "m"));
  assert.match(byOffset, new RegExp(`^Message Body:\\s+to queue ${Q}$`, "m"));
  const miss = await admin(["queryMsgByOffset", "-t", TOPIC, "-b", brokerName, "-q", String(Q), "-o", "99"]);
  assertOneLineFailure(miss, "queryMsgByOffset", /no message at offset 99/);

  const consumed = await okJson<Array<{ msgId: string; body: string; queueId: number }>>([
    "consumeMessage",
    "-t",
    TOPIC,
  ]);
  assert.deepEqual(consumed.map((m) => m.msgId).sort(), [first.msgId, ...sent.map((s) => s.msgId)].sort());
  const one = rows(
    await ok(["consumeMessage", "-t", TOPIC, "-b", brokerName, "-i", String(Q), "-o", "1"]),
    "#Broker Name",
  );
  assert.deepEqual(
    one.map((r) => [r[0], r[1], r[2], r[3]]),
    [[brokerName, String(Q), "1", sent[1]!.msgId]],
  );

  const status = rows(await ok(["topicStatus", "-t", TOPIC]), "#Broker Name");
  assert.deepEqual(status.find((r) => r[1] === String(Q))!.slice(0, 4), [brokerName, String(Q), "0", "2"]);
  assert.match(status.find((r) => r[1] === String(Q))![4]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}$/);
  assert.equal(status.find((r) => r[1] === String((Q + 2) % 4))![3], "0");
  sent.push({ ...first, brokerName });
});

test("consumer online: consumerConnection, consumerProgress, message track; producerConnection", async () => {
  const got = new Set<string>();
  const consumer = new PushConsumer({
    namesrvAddr: nsAddr,
    consumerGroup: GROUP,
    subscriptions: { [TOPIC]: "*" },
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    persistConsumerOffsetInterval: 100,
    logger,
    messageListener: {
      consume(m) {
        got.add(m.messageId);
        return ConsumeResult.SUCCESS;
      },
    },
  });
  const producer = new Producer({
    namesrvAddr: nsAddr,
    producerGroup: "AdminProducer",
    logger,
    topic: TOPIC,
  });
  try {
    await consumer.startup();
    await producer.startup();
    await until("all messages consumed", async () => (got.size >= sent.length ? true : undefined));

    const conn = await ok(["consumerConnection", "-g", GROUP]);
    const [c] = rows(conn, "#    #ClientId");
    assert.equal(c![1], consumer.clientId);
    assert.match(c![2]!, /^127\.0\.0\.1:\d+$/);
    const subs = rows(conn, "#    #Topic").map((r) => r.slice(1));
    assert.ok(
      subs.some(([t, e]) => t === TOPIC && e === "*"),
      JSON.stringify(subs),
    );
    assert.match(conn, /^MessageModel:\s+CLUSTERING$/m);

    // Offsets are committed every 100 ms: wait until the lag is gone.
    const progress = await until("offsets committed", async () => {
      const text = await ok(["consumerProgress", "-g", GROUP]);
      return /^Consume Diff Total: 0$/m.test(text) ? text : undefined;
    });
    assert.deepEqual(headerCells(progress, "#Topic"), [
      "#Topic",
      "#Broker Name",
      "#QID",
      "#Broker Offset",
      "#Consumer Offset",
      "#Client IP",
      "#Diff",
      "#LastTime",
    ]);
    const Q = String(sent[0]!.queueId);
    const q2 = rows(progress, "#Topic").find((r) => r[0] === TOPIC && r[2] === Q)!;
    assert.deepEqual(q2.slice(0, 7), [TOPIC, brokerName, Q, "2", "2", "N/A", "0"]);
    assert.match(q2[7]!, /^\d{4}-\d\d-\d\d /);
    assert.match(progress, /^Consume TPS: \d+\.\d\d$/m);
    const withIp = rows(await ok(["consumerProgress", "-g", GROUP, "-s", "true"]), "#Topic");
    assert.ok(withIp.filter((r) => r[0] === TOPIC).every((r) => r[5] === consumer.clientId!.split("@")[0]));
    const groups = await okJson<
      Array<{ group: string; count: number; diffTotal: number; consumeType: string; messageModel: string }>
    >(["consumerProgress"]);
    const mine = groups.find((g) => g.group === GROUP);
    assert.deepEqual(mine && [mine.count, mine.diffTotal, mine.consumeType, mine.messageModel], [
      1,
      0,
      "CONSUME_PASSIVELY",
      "CLUSTERING",
    ]);

    const track = await okJson<{ track: Array<{ consumerGroup: string; trackType: string }> }>([
      "queryMsgById",
      "-i",
      sent[0]!.offsetMsgId,
    ]);
    assert.deepEqual(
      track.track.find((t) => t.consumerGroup === GROUP),
      { consumerGroup: GROUP, trackType: "CONSUMED" },
    );

    const prod = rows(await ok(["producerConnection", "-g", "AdminProducer", "-t", TOPIC]), "#    #ClientId");
    assert.deepEqual(
      prod.map((r) => r[1]),
      [producer.clientId],
    );
    assertOneLineFailure(
      await admin(["producerConnection", "-g", "NoSuchProducer", "-t", TOPIC]),
      "producerConnection",
      /producer group NoSuchProducer has no connection/,
    );
  } finally {
    await producer.shutdown();
    await consumer.shutdown();
  }
  assertOneLineFailure(
    await admin(["consumerConnection", "-g", GROUP]),
    "consumerConnection",
    /CONSUMER_NOT_ONLINE/,
  );
});

test("resetOffsetByTime moves an offline group back; consumerProgress shows the lag", async () => {
  const out = await ok(["resetOffsetByTime", "-g", GROUP, "-t", TOPIC, "-s", String(before0)]);
  assert.match(out, new RegExp(`group\\[${GROUP}\\], topic\\[${TOPIC}\\], force\\[true\\]`));
  assert.deepEqual(
    rows(out, "#Broker Name"),
    [0, 1, 2, 3].map((q) => [brokerName, String(q), "0"]),
  );
  const progress = await ok(["consumerProgress", "-g", GROUP]);
  assert.match(progress, new RegExp(`^Consume Diff Total: ${sent.length}$`, "m"));
  const lagged = rows(progress, "#Topic").filter((r) => r[0] === TOPIC && r[6] !== "0");
  assert.deepEqual(
    lagged.map((r) => [r[2], r[4], r[6]]).sort(),
    [
      [String(sent[0]!.queueId), "0", "2"],
      [String(sent[2]!.queueId), "0", "1"],
    ].sort(),
  );
  // topicList -c: the group holds offsets of the topic, so it is listed as its consumer.
  const byCluster = rows(await ok(["topicList", "-c"]), "#Cluster Name");
  assert.ok(
    byCluster.some((r) => r[0] === cluster && r[1] === TOPIC && r[2] === GROUP),
    JSON.stringify(byCluster),
  );
  // -s -1: to the end of every queue.
  const end = await okJson<{ offsets: Array<{ queueId: number; offset: number }> }>([
    "resetOffsetByTime",
    "-g",
    GROUP,
    "-t",
    TOPIC,
    "-s",
    "-1",
  ]);
  assert.equal(end.offsets.find((o) => o.queueId === sent[0]!.queueId)!.offset, 2);
  assertOneLineFailure(
    await admin(["resetOffsetByTime", "-g", GROUP, "-t", TOPIC, "-s", "tomorrow"]),
    "resetOffsetByTime",
    /not a timestamp/,
    2,
  );
});

test("clusterList rows: cluster, broker, id, address, version, TPS(LOAD), message totals", async () => {
  const text = await ok(["clusterList"]);
  assert.deepEqual(headerCells(text, "#Cluster Name"), [
    "#Cluster Name",
    "#Broker Name",
    "#BID",
    "#Addr",
    "#Version",
    "#InTPS(LOAD)",
    "#OutTPS(LOAD)",
    "#PCWait(ms)",
    "#Hour",
    "#SPACE",
    "#InTotalToday",
    "#OutTotalToday",
  ]);
  const [r] = rows(text, "#Cluster Name");
  assert.deepEqual(r!.slice(0, 5), [cluster, brokerName, "0", brokerAddr, "V4_9_8"]);
  assert.match(r![5]!, /^\d+\.\d\d\(\d+,\d+ms\)$/);
  assert.match(r![6]!, /^\d+\.\d\d\(\d+,\d+ms\)$/);
  assert.match(r![8]!, /^\d+\.\d\d$/);
  assert.match(r![9]!, /^\d\.\d{4}$/);
  assert.ok(Number(r![10]) >= sent.length, `InTotalToday ${r![10]}`);
  assert.ok(Number(r![11]) >= sent.length, `OutTotalToday ${r![11]}`);
  assert.equal(headerCells(await ok(["clusterList", "-m"]), "#Cluster Name").at(-1), "#OutTotalYest");
  const json = await okJson<Array<{ cluster: string; addr: string; inTotalToday: number }>>(["clusterList"]);
  assert.equal(json.length, 1);
  assert.equal(json[0]!.addr, brokerAddr);
  assert.ok(json[0]!.inTotalToday >= sent.length);
});

test("brokerStatus, getBrokerConfig, updateBrokerConfig", async () => {
  const status = await okJson<Record<string, string>>(["brokerStatus", "-b", brokerAddr]);
  for (const k of [
    "brokerVersionDesc",
    "putTps",
    "getTransferedTps",
    "msgPutTotalTodayNow",
    "earliestMessageTimeStamp",
    "commitLogDiskRatio",
    "bootTimestamp",
  ]) {
    assert.ok(k in status, `brokerStatus lacks ${k}`);
  }
  const st = rows(await ok(["brokerStatus", "-c", cluster]), "#Broker Addr");
  assert.deepEqual(
    st.find((r) => r[1] === "brokerVersionDesc"),
    [brokerAddr, "brokerVersionDesc", "V4_9_8"],
  );

  const before = await okJson<Record<string, string>>(["getBrokerConfig", "-b", brokerAddr]);
  assert.equal(before.brokerName, brokerName);
  assert.notEqual(before.defaultQueryMaxNum, "33");
  const upd = await ok(["updateBrokerConfig", "-b", brokerAddr, "-k", "defaultQueryMaxNum", "-v", "33"]);
  assert.match(upd, /update broker config success/);
  assert.match(await ok(["getBrokerConfig", "-c", cluster]), /^defaultQueryMaxNum\s+=\s+33$/m);
  assert.equal(broker.config.defaultQueryMaxNum, 33);
  assertOneLineFailure(
    await admin(["updateBrokerConfig", "-b", brokerAddr, "-k", "listenPort", "-v", "1"]),
    "updateBrokerConfig",
    /cannot change while the broker runs/,
  );
});

test("updateTopic -o true puts the order config on the NameServer", async () => {
  const out = await ok([
    "updateTopic",
    "-b",
    brokerAddr,
    "-t",
    "AdminOrdered",
    "-r",
    "2",
    "-w",
    "2",
    "-o",
    "true",
  ]);
  assert.match(out, new RegExp(`set order topic conf ${brokerName}:2 on the NameServers\\.`));
  assert.equal(ns.routes.getKVConfig("ORDER_TOPIC_CONFIG", "AdminOrdered"), `${brokerName}:2`);
});

test("updateSubGroup / deleteSubGroup", async () => {
  const client = new Admin({ namesrvAddr: nsAddr, logger });
  const groups = async () => {
    const res = await client.api.call(
      brokerAddr,
      RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
      undefined,
      undefined,
    );
    return decodeJson<{
      subscriptionGroupTable: Record<string, { retryMaxTimes: number; consumeEnable: boolean }>;
    }>(res.body, "groups").subscriptionGroupTable;
  };
  try {
    const out = await ok(["updateSubGroup", "-c", cluster, "-g", "AdminSubGroup", "-r", "3", "-s", "false"]);
    assert.match(out, new RegExp(`create subscription group to ${brokerAddr} success\\.`));
    const g = (await groups()).AdminSubGroup!;
    assert.equal(g.retryMaxTimes, 3);
    assert.equal(g.consumeEnable, false);
    await ok(["deleteSubGroup", "-b", brokerAddr, "-g", "AdminSubGroup"]);
    assert.equal((await groups()).AdminSubGroup, undefined);
  } finally {
    await client.shutdown();
  }
});

test("deleteTopic removes it from the broker and the NameServer", async () => {
  await ok(["updateTopic", "-b", brokerAddr, "-t", "AdminDoomed", "-r", "2", "-w", "2"]);
  assert.ok((await okJson<string[]>(["topicList"])).includes("AdminDoomed"));
  const out = await ok(["deleteTopic", "-c", cluster, "-t", "AdminDoomed"]);
  assert.match(out, /delete topic \[AdminDoomed\] from cluster/);
  assert.ok(!(await okJson<string[]>(["topicList"])).includes("AdminDoomed"));
  assertOneLineFailure(
    await admin(["topicRoute", "-t", "AdminDoomed"]),
    "topicRoute",
    /No route info for topic "AdminDoomed"/,
  );
  assertOneLineFailure(
    await admin(["deleteTopic", "-c", "NoCluster", "-t", TOPIC]),
    "deleteTopic",
    /cluster NoCluster is unknown/,
  );
});

test("failures: one line on stderr, non-zero exit, no stack (unless --debug)", async () => {
  assertOneLineFailure(await admin(["noSuchThing"]), "noSuchThing", /unknown subcommand/, 2);
  assertOneLineFailure(await admin(["topicStatus"]), "topicStatus", /missing option -t \(topic\)/, 2);
  assertOneLineFailure(
    await admin(["consumerProgress", "-g", "NoSuchGroup"]),
    "consumerProgress",
    /consumer group NoSuchGroup is unknown to the cluster/,
  );
  assertOneLineFailure(
    await admin(["topicStatus", "-t", "bad topic!"]),
    "topicStatus",
    /may contain only/,
    2,
  );
  // A port nobody listens on: bound, then closed.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const down = await admin(["clusterList", "-n", `127.0.0.1:${port}`], { withNamesrv: false });
  assertOneLineFailure(
    down,
    "clusterList",
    /ECONNREFUSED 127\.0\.0\.1:\d+.*\(is a NameServer running\? pass -n\)$/,
  );
  const debug = await admin(["clusterList", "-n", `127.0.0.1:${port}`, "--debug"], { withNamesrv: false });
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /\n\s+at /);
});
