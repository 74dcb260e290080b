/**
 * Retention under disk pressure never deletes a record acknowledged for a later delivery: a
 * delay-level message, a timer message and an unresolved half stay in their segment while
 * the older segments around them go, are delivered (committed) afterwards, and only then
 * does their segment go too. Real broker, real segment files (64 KiB each), real TCP.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { createRequest, type RemotingCommand, RequestCode, ResponseCode } from "@tidemq/protocol";
import {
  cleanupsAfterAll,
  createTopicRequest,
  eventually,
  newClient,
  pullAll,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();
const SEG = 64 * 1024;

test("disk pressure keeps the segments of pending delay-level, timer and half records until they are delivered", async (t) => {
  const dir = await tempDir("parked-retention");
  cleanups.push(() => removeDir(dir));
  const broker = await startBroker(dir, {
    mappedFileSizeCommitLog: SEG,
    maxMessageSize: 16 * 1024,
    diskMaxUsedSpaceRatio: 10,
    messageDelayLevel: "3s 5s",
    transactionCheckInterval: 600_000,
    transactionCheckpointInterval: 200,
  });
  cleanups.push(() => broker.shutdown());
  const client = newClient();
  cleanups.push(() => client.close());
  const store = broker.context.store;
  await store.refreshDiskUsage();
  if (store.stats.diskUsedRatio <= 10) {
    t.skip(
      `the disk holding ${dir} is only ${store.stats.diskUsedRatio.toFixed(1)}% used: no disk pressure to test`,
    );
    return;
  }
  const addr = `127.0.0.1:${broker.port}`;
  const segments = () => fs.readdirSync(path.join(dir, "commitlog")).map(Number);
  const ok = (r: RemotingCommand) => {
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    return r;
  };
  ok(await client.invoke(addr, createTopicRequest("Plain", 1)));
  ok(await client.invoke(addr, createTopicRequest("Due", 1)));
  const fill = async (n: number) => {
    for (let i = 0; i < n; i++) ok(await client.invoke(addr, sendRequest("Plain", Buffer.alloc(3000, i))));
  };

  await fill(60); // ~3 segments nothing needs
  const parkedAt = store.maxPhysicalOffset;
  ok(await client.invoke(addr, sendRequest("Due", Buffer.from("delayed"), { properties: { DELAY: "1" } })));
  ok(
    await client.invoke(
      addr,
      sendRequest("Due", Buffer.from("timer"), {
        properties: { __STARTDELIVERTIME: String(Date.now() + 4000) },
      }),
    ),
  );
  const half = ok(
    await client.invoke(
      addr,
      sendRequest("Due", Buffer.from("half"), {
        properties: { TRAN_MSG: "true", PGROUP: "PG_TEST", UNIQ_KEY: "U-half" },
      }),
    ),
  );
  await fill(60);
  const parkedSeg = Math.floor(parkedAt / SEG) * SEG;

  await store.refreshDiskUsage();
  const deleted = await store.deleteExpiredFiles();
  assert.ok(deleted >= 2, `the segments before the parked records go (${deleted} deleted)`);
  assert.equal(segments()[0], parkedSeg, "the segment of the parked records is kept, disk pressure or not");
  assert.equal(await store.deleteExpiredFiles(), 0, "and stays kept");

  // All three are delivered from it: the delayed and timer ones when due, the half at its commit.
  ok(
    await client.invoke(
      addr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: "PG_TEST",
        tranStateTableOffset: Number(half.extFields!.queueOffset),
        commitLogOffset: Number.parseInt(half.extFields!.msgId!.slice(-16), 16),
        commitOrRollback: 8,
        msgId: "U-half",
      }),
    ),
  );
  let bodies: string[] = [];
  await eventually(
    async () => {
      bodies = (await pullAll(client, addr, "Due", 0)).messages.map((m) => m.body.toString()).sort();
      return bodies.length >= 3;
    },
    "the delayed, timer and committed messages",
    20_000,
  );
  assert.deepEqual(bodies, ["delayed", "half", "timer"]);

  // Delivered and their progress written: nothing holds the segment any more.
  await eventually(
    async () => {
      await store.deleteExpiredFiles();
      return segments()[0]! > parkedSeg;
    },
    "the parked records' segment deleted once they were delivered",
    15_000,
  );
});
