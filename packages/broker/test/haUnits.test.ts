import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import type { BrokerController } from "../src/BrokerController.js";
import {
  encodeReport,
  encodeTransferHeader,
  HaProtocolError,
  ReportReader,
  TransferFrameReader,
} from "../src/ha/HaFrames.js";
import { isSlowRead, slaveCannotServe, suggestBrokerId } from "../src/ha/ReadSplitting.js";
import { removeDir, startBroker, tempDir } from "./helpers.js";

test("transfer frames survive any split of the byte stream; heartbeats are empty frames", () => {
  const body = Buffer.from("records".repeat(1000));
  const stream = Buffer.concat([
    encodeTransferHeader(4096, body.length, 1 << 20),
    body,
    encodeTransferHeader(4096 + body.length, 0, 1),
    encodeTransferHeader(2 ** 40, 3, 1 << 30),
    Buffer.from("xyz"),
  ]);
  for (const step of [1, 7, 16, 1000, stream.length]) {
    const r = new TransferFrameReader();
    const frames = [];
    for (let i = 0; i < stream.length; i += step) frames.push(...r.push(stream.subarray(i, i + step)));
    assert.equal(frames.length, 3, `step ${step}`);
    assert.equal(frames[0]!.offset, 4096);
    assert.deepEqual(frames[0]!.body, body);
    assert.equal(frames[0]!.segmentSize, 1 << 20);
    assert.equal(frames[1]!.body.length, 0);
    assert.equal(frames[2]!.offset, 2 ** 40);
    assert.equal(frames[2]!.body.toString(), "xyz");
  }
  assert.throws(() => new TransferFrameReader().push(encodeTransferHeader(0, -5, 1)), HaProtocolError);
  assert.throws(() => new TransferFrameReader().push(encodeTransferHeader(0, 5, 0)), HaProtocolError);
});

test("reports: the newest complete 8-byte offset wins, partial bytes wait", () => {
  const r = new ReportReader();
  const s = Buffer.concat([encodeReport(10), encodeReport(2 ** 35), encodeReport(77)]);
  assert.equal(r.push(s.subarray(0, 5)), undefined);
  assert.equal(r.push(s.subarray(5, 20)), 2 ** 35);
  assert.equal(r.push(s.subarray(20)), 77);
  assert.throws(() => new ReportReader().push(encodeReport(-1)), HaProtocolError);
});

test("suggestWhichBrokerId follows RocketMQ's rule on master and slave", () => {
  const g = { groupBrokerId: 0, whichBrokerWhenConsumeSlowly: 1 };
  for (const role of ["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"] as const) {
    assert.equal(suggestBrokerId({ role, slaveReadEnable: false, slow: true, ...g }), 0);
    assert.equal(suggestBrokerId({ role, slaveReadEnable: true, slow: true, ...g }), 1);
    assert.equal(suggestBrokerId({ role, slaveReadEnable: true, slow: false, ...g }), 0);
  }
  assert.equal(
    suggestBrokerId({
      role: "ASYNC_MASTER",
      slaveReadEnable: true,
      slow: true,
      groupBrokerId: 0,
      whichBrokerWhenConsumeSlowly: 2,
    }),
    2,
  );
});

test("a read is slow when it lies more than ratio % of memory behind the log's end", () => {
  const mem = 1000;
  assert.equal(isSlowRead(10_000, 9_500, 40, mem), true); // 500 behind > 400
  assert.equal(isSlowRead(10_000, 9_700, 40, mem), false);
  assert.equal(isSlowRead(10_000, undefined, 40, mem), false);
  assert.equal(isSlowRead(10_000, -1, 0, mem), false);
  assert.equal(isSlowRead(10_000, 9_999, 0, mem), true);
  assert.equal(slaveCannotServe("OFFSET_OVERFLOW_BADLY"), true);
  assert.equal(slaveCannotServe("OFFSET_OVERFLOW_ONE"), false);
  assert.equal(slaveCannotServe("FOUND"), false);
});

test("a master whose HA port is taken refuses to start, naming haListenPort", async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "0.0.0.0", () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  const dir = await tempDir("ha-port");
  try {
    await assert.rejects(
      startBroker(dir, { haListenPort: port }),
      new RegExp(`HA port ${port} \\(haListenPort.*EADDRINUSE`),
    );
  } finally {
    await new Promise((r) => blocker.close(r));
    await removeDir(dir);
  }
});

async function withMaster(overrides: object, fn: (port: number, broker: BrokerController) => Promise<void>) {
  const dir = await tempDir("ha-master");
  const broker = await startBroker(dir, overrides);
  try {
    await fn(broker.haReplication!.service!.port, broker);
  } finally {
    await broker.shutdown();
    await removeDir(dir);
  }
}

const closed = (s: net.Socket) => new Promise<void>((r) => s.once("close", () => r()));

test("the master's HA port closes a connection that never reports after haHousekeepingInterval", async () => {
  await withMaster({ haHousekeepingInterval: 1000 }, async (port) => {
    const silent = net.connect(port, "127.0.0.1");
    const t0 = Date.now();
    await closed(silent);
    assert.ok(Date.now() - t0 >= 900, `closed after ${Date.now() - t0} ms`);
  });
});

test("a slave claiming more log than the master has is refused (its log diverged), not served", async () => {
  // Housekeeping far away: the close can only be the refusal.
  await withMaster({ haHousekeepingInterval: 600_000 }, async (port, broker) => {
    const ahead = net.connect(port, "127.0.0.1");
    ahead.on("error", () => undefined);
    await new Promise<void>((r) => ahead.once("connect", () => r()));
    ahead.write(encodeReport(1_000_000_000));
    await closed(ahead);
    assert.equal(broker.haReplication!.service!.slaveCount, 0);
  });
});
