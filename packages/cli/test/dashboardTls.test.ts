/**
 * `tidemq dashboard --tls-cert FILE --tls-key FILE` as a real child process: HTTPS with a
 * self-signed certificate made here by `openssl` (node:crypto cannot make X.509
 * certificates; the HTTPS tests skip, saying so, where openssl is missing), the session
 * cookie Secure, plain HTTP not answered, bad key/cert pairs and missing files refused
 * clearly; and the warning for plain HTTP on a non-loopback address.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { hashPassword, plainTransportWarning } from "@tidemq/dashboard";
import { parseDashboardArgs } from "../src/commands/dashboard.js";
import { startTestCluster, type TestCluster } from "./cluster.js";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));
const OPENSSL = spawnSync("openssl", ["version"], { encoding: "utf8" });
const NO_OPENSSL =
  OPENSSL.status === 0
    ? false
    : "openssl is not installed: no self-signed certificate can be made for the HTTPS tests";

let cluster: TestCluster;
let dir: string;
before(async () => {
  cluster = await startTestCluster("cli-tls-");
  dir = await mkdtemp(join(tmpdir(), "cli-tls-files-"));
});
after(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files). */
function makeCert(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
      ...["-keyout", key, "-out", cert, "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 0, `openssl req failed: ${r.stderr}`);
  return { cert, key };
}

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [TIDEMQ, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TIDEMQ_LOG_LEVEL: "warn" },
  });
  cluster.children.add(child);
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  child.stderr!.on("data", (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, out: () => out, exited };
}

/** Resolves when the child's output matches `re`; rejects when it exits first or after 30 s. */
async function waitOutput(run: Run, re: RegExp): Promise<RegExpExecArray> {
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 100_000; i++) {
    const m = re.exec(run.out());
    if (m) return m;
    if (run.child.exitCode !== null || Date.now() > deadline) break;
    await new Promise<void>((r) => {
      const t = setTimeout(r, 1000);
      run.child.stdout!.once("data", () => {
        clearTimeout(t);
        r();
      });
    });
  }
  throw new Error(`no ${re} in the output:\n${run.out()}`);
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request trusting only `ca` (the test's own certificate). */
function httpsCall(url: string, ca: Buffer | undefined, method = "GET", body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { method, ...(ca ? { ca } : {}), headers: body ? { "content-type": "application/json" } : {} },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.once("error", reject);
    req.end(body);
  });
}

test("plain HTTP on a non-loopback address is warned about; loopback or TLS is not", () => {
  assert.equal(plainTransportWarning("127.0.0.1", false), undefined);
  assert.equal(plainTransportWarning("::1", false), undefined);
  assert.equal(plainTransportWarning("0.0.0.0", true), undefined);
  const w = plainTransportWarning("0.0.0.0", false);
  assert.match(
    w ?? "",
    /on 0\.0\.0\.0 serves plain HTTP: logins and session cookies cross the network unencrypted/,
  );
  assert.match(w ?? "", /--tls-cert FILE --tls-key FILE/);
  assert.throws(
    () => parseDashboardArgs(["--tls-cert", "c.pem"], {}),
    /--tls-cert and --tls-key go together/,
  );
  const a = parseDashboardArgs(["--tls-cert", "c.pem", "--tls-key", "k.pem"], {});
  assert.deepEqual([a.tlsCert, a.tlsKey], ["c.pem", "k.pem"]);
});

test("--tls-cert/--tls-key: HTTPS with the given certificate, Secure session cookie, no plain HTTP", {
  skip: NO_OPENSSL,
}, async () => {
  const { cert, key } = makeCert("good");
  const users = join(dir, "users.txt");
  await writeFile(users, `alice admin ${await hashPassword("alice-password-1")}\n`);
  const run = start([
    ...["dashboard", "-n", cluster.nsAddr, "-p", "0", "--users", users, "--audit", join(dir, "audit.log")],
    ...["--tls-cert", cert, "--tls-key", key],
  ]);
  try {
    const m = await waitOutput(run, /TideMQ console on (https:\/\/127\.0\.0\.1:(\d+)\/)/);
    assert.match(run.out(), /HTTPS with .*good\.crt; session cookie Secure/);
    assert.doesNotMatch(run.out(), /plain HTTP/, "no warning on loopback");
    const ca = await readFile(cert);
    const session = await httpsCall(new URL("/api/session", m[1]).href, ca);
    assert.equal(session.status, 200);
    assert.equal((JSON.parse(session.body) as { loginRequired: boolean }).loginRequired, true);
    // The certificate is what the client verified: without trusting it, the handshake fails.
    await assert.rejects(httpsCall(new URL("/api/session", m[1]).href, undefined), /self[- ]signed/i);

    const login = await httpsCall(
      new URL("/api/login", m[1]).href,
      ca,
      "POST",
      JSON.stringify({ name: "alice", password: "alice-password-1" }),
    );
    assert.equal(login.status, 200, login.body);
    const cookie = String(login.headers["set-cookie"]);
    assert.match(cookie, /; HttpOnly; SameSite=Strict; Secure$/);

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = httpRequest(`http://127.0.0.1:${m[2]}/api/session`, (res) => resolve(res.statusCode));
        req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
        req.once("error", reject);
        req.end();
      }),
    );
  } finally {
    run.child.kill("SIGTERM");
    await run.exited;
  }
});

test("a key that is not the certificate's, or a missing file: a clear refusal, exit status 2", {
  skip: NO_OPENSSL,
}, async () => {
  const a = makeCert("a");
  const b = makeCert("b");
  const mismatch = start([
    "dashboard",
    "-n",
    cluster.nsAddr,
    "-p",
    "0",
    "--tls-cert",
    a.cert,
    "--tls-key",
    b.key,
  ]);
  assert.equal(await mismatch.exited, 2, mismatch.out());
  assert.match(
    mismatch.out(),
    /cannot serve HTTPS with the given certificate and key: .*key values mismatch/,
  );
  const missing = start([
    ...["dashboard", "-n", cluster.nsAddr, "-p", "0"],
    ...["--tls-cert", join(dir, "nope.crt"), "--tls-key", a.key],
  ]);
  assert.equal(await missing.exited, 2, missing.out());
  assert.match(missing.out(), /cannot read --tls-cert .*nope\.crt: ENOENT/);
});
