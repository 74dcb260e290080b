/**
 * The console in real headless Chromium (Debian's chromium, driven by puppeteer-core)
 * against a real cluster written to by our client and by ali-ons: every page renders real
 * data; create a topic, send a test message, find it by key, reset a group's offset, and
 * check the cluster changed; a viewer cannot write (the server refuses a forged request);
 * CSRF refusal; no request leaves 127.0.0.1; no uncaught page error. Screenshots of each
 * page go to test-artifacts/dashboard/ (git-ignored).
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Admin, ConsumeResult, Producer, PushConsumer } from "@tidemq/client";
import { decodeOffsetMsgId } from "@tidemq/protocol";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import type { DashboardServer } from "../src/index.js";
import { findChromium, NO_CHROMIUM } from "./chromium.js";
import {
  PASSWORDS,
  quietLogger,
  startConsole,
  startTestCluster,
  type TestCluster,
  testUsers,
} from "./cluster.js";

// Functions passed to page.evaluate run in the browser; these names exist there, not in Node
// (declared here, in this module only, rather than adding the DOM library to the package).
// biome-ignore lint/suspicious/noExplicitAny: browser globals
declare const document: any;
// biome-ignore lint/suspicious/noExplicitAny: browser globals
declare const location: any;
type HTMLElement = { click(): void; textContent: string | null };
type HTMLInputElement = { value: string };

const chromium = findChromium();
const skip = chromium ? false : NO_CHROMIUM;
if (!chromium) console.log(`# SKIP ${NO_CHROMIUM}`);

const require = createRequire(import.meta.url);
interface OnsProducer {
  ready(): Promise<void>;
  send(msg: unknown): Promise<{ sendStatus: string; msgId: string }>;
  close(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}
const ons = require("ali-ons") as {
  Producer: new (opts: object) => OnsProducer;
  Message: new (topic: string, tags: string, body: string | Buffer) => { keys: string[] };
};
const MQProducer = require("ali-ons/lib/producer/mq_producer.js") as { defaultProducer?: OnsProducer };
const onsQuiet = { logger: { info() {}, warn() {}, debug() {}, error() {} }, httpclient: {} };

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const SHOTS = join(ROOT, "test-artifacts", "dashboard");
const TOPIC = "DashOrders";
const GROUP = "DashGroup";
const PRODUCER_GROUP = "DashProducers";
const WAIT = { timeout: 30_000 };

let cluster: TestCluster;
let server: DashboardServer;
let admin: Admin;
let producer: Producer;
let browser: Browser;
/** Requests the page tried to send anywhere but 127.0.0.1, and uncaught page errors. */
const outside: string[] = [];
const pageErrors: string[] = [];
let sentTotal = 0;

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newPage(): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  await page.setRequestInterception(true);
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (
      (url.protocol === "http:" || url.protocol === "https:" || url.protocol === "ws:") &&
      url.hostname !== "127.0.0.1"
    ) {
      outside.push(req.url());
      void req.abort();
    } else void req.continue();
  });
  page.on("pageerror", (err) => pageErrors.push(String((err as Error).message ?? err)));
  return page;
}

async function login(page: Page, name: string, password: string): Promise<void> {
  await page.goto(server.url, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("form.login input[name=name]", WAIT);
  await page.type("input[name=name]", name);
  await page.type("input[name=password]", password);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.click("form.login button"),
  ]);
  await page.waitForSelector("header nav a[data-page=cluster]", WAIT);
}

async function go(page: Page, hash: string, pageId: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await page.waitForSelector(`section[data-page=${pageId}]`, WAIT);
}

async function waitText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    (sel, t) => [...document.querySelectorAll(sel)].some((e) => e.textContent?.includes(t)),
    WAIT,
    selector,
    text,
  );
}

async function click(page: Page, selector: string, text: string): Promise<void> {
  await waitText(page, selector, text);
  await page.evaluate(
    (sel, t) => {
      // An exact label first ("Send" is not the "Send message" tab), else one containing it.
      const all = [...(document.querySelectorAll(sel) as HTMLElement[])];
      const el = all.find((e) => e.textContent?.trim() === t) ?? all.find((e) => e.textContent?.includes(t));
      el!.click();
    },
    selector,
    text,
  );
}

async function setValue(page: Page, selector: string, value: string): Promise<void> {
  await page.waitForSelector(selector, WAIT);
  await page.$eval(
    selector,
    (el, v) => {
      (el as HTMLInputElement).value = v;
    },
    value,
  );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

before(async () => {
  if (!chromium) return;
  await mkdir(SHOTS, { recursive: true });
  cluster = await startTestCluster("dash-browser-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
  await admin.createTopic({
    topic: TOPIC,
    brokerAddr: cluster.brokerAddr,
    readQueueNums: 4,
    writeQueueNums: 4,
  });
  // Our client writes, keeps its producer online (the Producers page), and one group consumes.
  producer = new Producer({ endpoints: cluster.nsAddr, producerGroup: PRODUCER_GROUP, logger: quietLogger });
  await producer.startup();
  for (let i = 0; i < 20; i++) {
    await producer.send({
      topic: TOPIC,
      tag: "paid",
      keys: [`order-${i}`],
      body: JSON.stringify({ order: i, amount: 10 + i }),
    });
    sentTotal++;
  }
  // ali-ons, a client nobody here wrote, writes too.
  const p = new ons.Producer({ nameSrv: cluster.nsAddr, producerGroup: "DashOnsProducers", ...onsQuiet });
  p.on("error", () => {});
  await p.ready();
  for (let i = 0; i < 5; i++) {
    const m = new ons.Message(TOPIC, "ons", `ali-ons message ${i}`);
    m.keys = [`ons-${i}`];
    assert.equal((await p.send(m)).sendStatus, "SEND_OK");
    sentTotal++;
  }
  await p.close();
  let got = 0;
  const consumer = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: GROUP,
    subscriptions: new Map([[TOPIC, "*"]]),
    messageListener: {
      consume() {
        got++;
        return ConsumeResult.SUCCESS;
      },
    },
    logger: quietLogger,
    rebalanceInterval: 500,
    persistConsumerOffsetInterval: 200,
  });
  await consumer.startup();
  await waitFor(async () => got >= sentTotal, `${sentTotal} messages consumed`);
  await consumer.shutdown();
  await waitFor(
    async () => (await admin.getConsumeStatsOnBroker(cluster.brokerAddr, GROUP, TOPIC)).diffTotal === 0,
    "the group's offsets committed",
  );
  server = await startConsole(cluster, { users: await testUsers() });
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--disable-extensions",
    ],
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await server?.stop();
  await producer?.shutdown().catch(() => undefined);
  await MQProducer.defaultProducer?.close().catch(() => undefined);
  await admin?.shutdown();
  await cluster?.stop();
});

test("admin: every page renders the cluster's real data", { skip }, async () => {
  const page = await newPage();
  await login(page, "alice", PASSWORDS.admin);

  await go(page, "#/cluster", "cluster");
  await waitText(page, "section[data-page=cluster] td", cluster.brokerAddr);
  await waitText(page, "section[data-page=cluster] td", "MASTER");
  await click(page, "section[data-page=cluster] button", "Status");
  await waitText(page, "section[data-page=cluster] .panel td", "brokerVersionDesc");
  await shot(page, "cluster");

  // Live traffic on another topic while the Dashboard is open: its line must appear.
  let stopTraffic = false;
  const traffic = (async () => {
    for (let i = 0; i < 600 && !stopTraffic; i++) {
      await producer.send({ topic: "DashTraffic", body: `tick ${i}` });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await go(page, "#/dashboard", "dashboard");
    await page.waitForSelector(
      "section[data-page=dashboard] svg path[data-series='broker-a/0 produce']",
      WAIT,
    );
    await page.waitForSelector("section[data-page=dashboard] svg path[data-series=DashTraffic]", WAIT);
  } finally {
    stopTraffic = true;
    await traffic;
  }
  await shot(page, "dashboard");

  await go(page, `#/topics?search=${TOPIC}`, "topics");
  await click(page, "section[data-page=topics] tr.clickable", TOPIC);
  await page.waitForSelector(`[data-topic=${TOPIC}]`, WAIT);
  const queues = await page.$$eval(`[data-topic=${TOPIC}] tbody tr`, (rows) => rows.length);
  assert.equal(queues, 4, "Status lists the 4 queues");
  await click(page, `[data-topic=${TOPIC}] .tabs button`, "Consumers");
  await waitText(page, `[data-topic=${TOPIC}] td`, GROUP);
  await shot(page, "topics");

  await go(page, "#/consumers", "consumers");
  await click(page, "section[data-page=consumers] tr.clickable", GROUP);
  await page.waitForSelector(`[data-group=${GROUP}]`, WAIT);
  await waitText(page, `[data-group=${GROUP}] td`, TOPIC);
  await shot(page, "consumers");

  await go(page, `#/producers?topic=${TOPIC}&group=${PRODUCER_GROUP}`, "producers");
  await waitText(page, "section[data-page=producers] td", "127.0.0.1");
  await shot(page, "producers");

  await go(page, `#/messages?topic=${TOPIC}`, "messages");
  await click(page, "section[data-page=messages] [data-form=by-time] ~ p button", "Search");
  await waitText(page, "section[data-page=messages] p", `${sentTotal} messages stored in this range`);
  await waitText(page, "section[data-page=messages] td", "ons-3");
  await click(page, "section[data-page=messages] tr.clickable", "ons-3");
  await waitText(page, "[data-message] pre", "ali-ons message 3");
  await click(page, "[data-message] .tabs button", "Consumption");
  await waitText(page, "[data-message] td", "CONSUMED");
  await shot(page, "messages");
  await page.close();
});

test("admin: create a topic, send a test message, find it by key, reset a group's offset, delete the topic — and the cluster changed", {
  skip,
}, async () => {
  const page = await newPage();
  await login(page, "alice", PASSWORDS.admin);
  const topic = "DashNew";

  await go(page, "#/topics", "topics");
  await click(page, "section[data-page=topics] button", "Add / update topic");
  await setValue(page, "[data-form=create-topic] input[name=topic]", topic);
  await setValue(page, "[data-form=create-topic] input[name=readQueueNums]", "3");
  await setValue(page, "[data-form=create-topic] input[name=writeQueueNums]", "3");
  await click(page, "[data-form=create-topic] button", "Save");
  await waitText(page, "[data-form=create-topic] .okmsg", `topic ${topic} saved`);
  const created = (await admin.getAllTopicConfig(cluster.brokerAddr))[topic];
  assert.equal(created?.writeQueueNums, 3, "the broker has the new topic with 3 queues");

  await go(page, `#/topics?search=${topic}`, "topics");
  await click(page, "section[data-page=topics] tr.clickable", topic);
  await click(page, `[data-topic=${topic}] .tabs button`, "Send message");
  await setValue(page, "[data-form=send-message] input[name=keys]", "ui-key-1");
  await setValue(page, "[data-form=send-message] textarea[name=body]", '{"hello":"console"}');
  await click(page, `[data-topic=${topic}] button`, "Send");
  await waitText(page, "section[data-page=topics] .okmsg", "SEND_OK");
  const stored = await admin.queryMessage(topic, "ui-key-1");
  assert.equal(stored.length, 1, "the broker stored the test message, findable by its key");
  assert.equal(stored[0]!.body.toString(), '{"hello":"console"}');

  await go(page, `#/messages?topic=${topic}`, "messages");
  await click(page, "section[data-page=messages] .tabs button", "By key");
  await setValue(page, "[data-form=by-key] input[name=key]", "ui-key-1");
  await click(page, "section[data-page=messages] [data-form=by-key] ~ p button", "Search");
  await click(page, "section[data-page=messages] tr.clickable", "ui-key-1");
  await click(page, "[data-message] .tabs button", "Body (JSON)");
  await waitText(page, "[data-message] pre[data-body=json]", '"hello": "console"');
  await click(page, "[data-message] .tabs button", "Body (hex)");
  await waitText(page, "[data-message] pre[data-body=hex]", "7b 22 68 65");

  // The group consumed everything; reset it to the beginning from the Consumers page.
  assert.equal((await admin.getConsumeStatsOnBroker(cluster.brokerAddr, GROUP, TOPIC)).diffTotal, 0);
  await go(page, `#/consumers?group=${GROUP}`, "consumers");
  await page.waitForSelector(`[data-group=${GROUP}]`, WAIT);
  await click(page, `[data-group=${GROUP}] .tabs button`, "Reset offset");
  await page.select("[data-form=reset-offset] select[name=topic]", TOPIC);
  await click(page, `[data-group=${GROUP}] button`, "Reset to time");
  await waitText(page, "section[data-page=consumers] .okmsg", "offsets reset");
  const after = await admin.getConsumeStatsOnBroker(cluster.brokerAddr, GROUP, TOPIC);
  assert.equal(after.diffTotal, sentTotal, "every message is a backlog again");
  assert.ok(after.queues.every((q) => q.consumerOffset === 0));

  // And past the backlog again from the Topics page, whose offset reset picks the group.
  await go(page, `#/topics?topic=${TOPIC}`, "topics");
  await click(page, `[data-topic=${TOPIC}] .tabs button`, "Reset offset");
  await page.select("[data-form=reset-offset] select[name=group]", GROUP);
  await click(page, `[data-topic=${TOPIC}] button`, "Skip backlog (to the end)");
  await waitText(page, "section[data-page=topics] .okmsg", `offsets of ${GROUP} moved to the end`);
  const skipped = await admin.getConsumeStatsOnBroker(cluster.brokerAddr, GROUP, TOPIC);
  assert.equal(skipped.diffTotal, 0, "no backlog left");

  // The new topic is deleted from its Update / delete tab (after the browser's confirm).
  await go(page, `#/topics?topic=${topic}`, "topics");
  await click(page, `[data-topic=${topic}] .tabs button`, "Update / delete");
  page.once("dialog", (d) => void d.accept());
  await click(page, `[data-topic=${topic}] button`, "Delete topic");
  await waitText(page, "section[data-page=topics] .okmsg", `topic ${topic} deleted`);
  assert.equal(
    (await admin.getAllTopicConfig(cluster.brokerAddr))[topic],
    undefined,
    "the broker has no DashNew",
  );
  await page.close();
});

test("viewer: no write controls, and the server refuses a forged write; CSRF refused; loopback console says it has no login; nothing left 127.0.0.1; no page error", {
  skip,
}, async () => {
  const page = await newPage();
  await login(page, "victor", PASSWORDS.viewer);
  await go(page, "#/topics", "topics");
  await waitText(page, "section[data-page=topics] td", TOPIC);
  const writeButtons = await page.$$eval("section[data-page=topics] button", (bs) =>
    bs.map((b) => b.textContent).filter((t) => /Add|Delete|Update|Send|Reset/.test(t ?? "")),
  );
  assert.deepEqual(writeButtons, [], "a viewer sees no write action");
  await click(page, "section[data-page=topics] tr.clickable", TOPIC);
  await page.waitForSelector(`[data-topic=${TOPIC}] .tabs button`, WAIT);
  const tabs = await page.$$eval(`[data-topic=${TOPIC}] .tabs button`, (bs) => bs.map((b) => b.textContent));
  assert.deepEqual(tabs, ["Status", "Route", "Consumers (1)", "Config"]);
  await shot(page, "viewer-topics");

  // Forged from the viewer's own page, with the session's valid CSRF token: the server says no.
  const forged = await page.evaluate(async () => {
    const s = (await (await fetch("/api/session")).json()) as { csrf: string };
    const res = await fetch("/api/topics/delete", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": s.csrf },
      body: JSON.stringify({ topic: "DashOrders" }),
    });
    return { status: res.status, body: (await res.json()) as { error: string } };
  });
  assert.equal(forged.status, 403);
  assert.match(forged.body.error, /viewer/);
  assert.ok((await admin.getAllTopicConfig(cluster.brokerAddr))[TOPIC], "the topic is still there");

  // An admin's session without the CSRF token: refused too.
  const adminPage = await newPage();
  await login(adminPage, "alice", PASSWORDS.admin);
  const noCsrf = await adminPage.evaluate(async () => {
    const res = await fetch("/api/topics/delete", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "DashOrders" }),
    });
    return res.status;
  });
  assert.equal(noCsrf, 403);
  assert.ok((await admin.getAllTopicConfig(cluster.brokerAddr))[TOPIC], "the topic is still there");
  await adminPage.close();
  await page.close();

  // A console without users (loopback): no login form, and every page says there is none.
  const open = await startConsole(cluster);
  try {
    const anon = await newPage();
    await anon.goto(open.url, { waitUntil: "domcontentloaded" });
    await waitText(anon, ".banner", "No login: this console listens on a loopback address only");
    await waitText(anon, "section[data-page=cluster] td", cluster.brokerAddr);
    assert.equal(await anon.$("form.login"), null);
    await anon.close();
  } finally {
    await open.stop();
  }

  assert.deepEqual(outside, [], "no request left 127.0.0.1");
  assert.deepEqual(pageErrors, [], "no uncaught error in any page");
});

test("admin: Dead letters lists a group's dead letters, exports them, resends one, a selection, all and a time range — and the retry topic got the copies", {
  skip,
}, async () => {
  const group = "DashDlqGroup";
  for (let i = 0; i < 3; i++) {
    const r = await producer.send({ topic: TOPIC, tag: "refund", keys: [`dead-${i}`], body: `refund ${i}` });
    // What a consumer does when it gives up on a message: send it back with delay level −1.
    await admin.api.consumerSendMessageBack(cluster.brokerAddr, {
      offset: decodeOffsetMsgId(r.offsetMessageId).commitLogOffset,
      group,
      delayLevel: -1,
      originMsgId: r.messageId,
      originTopic: TOPIC,
      maxReconsumeTimes: 16,
    });
  }
  const retry = { topic: `%RETRY%${group}`, brokerName: "broker-a", queueId: 0 };
  const copies = () => admin.getMaxOffset(cluster.brokerAddr, retry).catch(() => 0);
  const page = await newPage();
  await login(page, "alice", PASSWORDS.admin);
  await go(page, "#/deadLetters", "deadLetters");
  await click(page, "section[data-page=deadLetters] tr.clickable", group);
  await page.waitForSelector(`[data-dlq=${group}] input[type=checkbox]`, WAIT);
  await waitText(page, `[data-dlq=${group}] td`, "dead-2");
  await waitText(page, `[data-dlq=${group}] td`, TOPIC);
  await shot(page, "dead-letters");

  // The export links download what the page lists (fetched here as the browser would).
  const exported = await page.evaluate(async () => {
    const a = document.querySelector("[data-export=csv]") as { href: string };
    const res = await fetch(a.href);
    return { type: res.headers.get("content-type"), text: await res.text() };
  });
  assert.match(exported.type ?? "", /^text\/csv/);
  assert.equal(exported.text.match(/dead-\d,refund,/g)?.length, 3);

  assert.equal(await copies(), 0);
  await click(page, `[data-dlq=${group}] tbody tr:nth-child(1) button`, "Resend");
  await waitText(page, `[data-dlq=${group}] .okmsg`, "resent 1 of 1 selected");
  assert.equal(await copies(), 1, "one copy in the group's retry topic");

  await page.click(`[data-dlq=${group}] tbody tr:nth-child(2) input[type=checkbox]`);
  await page.click(`[data-dlq=${group}] tbody tr:nth-child(3) input[type=checkbox]`);
  await click(page, `[data-dlq=${group}] .toolbar button`, "Resend selected (2)");
  await waitText(page, `[data-dlq=${group}] .okmsg`, "resent 2 of 2 selected");
  assert.equal(await copies(), 3);

  // All three were resent: "all" and the range skip them (resending twice needs "Resend again").
  await click(page, `[data-dlq=${group}] .toolbar button`, "Resend all 3");
  await click(page, `[data-dlq=${group}] .toolbar button`, "Confirm: resend all 3");
  await waitText(page, `[data-dlq=${group}] .okmsg`, "3 skipped: resent before");
  await click(page, `[data-dlq=${group}] [data-form=resend-range] button`, "Resend stored in range");
  await waitText(page, `[data-dlq=${group}] .okmsg`, `resent 0 dead letters of ${group} (of the 3 looked at`);
  assert.equal(await copies(), 3);
  await go(page, "#/deadLetters", "deadLetters");
  await click(page, "section[data-page=deadLetters] tr.clickable", group);
  await click(page, `[data-dlq=${group}] tbody tr:nth-child(1) button`, "Resend again");
  await waitText(page, `[data-dlq=${group}] .okmsg`, "resent 1 of 1 selected");
  assert.equal(await copies(), 4);
  const pulled = await admin.pullMessages(cluster.brokerAddr, retry, 0, 4);
  assert.deepEqual(
    pulled.messages.map((m) => m.properties.KEYS),
    ["dead-0", "dead-1", "dead-2", "dead-0"],
  );
  await page.close();
});

test("Scheduled shows the delayed messages pending per level and the timer messages per due day", {
  skip,
}, async () => {
  await producer.send({ topic: TOPIC, body: "close order in 2h", keys: ["delayed-1"], delayLevel: 18 });
  await producer.send({ topic: TOPIC, body: "close order in 2h", keys: ["delayed-2"], delayLevel: 18 });
  // A timer message (any delivery time): the timer store takes it in a moment after it is stored.
  const due = Date.now() + 2 * 86_400_000;
  await producer.send({ topic: TOPIC, body: "remind in 2 days", keys: ["timer-1"], deliveryTimestamp: due });
  await waitFor(
    async () => (await admin.getTimerStatus(cluster.brokerAddr)).pending >= 1,
    "the timer message counted",
  );
  const page = await newPage();
  await login(page, "victor", PASSWORDS.viewer);
  await go(page, "#/scheduled", "scheduled");
  await waitText(page, "section[data-page=scheduled] [data-broker=broker-a] p", "2 delayed messages pending");
  await waitText(page, "section[data-page=scheduled] td", "2h");
  const row = await page.$$eval("section[data-page=scheduled] [data-broker=broker-a] tbody tr", (rows) =>
    rows
      .map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent))
      .find((cells) => cells[0] === "18"),
  );
  assert.deepEqual(row?.slice(0, 3), ["18", "2h", "2"]);
  await waitText(page, "section[data-page=scheduled] [data-timer] p", "1 timer messages pending");
  await waitText(
    page,
    "section[data-page=scheduled] [data-timer] td",
    new Date(due).toISOString().slice(0, 10),
  );
  await page.screenshot({ path: join(SHOTS, "scheduled.png"), fullPage: true });
  await page.close();
});

test("Transactions shows the pending half messages per broker and producer group", { skip }, async () => {
  const tp = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: "DashTxProducers",
    logger: quietLogger,
  });
  await tp.startup();
  try {
    const tx = tp.beginTransaction();
    await tp.send({ topic: TOPIC, keys: ["tx-1"], body: "order paid?" }, tx);
    const page = await newPage();
    await login(page, "victor", PASSWORDS.viewer);
    await go(page, "#/transactions", "transactions");
    await waitText(
      page,
      "section[data-page=transactions] [data-broker=broker-a] p",
      "1 half messages pending",
    );
    await waitText(page, "section[data-page=transactions] [data-broker=broker-a] td", "DashTxProducers");
    await shot(page, "transactions");
    await tx.commit();
    await click(page, "section[data-page=transactions] button", "Refresh");
    await waitText(
      page,
      "section[data-page=transactions] [data-broker=broker-a] p",
      "0 half messages pending",
    );
    await page.close();
  } finally {
    await tp.shutdown();
  }
});

test("Message trace from a message's detail, resend it to a group, and a consumer's running info — the client got it", {
  skip,
}, async () => {
  const topic = "DashTraced";
  const group = "DashTraceGroup";
  await admin.createTopic({ topic, brokerAddr: cluster.brokerAddr, readQueueNums: 1, writeQueueNums: 1 });
  const fast = { heartbeatBrokerInterval: 200, pollNameServerInterval: 200 };
  const tp = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: "DashTraceP",
    enableTrace: true,
    logger: quietLogger,
    ...fast,
  });
  const got: string[] = [];
  const tc = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: group,
    subscriptions: new Map([[topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    enableTrace: true,
    messageListener: {
      consume(m) {
        got.push(m.keys.join(","));
        return ConsumeResult.SUCCESS;
      },
    },
    logger: quietLogger,
    ...fast,
  });
  await tp.startup();
  await tc.startup();
  try {
    const r = await tp.send({ topic, keys: ["traced-1"], body: "trace me" });
    await waitFor(async () => got.length >= 1, "the traced message consumed");
    await waitFor(async () => {
      const t = await admin.queryTrace(r.messageId).catch(() => undefined);
      return !!t && t.pubs.length === 1 && t.consumes.some((c) => c.end !== undefined);
    }, "the trace stored");

    const page = await newPage();
    await login(page, "alice", PASSWORDS.admin);
    await go(page, `#/messages?topic=${topic}`, "messages");
    await click(page, "section[data-page=messages] .tabs button", "By key");
    await setValue(page, "[data-form=by-key] input[name=key]", "traced-1");
    await click(page, "section[data-page=messages] [data-form=by-key] ~ p button", "Search");
    await click(page, "section[data-page=messages] tr.clickable", "traced-1");
    await click(page, "[data-message] .tabs button", "Consumption");
    await waitText(page, "[data-message] td", group);
    await click(page, "[data-message] button", "Resend to group");
    await waitText(page, "[data-message] .okmsg", "CR_SUCCESS");
    assert.deepEqual(got, ["traced-1", "traced-1"], "the group's client consumed it again");

    await click(page, "[data-message] a", "Message trace");
    await page.waitForSelector(`section[data-page=trace] [data-trace="${r.messageId}"]`, WAIT);
    await waitText(page, "section[data-page=trace] td", "DashTraceP");
    await waitText(page, "section[data-page=trace] td", group);
    await shot(page, "trace");

    await go(page, `#/consumers?group=${group}`, "consumers");
    await click(page, `[data-group=${group}] .tabs button`, "Running info");
    await click(page, `[data-running-info=${group}] button`, "Running info");
    await waitText(page, `[data-running-info=${group}] td`, topic);
    await waitText(page, `[data-running-info=${group}] p`, "in flight");
    await shot(page, "consumers-running-info");
    await page.close();
  } finally {
    await tc.shutdown();
    await tp.shutdown();
  }
});

// Last: the pages the tests above opened after the viewer test's checks.
test("no request left 127.0.0.1 and no uncaught page error on any page", { skip }, () => {
  assert.deepEqual(outside, [], "no request left 127.0.0.1");
  assert.deepEqual(pageErrors, [], "no uncaught error in any page");
});
