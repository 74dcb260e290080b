/**
 * The Dead letters page's API against a real cluster: groups with their counts, a group's
 * dead letters paged exactly, export as CSV and JSON (a cut export says so), and resend one,
 * a selection or all to %RETRY%<group> — an admin write with CSRF and an audit line, refused
 * to a viewer, and never connecting to a broker a message id names outside the cluster.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import { decodeOffsetMsgId } from "@tidemq/protocol";
import type { DashboardServer } from "../src/index.js";
import {
  Http,
  PASSWORDS,
  quietLogger,
  startConsole,
  startTestCluster,
  type TestCluster,
  testUsers,
} from "./cluster.js";

let cluster: TestCluster;
let server: DashboardServer;
let admin: Admin;
let http: Http;
let csrf: string;
const TOPIC = "DlqApiOrders";
const GROUP = "DlqApiGroup";
const OTHER = "DlqApiOther";
const DEAD = 5;
const otherIds: string[] = [];

/** Sends a message and dead-letters it for `group`, as a consumer that gives up does (delay level −1). */
async function deadLetter(producer: Producer, group: string, i: number): Promise<string> {
  const r = await producer.send({
    topic: TOPIC,
    body: `refund, "${i}"\nline two`,
    keys: [`refund-${i}`],
    tag: "t",
  });
  await admin.api.consumerSendMessageBack(cluster.brokerAddr, {
    offset: decodeOffsetMsgId(r.offsetMessageId).commitLogOffset,
    group,
    delayLevel: -1,
    originMsgId: r.messageId,
    originTopic: TOPIC,
    maxReconsumeTimes: 16,
  });
  return r.offsetMessageId;
}

const retryMq = () => ({ topic: `%RETRY%${GROUP}`, brokerName: "broker-a", queueId: 0 });
const retryCount = () => admin.getMaxOffset(cluster.brokerAddr, retryMq()).catch(() => 0);

before(async () => {
  cluster = await startTestCluster("dash-dlq-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
  await admin.createTopic({
    topic: TOPIC,
    brokerAddr: cluster.brokerAddr,
    readQueueNums: 1,
    writeQueueNums: 1,
  });
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: quietLogger });
  await producer.startup();
  for (let i = 0; i < DEAD; i++) await deadLetter(producer, GROUP, i);
  otherIds.push(await deadLetter(producer, OTHER, 99));
  await producer.shutdown();
  server = await startConsole(cluster);
  http = new Http(server.url);
  csrf = (await http.req("GET", "/api/session")).json.csrf as string;
});
after(async () => {
  await server?.stop();
  await admin?.shutdown();
  await cluster?.stop();
});

test("groups with dead letters: count, oldest, newest; paged with the cut said; search", async () => {
  const r = await http.req("GET", "/api/deadLetters");
  assert.equal(r.status, 200);
  const items = r.json.items as Array<{ group: string; count: number; oldest: number; newest: number }>;
  assert.deepEqual(
    items.map((g) => [g.group, g.count]),
    [
      [GROUP, DEAD],
      [OTHER, 1],
    ],
  );
  assert.ok(items[0]!.oldest > 0 && items[0]!.oldest <= items[0]!.newest);
  const paged = await http.req("GET", "/api/deadLetters?size=1&page=1");
  assert.deepEqual(
    [paged.json.total, paged.json.offset, paged.json.cut, (paged.json.items as unknown[]).length],
    [2, 1, true, 1],
  );
  const found = await http.req("GET", "/api/deadLetters?search=other");
  assert.deepEqual(
    (found.json.items as Array<{ group: string }>).map((g) => g.group),
    [OTHER],
  );
});

test("a group's dead letters, paged exactly, with origin topic and keys", async () => {
  const p1 = await http.req("GET", `/api/deadLetters/messages?group=${GROUP}&size=2&page=1`);
  assert.equal(p1.status, 200);
  const items = p1.json.items as Array<{ keys: string; originTopic: string; queueOffset: number }>;
  assert.deepEqual(
    items.map((m) => m.keys),
    ["refund-2", "refund-3"],
  );
  assert.equal(items[0]!.originTopic, TOPIC);
  assert.deepEqual([p1.json.total, p1.json.offset, p1.json.cut], [DEAD, 2, true]);
  const last = await http.req("GET", `/api/deadLetters/messages?group=${GROUP}&size=2&page=9`);
  assert.deepEqual(
    (last.json.items as Array<{ keys: string }>).map((m) => m.keys),
    ["refund-4"],
  );
  const none = await http.req("GET", "/api/deadLetters/messages?group=NoDeadLettersHere");
  assert.deepEqual([none.status, none.json.count, (none.json.items as unknown[]).length], [200, 0, 0]);
  const topicGiven = await http.req("GET", `/api/deadLetters/messages?group=%25DLQ%25${GROUP}`);
  assert.equal(topicGiven.status, 400);
});

async function download(path: string) {
  const res = await fetch(new URL(path, server.url), { headers: { cookie: http.cookie } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

test("export: CSV and JSON files with every dead letter and its body; a bad format is a 400", async () => {
  const csv = await download(`/api/deadLetters/export?group=${GROUP}&format=csv`);
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get("content-type") ?? "", /^text\/csv/);
  assert.match(
    csv.headers.get("content-disposition") ?? "",
    /^attachment; filename="dead-letters-DlqApiGroup-.*\.csv"$/,
  );
  assert.equal(csv.headers.get("x-tidemq-note"), null, "nothing was cut");
  const lines = csv.text.split("\r\n");
  assert.match(lines[0]!, /^msgId,offsetMsgId,originTopic,originMsgId,keys,tag,.*,bodyEncoding,body$/);
  // 5 records, each body holding a quoted comma/quote and a line break, plus the final CRLF.
  assert.equal(csv.text.match(/refund-\d,t,/g)?.length, DEAD);
  assert.ok(csv.text.includes(`utf8,"refund, ""0""\nline two"\r\n`), csv.text.slice(0, 400));

  const json = await download(`/api/deadLetters/export?group=${GROUP}&format=json`);
  assert.equal(json.status, 200);
  const doc = JSON.parse(json.text) as {
    count: number;
    exported: number;
    cut: boolean;
    messages: Array<{ body: string; keys: string; originTopic: string }>;
  };
  assert.deepEqual([doc.count, doc.exported, doc.cut], [DEAD, DEAD, false]);
  assert.equal(doc.messages[4]!.body, 'refund, "4"\nline two');
  assert.equal(doc.messages[4]!.originTopic, TOPIC);

  const bad = await download(`/api/deadLetters/export?group=${GROUP}&format=xml`);
  assert.equal(bad.status, 400);
});

test("resend one, a selection and all to %RETRY%<group>: CSRF needed, audited, ids checked before any connection", async () => {
  const list = await http.req("GET", `/api/deadLetters/messages?group=${GROUP}`);
  const ids = (list.json.items as Array<{ offsetMsgId: string }>).map((m) => m.offsetMsgId);
  assert.equal(ids.length, DEAD);
  const before = await retryCount();

  const noCsrf = await http.req("POST", "/api/deadLetters/resend", {
    body: { group: GROUP, msgIds: [ids[0]] },
  });
  assert.equal(noCsrf.status, 403);
  assert.equal(await retryCount(), before, "nothing resent without the CSRF token");

  const one = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, msgIds: [ids[0]] },
  });
  assert.equal(one.status, 200, JSON.stringify(one.json));
  assert.equal(one.json.resent, 1);
  assert.equal(await retryCount(), before + 1);
  const copy = await admin.pullMessages(cluster.brokerAddr, retryMq(), before, 1);
  assert.equal(copy.messages[0]!.properties.KEYS, "refund-0");
  assert.equal(copy.messages[0]!.properties.RETRY_TOPIC, TOPIC);

  const sel = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, msgIds: [ids[1], ids[2]] },
  });
  assert.equal(sel.json.resent, 2);
  assert.equal(await retryCount(), before + 3);

  // The three resent ones are marked: the list shows it, "all" skips them unless forced.
  const marked = await http.req("GET", `/api/deadLetters/messages?group=${GROUP}`);
  const resentIds = (
    marked.json.items as Array<{ offsetMsgId: string; resentAt?: number; resentAs?: string }>
  )
    .filter((m) => m.resentAt !== undefined && typeof m.resentAs === "string")
    .map((m) => m.offsetMsgId);
  assert.deepEqual(resentIds.sort(), ids.slice(0, 3).sort());
  const rest = await http.req("POST", "/api/deadLetters/resend", { csrf, body: { group: GROUP, all: true } });
  assert.deepEqual([rest.json.resent, rest.json.skipped], [DEAD - 3, 3]);
  assert.match(String(rest.json.message), /resent 2 dead letters .*; 3 skipped: resent before/);
  assert.equal(await retryCount(), before + DEAD);
  const again = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, msgIds: [ids[0]] },
  });
  assert.deepEqual([again.json.resent, again.json.skipped], [0, 1]);
  assert.equal(await retryCount(), before + DEAD, "resending twice does not deliver twice unless forced");

  const all = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, all: true, force: true },
  });
  assert.equal(all.status, 200);
  assert.deepEqual([all.json.resent, all.json.truncated], [DEAD, false]);
  assert.match(String(all.json.message), /resent 5 dead letters of DlqApiGroup to %RETRY%DlqApiGroup$/);
  assert.equal(await retryCount(), before + DEAD + DEAD);

  // A time range: the dead letters stored in it (here: from the third one on).
  const items = list.json.items as Array<{ storeTimestamp: number }>;
  const from = items[2]!.storeTimestamp;
  const expected = items.filter((m) => m.storeTimestamp >= from).length;
  const ranged = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, begin: from, force: true },
  });
  assert.equal(ranged.status, 200, JSON.stringify(ranged.json));
  assert.deepEqual([ranged.json.resent, ranged.json.scanned], [expected, DEAD]);
  assert.equal(await retryCount(), before + DEAD + DEAD + expected);
  const empty = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, begin: Date.now() + 60_000 },
  });
  assert.equal(empty.json.resent, 0);
  const backwards = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, begin: 10, end: 5 },
  });
  assert.equal(backwards.status, 400);
  const afterRanges = before + DEAD + DEAD + expected;

  // Another group's dead letter, a foreign broker in the id, both selectors, too many ids: refused.
  const wrongGroup = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, msgIds: otherIds },
  });
  assert.equal(wrongGroup.status, 400);
  assert.match(String(wrongGroup.json.error), /not a dead letter of group DlqApiGroup/);
  const foreign = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, msgIds: ["0A0102030000277100000000000000AA"] },
  });
  assert.equal(foreign.status, 400);
  assert.match(String(foreign.json.error), /not a broker of this cluster/);
  const both = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, all: true, msgIds: [ids[0]] },
  });
  assert.equal(both.status, 400);
  const idsAndRange = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, begin: 0, msgIds: [ids[0]] },
  });
  assert.equal(idsAndRange.status, 400);
  assert.match(String(idsAndRange.json.error), /exactly one of/);
  const many = await http.req("POST", "/api/deadLetters/resend", {
    csrf,
    body: { group: GROUP, msgIds: Array.from({ length: 1001 }, () => ids[0]) },
  });
  assert.equal(many.status, 400);
  assert.match(String(many.json.error), /at most 1,000/);
  assert.equal(await retryCount(), afterRanges, "no refused request resent anything");

  const audit = (await readFile(server.audit.file, "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { action: string; outcome: string });
  const resends = audit.filter((a) => a.action === "deadLetter.resend").map((a) => a.outcome);
  assert.deepEqual(resends, [
    "refused",
    // one, selection, the rest (skipping the resent), one again (skipped), all forced, two ranges
    ...["ok", "ok", "ok", "ok", "ok", "ok", "ok"],
    ...["failed", "failed", "failed", "failed", "failed", "failed"],
  ]);
});

test("a viewer sees the dead letters but the server refuses a viewer's resend", async () => {
  const secured = await startConsole(cluster, { users: await testUsers() });
  try {
    const viewer = new Http(secured.url);
    const token = await viewer.login("victor", PASSWORDS.viewer);
    const seen = await viewer.req("GET", "/api/deadLetters");
    assert.equal(seen.status, 200);
    const before = await retryCount();
    const r = await viewer.req("POST", "/api/deadLetters/resend", {
      csrf: token,
      body: { group: GROUP, all: true },
    });
    assert.equal(r.status, 403);
    assert.match(String(r.json.error), /viewer/);
    assert.equal(await retryCount(), before);
  } finally {
    await secured.stop();
  }
});
