/**
 * A delay level longer than fileReservedTime: the broker config loads (it used to be refused),
 * and age-based retention keeps the segment of a delay-level record not yet delivered while
 * the older segments around it go. Real broker, real segment files (64 KiB each), real TCP.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { type RemotingCommand, ResponseCode } from "@tidemq/protocol";
import {
  cleanupsAfterAll,
  createTopicRequest,
  newClient,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();
const SEG = 64 * 1024;
const HOUR = 3_600_000;

test("a delay level longer than fileReservedTime: its parked record outlives fileReservedTime, the segments around it do not", async () => {
  const dir = await tempDir("delay-retention");
  cleanups.push(() => removeDir(dir));
  const broker = await startBroker(dir, {
    mappedFileSizeCommitLog: SEG,
    maxMessageSize: 16 * 1024,
    fileReservedTime: 1,
    messageDelayLevel: "1s 2h",
  });
  cleanups.push(() => broker.shutdown());
  const client = newClient();
  cleanups.push(() => client.close());
  const store = broker.context.store;
  const addr = `127.0.0.1:${broker.port}`;
  const segments = () => fs.readdirSync(path.join(dir, "commitlog")).map(Number);
  const ok = (r: RemotingCommand) => {
    assert.equal(r.code, ResponseCode.SUCCESS, r.remark);
    return r;
  };
  ok(await client.invoke(addr, createTopicRequest("Plain", 1)));
  ok(await client.invoke(addr, createTopicRequest("Later", 1)));
  const fill = async (n: number) => {
    for (let i = 0; i < n; i++) ok(await client.invoke(addr, sendRequest("Plain", Buffer.alloc(3000, i))));
  };
  await fill(60); // ~3 segments nothing needs
  const parkedAt = store.maxPhysicalOffset;
  ok(
    await client.invoke(
      addr,
      sendRequest("Later", Buffer.from("in two hours"), { properties: { DELAY: "2" } }),
    ),
  );
  await fill(60);
  const parkedSeg = Math.floor(parkedAt / SEG) * SEG;
  assert.ok(parkedSeg > 0, "older segments exist");

  // Three hours later (fileReservedTime is 1 h): every segment has expired by age.
  const later = Date.now() + 3 * HOUR;
  const deleted = await store.deleteExpiredFiles({ manual: true, now: later });
  assert.ok(deleted >= 2, `the segments before the parked record go (${deleted} deleted)`);
  assert.equal(segments()[0], parkedSeg, "the segment of the parked record is kept");
  assert.equal(await store.deleteExpiredFiles({ manual: true, now: later }), 0, "and stays kept");
  // Still there to be delivered: level 2 is queue 1 of SCHEDULE_TOPIC_XXXX.
  const r = await store.getMessage("SCHEDULE_TOPIC_XXXX", 1, 0, 1);
  assert.equal(r.status, "FOUND");
});
