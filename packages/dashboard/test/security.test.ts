/**
 * Secure by default, over real HTTP against a real cluster: no start on a public address
 * without users; login with scrypt hashes; HttpOnly/SameSite=Strict session cookie; viewers
 * and forged requests refused by the server; every write attempt in the audit log.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { Admin } from "@tidemq/client";
import { DashboardServer, DashboardStartError } from "../src/index.js";
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
let admin: Admin;
before(async () => {
  cluster = await startTestCluster("dash-sec-");
  admin = new Admin({ endpoints: cluster.nsAddr, logger: quietLogger });
});
after(async () => {
  await admin?.shutdown();
  await cluster?.stop();
});

async function auditLines(s: DashboardServer): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(s.audit.file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test("a non-loopback address without --users is refused before listening", () => {
  for (const host of ["0.0.0.0", "::", "192.0.2.1"]) {
    assert.throws(
      () =>
        new DashboardServer({
          namesrv: cluster.nsAddr,
          host,
          port: 0,
          auditFile: "/dev/null",
          logger: quietLogger,
        }),
      (err: Error) =>
        err instanceof DashboardStartError &&
        /refusing to serve the console on .* without --users/.test(err.message),
    );
  }
});

test("a busy port is a clear start error, not a crash", async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startConsole(cluster, { port }),
      (err: Error) =>
        err instanceof DashboardStartError &&
        err.message.includes(`port ${port} on 127.0.0.1 is already in use`),
    );
  } finally {
    blocker.close();
  }
});

test("loopback without users: open, but writes still need the session's CSRF token; foreign Host refused", async () => {
  const s = await startConsole(cluster);
  try {
    const http = new Http(s.url);
    const sess = await http.req("GET", "/api/session");
    assert.equal(sess.status, 200);
    assert.equal(sess.json.loginRequired, false);
    assert.match(sess.setCookie ?? "", /HttpOnly/);
    assert.match(sess.setCookie ?? "", /SameSite=Strict/);
    const topic = "SecOpenTopic";
    const noToken = await http.req("POST", "/api/topics/createOrUpdate", { body: { topic } });
    assert.equal(noToken.status, 403);
    assert.match(String(noToken.json.error), /CSRF/);
    const wrongToken = await http.req("POST", "/api/topics/createOrUpdate", {
      body: { topic },
      csrf: "forged",
    });
    assert.equal(wrongToken.status, 403);
    assert.equal(
      (await admin.getAllTopicConfig(cluster.brokerAddr))[topic],
      undefined,
      "refused writes change nothing",
    );
    const ok = await http.req("POST", "/api/topics/createOrUpdate", {
      body: { topic, readQueueNums: 2, writeQueueNums: 2 },
      csrf: sess.json.csrf as string,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal((await admin.getAllTopicConfig(cluster.brokerAddr))[topic]?.writeQueueNums, 2);
    // DNS rebinding: a page of another site resolving to 127.0.0.1 sends its own Host.
    const rebind = await new Promise<number>((resolve, reject) => {
      const r = request(
        {
          host: "127.0.0.1",
          port: s.port,
          path: "/api/session",
          headers: { host: `evil.example:${s.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      r.on("error", reject);
      r.end();
    });
    assert.equal(rebind, 421);
    const lines = await auditLines(s);
    assert.deepEqual(
      lines.map((l) => [l.action, l.outcome]),
      [
        ["topic.createOrUpdate", "refused"],
        ["topic.createOrUpdate", "refused"],
        ["topic.createOrUpdate", "ok"],
      ],
    );
    assert.equal(lines[2]!.user, "(anonymous, loopback)");
  } finally {
    await s.stop();
  }
});

test("with users: login required; viewers are refused by the server; admins write with CSRF; all audited", async () => {
  const s = await startConsole(cluster, { users: await testUsers() });
  try {
    const anon = new Http(s.url);
    assert.equal((await anon.req("GET", "/api/session")).json.loginRequired, true);
    assert.equal((await anon.req("GET", "/api/cluster")).status, 401, "no data before login");
    const bad = await anon.req("POST", "/api/login", { body: { name: "alice", password: "nope-nope" } });
    assert.equal(bad.status, 401);
    const ghost = await anon.req("POST", "/api/login", { body: { name: "mallory", password: "whatever1" } });
    assert.equal(ghost.status, 401);

    const viewer = new Http(s.url);
    const vcsrf = await viewer.login("victor", PASSWORDS.viewer);
    assert.equal((await viewer.req("GET", "/api/cluster")).status, 200, "viewers read");
    const forged = await viewer.req("POST", "/api/topics/createOrUpdate", {
      body: { topic: "ViewerTopic" },
      csrf: vcsrf,
    });
    assert.equal(forged.status, 403);
    assert.match(String(forged.json.error), /viewer/);
    const forgedReset = await viewer.req("POST", "/api/consumers/resetOffset", {
      body: { group: "g", topic: "SecOpenTopic", skip: true },
      csrf: vcsrf,
    });
    assert.equal(forgedReset.status, 403);
    assert.equal((await admin.getAllTopicConfig(cluster.brokerAddr)).ViewerTopic, undefined);

    const alice = new Http(s.url);
    const login = await alice.req("POST", "/api/login", {
      body: { name: "alice", password: PASSWORDS.admin },
    });
    assert.equal(login.status, 200);
    assert.match(login.setCookie ?? "", /HttpOnly/);
    assert.match(login.setCookie ?? "", /SameSite=Strict/);
    const csrf = login.json.csrf as string;
    assert.equal(
      (await alice.req("POST", "/api/topics/createOrUpdate", { body: { topic: "AliceTopic" } })).status,
      403,
      "no CSRF token",
    );
    const other = await alice.req("POST", "/api/topics/createOrUpdate", {
      body: { topic: "AliceTopic" },
      csrf: vcsrf,
    });
    assert.equal(other.status, 403, "another session's token");
    const ok = await alice.req("POST", "/api/topics/createOrUpdate", { body: { topic: "AliceTopic" }, csrf });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.ok((await admin.getAllTopicConfig(cluster.brokerAddr)).AliceTopic);
    const badInput = await alice.req("POST", "/api/topics/createOrUpdate", {
      body: { topic: "bad topic!" },
      csrf,
    });
    assert.equal(badInput.status, 400);

    assert.equal((await alice.req("POST", "/api/logout", { csrf })).status, 200);
    assert.equal((await alice.req("GET", "/api/cluster")).status, 401, "the session ended");

    const lines = await auditLines(s);
    assert.deepEqual(
      lines.map((l) => [l.user, l.action, l.outcome]),
      [
        ["victor", "topic.createOrUpdate", "refused"],
        ["victor", "offset.reset", "refused"],
        ["alice", "topic.createOrUpdate", "refused"],
        ["alice", "topic.createOrUpdate", "refused"],
        ["alice", "topic.createOrUpdate", "ok"],
        ["alice", "topic.createOrUpdate", "failed"],
      ],
    );
    assert.ok(lines.every((l) => l.from === "127.0.0.1" || l.from === "::ffff:127.0.0.1"));
  } finally {
    await s.stop();
  }
});
