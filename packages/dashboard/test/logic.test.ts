/** The console's pure parts: bounded lists, the cache, topic types, TPS arithmetic, users, sessions. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  allowedHosts,
  cookieValue,
  csrfMatches,
  firstOf,
  fmt,
  hashPassword,
  isLoopback,
  isSystemGroup,
  mapLimit,
  pageOf,
  parseUsers,
  Sessions,
  sessionCookie,
  TopicRates,
  TtlCache,
  topicType,
  UsersFileError,
  verifyPassword,
} from "../src/index.js";

test("pageOf says what it cut; firstOf names the cut in words", () => {
  const all = Array.from({ length: 14_512 }, (_, i) => i);
  const p = pageOf(all, 3, 100);
  assert.deepEqual([p.offset, p.items.length, p.items[0], p.total, p.cut], [300, 100, 300, 14_512, true]);
  const last = pageOf(all, 10_000, 100);
  assert.equal(last.offset, 14_500);
  assert.equal(last.items.length, 12);
  assert.equal(pageOf([1, 2], 0, 100).cut, false);
  const f = firstOf(all, 2000, "groups");
  assert.equal(f.note, "showing 2,000 of 14,512 groups");
  assert.equal(firstOf([1], 2000, "groups").note, undefined);
  assert.equal(fmt(1234567), "1,234,567");
});

test("mapLimit keeps order and never exceeds its concurrency", async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([...Array(50).keys()], 4, async (x) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return x * 2;
  });
  assert.equal(peak, 4);
  assert.deepEqual(
    out,
    [...Array(50).keys()].map((x) => x * 2),
  );
});

test("TtlCache: fresh hits, stale answers at once with one refresh, shared misses, invalidation", async () => {
  let now = 1000;
  const cache = new TtlCache<number>(100, 1000, 10, () => now);
  let calls = 0;
  const compute = async () => ++calls;
  const [a, b] = await Promise.all([cache.get("k", compute), cache.get("k", compute)]);
  assert.equal(calls, 1, "concurrent misses share one computation");
  assert.equal(a.value, 1);
  assert.equal(b.value, 1);
  now += 50;
  assert.equal((await cache.get("k", compute)).value, 1);
  now += 100; // stale, within staleMs: old value now, refresh behind
  const stale = await cache.get("k", compute);
  assert.equal(stale.value, 1);
  assert.equal(stale.asOf, 1000);
  await new Promise((r) => setImmediate(r));
  assert.equal((await cache.get("k", compute)).value, 2);
  now += 5000; // too old: waits for a new value
  assert.equal((await cache.get("k", compute)).value, 3);
  cache.invalidate();
  assert.equal((await cache.get("k", compute)).value, 4);
  await assert.rejects(
    cache.get("bad", async () => Promise.reject(new Error("down"))),
    /down/,
  );
  assert.equal((await cache.get("bad", async () => 7)).value, 7, "a failure is not cached");
});

test("topicType follows RocketMQ's reserved names", () => {
  const sys = new Set(["DefaultCluster", "broker-a"]);
  assert.equal(topicType("OrderPaid", sys), "normal");
  assert.equal(topicType("%RETRY%g1", sys), "retry");
  assert.equal(topicType("%DLQ%g1", sys), "dlq");
  assert.equal(topicType("SCHEDULE_TOPIC_XXXX", sys), "delay");
  assert.equal(topicType("RMQ_SYS_TRANS_HALF_TOPIC", sys), "transaction");
  assert.equal(topicType("TBW102", sys), "system");
  assert.equal(topicType("%DLQ_RESENT%g1", sys), "system");
  assert.equal(topicType("TRANS_CHECK_MAX_TIME_TOPIC", sys), "system");
  assert.equal(topicType("broker-a", sys), "system");
  assert.equal(topicType("RMQ_SYS_TRACE_TOPIC", sys), "system");
  assert.ok(isSystemGroup("TOOLS_CONSUMER"));
  assert.ok(!isSystemGroup("OrderService"));
});

test("TopicRates: rate from offset growth; new, shrunk and vanished topics handled", () => {
  const r = new TopicRates(10);
  r.record(
    0,
    new Map([
      ["a", 100],
      ["b", 0],
    ]),
  );
  assert.equal(r.series.size, 0, "no rate from one sample");
  r.record(
    2000,
    new Map([
      ["a", 300],
      ["b", 10],
    ]),
  );
  assert.deepEqual(r.series.get("a")!.list(), [{ t: 2000, v: 100 }]);
  assert.deepEqual(r.series.get("b")!.list(), [{ t: 2000, v: 5 }]);
  r.record(4000, new Map([["a", 50]])); // recreated: offsets went back; b vanished
  assert.equal(r.series.get("a")!.list().length, 1);
  assert.equal(r.series.has("b"), false);
  r.record(6000, new Map([["a", 250]]));
  assert.equal(r.series.get("a")!.last(), 100);
  assert.deepEqual(r.top(5), ["a"]);
});

test("users file: scrypt hashes verify; plain passwords and bad lines are refused by line", async () => {
  const hash = await hashPassword("correct horse", { N: 1024, r: 8, p: 1 });
  assert.match(hash, /^scrypt\$1024\$8\$1\$/);
  assert.equal(await verifyPassword("correct horse", hash), true);
  assert.equal(await verifyPassword("wrong horse", hash), false);
  assert.equal(await verifyPassword("x", "garbage"), false);
  await assert.rejects(hashPassword("short"), UsersFileError);
  const users = parseUsers(`# comment\nalice admin ${hash}\n\nbob viewer ${hash} # trailing\n`);
  assert.deepEqual(
    [...users.values()].map((u) => [u.name, u.role]),
    [
      ["alice", "admin"],
      ["bob", "viewer"],
    ],
  );
  assert.throws(() => parseUsers("alice admin secret123"), /line 1: the password must be an scrypt hash/);
  assert.throws(() => parseUsers(`alice root ${hash}`), /role must be admin or viewer/);
  assert.throws(
    () => parseUsers(`alice admin ${hash}\nalice viewer ${hash}`),
    /line 2: user alice appears twice/,
  );
  assert.throws(() => parseUsers("# nobody\n"), /no users/);
});

test("sessions: idle expiry, CSRF comparison, cookie flags", () => {
  let now = 0;
  const s = new Sessions(1000, 2, () => now);
  const a = s.create("alice", "admin");
  assert.equal(s.get(a.id)?.user, "alice");
  now += 999;
  assert.ok(s.get(a.id), "used within the idle time");
  now += 1001;
  assert.equal(s.get(a.id), undefined, "idle too long");
  const b = s.create("bob", "viewer");
  s.create("c", "viewer");
  s.create("d", "viewer");
  assert.equal(s.get(b.id), undefined, "bounded: the oldest is dropped");
  assert.ok(csrfMatches(a, a.csrf));
  assert.ok(!csrfMatches(a, undefined));
  assert.ok(!csrfMatches(a, `${a.csrf}x`));
  assert.equal(cookieValue("x=1; tidemq_session=abc; y=2", "tidemq_session"), "abc");
  const cookie = sessionCookie("abc", false);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
});

test("loopback detection and allowed Host headers", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com"]) assert.ok(!isLoopback(h), h);
  assert.ok(allowedHosts(8080).has("localhost:8080"));
  assert.ok(!allowedHosts(8080).has("evil.example:8080"));
});
