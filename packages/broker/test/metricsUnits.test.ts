import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequest, RequestCode } from "@tidemq/protocol";
import { DurationBuckets } from "@tidemq/store";
import { describeAdminRequest } from "../src/metrics/AdminAudit.js";
import { LATENCY_SAMPLE_EVERY, TrafficCounters } from "../src/metrics/TrafficCounters.js";

test("DurationBuckets: each value lands in the first bucket whose bound it does not exceed", () => {
  const h = new DurationBuckets([1, 5, 10]);
  for (const v of [0.2, 1, 1.01, 5, 9, 10, 11, 1000]) h.observe(v);
  assert.deepEqual([...h.counts], [2, 2, 2, 2]);
  assert.equal(h.count, 8);
  assert.equal(h.sum, 0.2 + 1 + 1.01 + 5 + 9 + 10 + 11 + 1000);
  assert.throws(() => new DurationBuckets([5, 1]), /ascending/);
});

test("TrafficCounters: per-topic in, per-group/topic out with the last pulled offset per queue; prune forgets what is gone", () => {
  const t = new TrafficCounters();
  t.recordIn("A", 1, 100);
  t.recordIn("A", 64, 6400);
  t.recordIn("B", 2, 20);
  assert.deepEqual(t.in.get("A"), { messages: 65, bytes: 6500 });
  t.recordOut("g1", "A", 2, 10, 1000, 10);
  t.recordOut("g1", "A", 2, 5, 500, 15);
  t.recordOut("g1", "A", 0, 1, 100, 1);
  t.recordOut("g2", "B", 0, 2, 20, 2);
  const f = t.out.get("g1")!.get("A")!;
  assert.equal(f.messages, 16);
  assert.equal(f.bytes, 1600);
  assert.deepEqual(f.pulledNext, [1, -1, 15]);
  // A reset moves the consumer back: the last pull is what it holds, not the largest.
  t.recordOut("g1", "A", 2, 1, 100, 3);
  assert.equal(f.pulledNext[2], 3);
  // Latency is timed on one request in 16, counted separately for sends and pulls.
  const timed = (start: () => number) => Array.from({ length: 64 }, start).filter((x) => x >= 0).length;
  assert.equal(
    timed(() => t.startSendTiming()),
    64 / LATENCY_SAMPLE_EVERY,
  );
  assert.equal(
    timed(() => t.startPullTiming()),
    64 / LATENCY_SAMPLE_EVERY,
  );
  t.prune(
    (topic) => topic !== "B",
    (group) => group !== "g2",
  );
  assert.deepEqual([...t.in.keys()], ["A"]);
  assert.deepEqual([...t.out.keys()], ["g1"]);
});

test("audit description: action name, client, arguments; credentials left out, long values cut, binary bodies by size", () => {
  const req = createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic: "T",
    AccessKey: "ak",
    Signature: "secret-signature",
    SecretKey: "sk",
    long: "x".repeat(500),
  });
  req.body = Buffer.from([0, 1, 2, 3, 0xff]);
  const d = describeAdminRequest(req, { remoteAddress: "::ffff:127.0.0.1", remotePort: 4242 });
  assert.equal(d.action, "UPDATE_AND_CREATE_TOPIC");
  assert.equal(d.client, "127.0.0.1:4242");
  assert.equal(d.accessKey, "ak");
  assert.equal(d.args.topic, "T");
  assert.equal(d.args.Signature, undefined);
  assert.equal(d.args.SecretKey, undefined);
  assert.equal(d.args.long!.length, 201);
  assert.equal(d.body, "(5 bytes)");
  const cfg = createRequest(RequestCode.UPDATE_BROKER_CONFIG, {});
  cfg.body = Buffer.from("flushDiskType=SYNC_FLUSH\n");
  assert.equal(
    describeAdminRequest(cfg, { remoteAddress: "10.0.0.1", remotePort: 1 }).body,
    "flushDiskType=SYNC_FLUSH\n",
  );
});
