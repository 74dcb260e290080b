/**
 * `tidemq admin` for delay levels and dead letters: the real executable as child processes
 * against a NameServer and a broker started in this process (default delay levels).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { Admin, Producer } from "@tidemq/client";
import { decodeOffsetMsgId } from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { adminOk, runAdmin } from "./runAdmin.js";

let c: TestCluster;
let admin: Admin;
let producer: Producer;
const children = new Set<ChildProcess>();

before(async () => {
  c = await startTestCluster("tidemq-cli-sched-");
  const logger = createLogger("test", "error");
  admin = new Admin({ endpoints: c.nsAddr, logger });
  producer = new Producer({ endpoints: c.nsAddr, logger });
  await producer.startup();
});
after(async () => {
  for (const ch of children)
    if (ch.exitCode === null && ch.signalCode === null) process.kill(ch.pid!, "SIGKILL");
  await producer?.shutdown();
  await admin?.shutdown();
  await c?.stop();
});

const run = (args: string[]) => runAdmin(c.nsAddr, args, children);
const ok = (args: string[]): Promise<string> => adminOk(c.nsAddr, args, children);

test("scheduleStatus lists pending delayed messages per level; queryMsgById shows a delayed message's due time", async () => {
  const addr = c.broker.brokerAddr;
  const topic = "CliDelayed";
  await admin.createTopic({ topic, brokerAddr: addr, readQueueNums: 1, writeQueueNums: 1 });
  const sentAt = Date.now();
  const r = await producer.send({ topic, body: "close order 1", keys: ["order-1"], delayLevel: 18 });
  const levels = JSON.parse(await ok(["scheduleStatus", "-b", addr, "--json"])) as Array<{
    level: number;
    delayMs: number;
    pending: number;
    nextDue: number | null;
  }>;
  assert.equal(levels.length, 18);
  const l18 = levels.find((l) => l.level === 18)!;
  assert.equal(l18.delayMs, 7_200_000);
  assert.equal(l18.pending, 1);
  assert.ok(l18.nextDue! >= sentAt + 7_200_000 && l18.nextDue! < Date.now() + 7_200_000 + 1000);
  assert.match(await ok(["scheduleStatus", "-b", addr]), /18\s+2h|18\s+7200000ms/);
  const shown = await ok(["queryMsgById", "-i", r.offsetMessageId]);
  assert.match(shown, /Due Time:\s+\S.* \(to CliDelayed\)/);
});

test("deadLetterList / deadLetterShow / deadLetterResend act on a group's %DLQ%", async () => {
  const addr = c.broker.brokerAddr;
  const topic = "CliRefund";
  const group = "CliRefundGroup";
  await admin.createTopic({ topic, brokerAddr: addr, readQueueNums: 1, writeQueueNums: 1 });
  const r = await producer.send({ topic, body: "refund 3", keys: ["refund-3"] });
  // What a consumer does when it gives up on a message: send it back with delay level −1 (DLQ).
  await admin.api.consumerSendMessageBack(addr, {
    offset: decodeOffsetMsgId(r.offsetMessageId).commitLogOffset,
    group,
    delayLevel: -1,
    originMsgId: r.messageId,
    originTopic: topic,
    maxReconsumeTimes: 16,
  });

  const list = JSON.parse(await ok(["deadLetterList", "-g", group, "--json"]));
  assert.equal(list.count, 1);
  assert.equal(list.messages.length, 1);
  assert.equal(list.messages[0].keys, "refund-3");
  assert.equal(list.messages[0].properties.RETRY_TOPIC, topic);
  assert.ok(list.oldest > 0 && list.oldest === list.newest);
  const text = await ok(["deadLetterList", "-g", group]);
  assert.match(text, /Dead Letters:\s+1/);
  assert.match(text, /refund-3/);

  const id = list.messages[0].offsetMsgId as string;
  assert.match(await ok(["deadLetterShow", "-g", group, "-i", id]), /Keys:\s+\[refund-3\]/);
  const wrong = await run(["deadLetterShow", "-g", group, "-i", r.offsetMessageId]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /not a dead letter of group/);
  const usage = await run(["deadLetterResend", "-g", group]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /exactly one of -i/);

  assert.match(await ok(["deadLetterShow", "-g", group, "-i", id]), /Resent:\s+never/);
  assert.match(await ok(["deadLetterResend", "-g", group, "-a"]), /resent 1 of 1 dead letters/);
  const retry = { topic: `%RETRY%${group}`, brokerName: c.brokerName, queueId: 0 };
  assert.equal(await admin.getMaxOffset(addr, retry), 1, "one copy in the group's retry topic");
  // The resend is marked: list and show say so, and resending again is skipped unless forced.
  const listed = JSON.parse(await ok(["deadLetterList", "-g", group, "--json"]));
  const mark = listed.messages[0].resent;
  assert.equal(mark.dlq, id);
  assert.ok(mark.at > 0 && typeof mark.copy === "string" && mark.copy.length > 0);
  assert.match(await ok(["deadLetterList", "-g", group]), /Resent At/);
  assert.match(await ok(["deadLetterShow", "-g", group, "-i", id]), new RegExp(`Resent:.*as ${mark.copy}`));
  assert.match(await ok(["deadLetterResend", "-g", group, "-a"]), /resent 0 of 1 .*1 skipped: resent before/);
  assert.match(
    await ok(["deadLetterResend", "-g", group, "-i", id]),
    /resent 0 of 1 .*not resent: it was resent at .* \(-f resends it again\)/,
  );
  assert.equal(await admin.getMaxOffset(addr, retry), 1, "nothing resent twice");
  assert.match(await ok(["deadLetterResend", "-g", group, "-i", id, "-f"]), /resent 1 of 1/);
  assert.equal(await admin.getMaxOffset(addr, retry), 2);
  assert.match(await ok(["deadLetterList", "-g", "NoSuchGroup"]), /Dead Letters:\s+0/);
});
