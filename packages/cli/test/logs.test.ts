/**
 * Logs of a real `tidemq dev` process, in both formats: plain text by default, JSON lines
 * with TIDEMQ_LOG_FORMAT=json; every admin write on the broker leaves an audit line.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Admin } from "@tidemq/client";
import { createRequest, RequestCode, ResponseCode } from "@tidemq/protocol";
import { createLogger, RemotingClient } from "@tidemq/remoting";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));

interface DevRun {
  stdout: string;
  stderrLines: string[];
}

/**
 * Starts `tidemq dev` on ephemeral ports, runs `during(brokerAddr, nsAddr)`, stops it with
 * SIGTERM and returns its output. The child is killed by PID on any failure.
 */
async function withDev(
  env: NodeJS.ProcessEnv,
  during: (brokerAddr: string, nsAddr: string) => Promise<void>,
): Promise<DevRun> {
  const data = await mkdtemp(join(tmpdir(), "tidemq-logs-"));
  const child = spawn(
    process.execPath,
    [
      TIDEMQ,
      "dev",
      "--replicas",
      "1",
      "--no-dashboard",
      "--data",
      data,
      "--namesrv-port",
      "0",
      "--broker-port",
      "0",
      "--metrics-port",
      "-1",
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TIDEMQ_LOG_LEVEL: "info", ...env } },
  );
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const stderrLines: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (l) => stderrLines.push(l));
  let stdout = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const [brokerAddr, nsAddr] = await new Promise<[string, string]>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const b = /Broker\s+(127\.0\.0\.1:\d+)/.exec(stdout);
        const n = /NameServer\s+(127\.0\.0\.1:\d+)/.exec(stdout);
        if (b && n && stdout.includes("Press Ctrl-C")) resolve([b[1]!, n[1]!]);
      });
      child.once("exit", (code) =>
        reject(new Error(`tidemq dev exited (${code}) before it was ready: ${stderrLines.join("\n")}`)),
      );
    });
    await during(brokerAddr, nsAddr);
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    return { stdout, stderrLines };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill("SIGKILL");
    await rm(data, { recursive: true, force: true });
  }
}

/**
 * One good admin write and one the broker refuses (a system topic name); then a topic
 * deletion (broker and NameServer) and a NameServer write it refuses (no namespace).
 */
async function adminWrites(brokerAddr: string, nsAddr: string): Promise<void> {
  const admin = new Admin({ endpoints: nsAddr, logger: createLogger("test-admin", "silent") });
  const raw = new RemotingClient({ logger: createLogger("test-raw", "silent") });
  try {
    await admin.createTopic({ topic: "AuditedTopic", brokerAddr, readQueueNums: 2, writeQueueNums: 2 });
    await assert.rejects(
      admin.createTopic({ topic: "TBW102", brokerAddr, readQueueNums: 1, writeQueueNums: 1 }),
    );
    await admin.deleteTopic("AuditedTopic", "DefaultCluster");
    const res = await raw.invoke(nsAddr, createRequest(RequestCode.PUT_KV_CONFIG, { key: "k" }), 5000);
    assert.notEqual(res.code, ResponseCode.SUCCESS);
  } finally {
    await raw.close();
    await admin.shutdown();
  }
}

test("TIDEMQ_LOG_FORMAT=json: every stderr line is a JSON object with time, level, component, message; audit lines carry who/what/outcome and errors their code", async () => {
  const run = await withDev({ TIDEMQ_LOG_FORMAT: "json" }, adminWrites);
  assert.ok(run.stderrLines.length >= 3, run.stderrLines.join("\n"));
  const lines = run.stderrLines.map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    assert.ok(!Number.isNaN(Date.parse(String(o.time))), `time in ${l}`);
    assert.match(String(o.level), /^(debug|info|warn|error)$/);
    assert.equal(typeof o.component, "string");
    assert.equal(typeof o.message, "string");
    return o;
  });
  const serving = lines.find((o) => String(o.message).includes("serving on"));
  assert.ok(serving, "the broker's start line");
  assert.equal(serving.component, "broker");
  assert.equal(serving.broker, "broker-a");
  assert.ok(lines.some((o) => o.component === "namesrv"));
  const created = lines.find((o) => String(o.message).startsWith("topic AuditedTopic created"));
  assert.ok(created, "the topic-created line");
  assert.equal(created.topic, "AuditedTopic");

  const audits = lines.filter((o) => o.audit === true);
  const ok = audits.find((o) => o.action === "UPDATE_AND_CREATE_TOPIC" && o.outcome === "SUCCESS");
  assert.ok(ok, `audit of the topic creation in ${JSON.stringify(audits)}`);
  assert.match(String(ok.client), /^127\.0\.0\.1:\d+$/);
  assert.equal((ok.args as Record<string, string>).topic, "AuditedTopic");
  assert.equal(ok.broker, "broker-a");
  const refused = audits.find((o) => (o.args as Record<string, string>).topic === "TBW102");
  assert.ok(refused, "audit of the refused write");
  assert.equal(refused.outcome, "FAILED");
  const error = refused.error as Record<string, unknown>;
  assert.equal(typeof error.code, "number");
  assert.equal(typeof error.codeName, "string");
  assert.match(String(error.message), /conflict with system topic/);
  assert.equal(refused.level, "warn");
  assert.equal(error.stack, undefined, "a refusal carries no stack trace");

  // The NameServer's admin writes are audited the same way.
  const nsDelete = audits.find((o) => o.action === "DELETE_TOPIC_IN_NAMESRV");
  assert.ok(nsDelete, `audit of the NameServer's topic deletion in ${JSON.stringify(audits)}`);
  assert.equal(nsDelete.component, "namesrv");
  assert.equal(nsDelete.outcome, "SUCCESS");
  assert.match(String(nsDelete.client), /^127\.0\.0\.1:\d+$/);
  assert.equal((nsDelete.args as Record<string, string>).topic, "AuditedTopic");
  const nsRefused = audits.find((o) => o.action === "PUT_KV_CONFIG");
  assert.ok(nsRefused, "audit of the refused NameServer write");
  assert.equal(nsRefused.component, "namesrv");
  assert.equal(nsRefused.level, "warn");
  assert.notEqual(nsRefused.outcome, "SUCCESS");
});

test("default format: plain text lines `<ISO time> <LEVEL> [component] message`, with the audit line readable", async () => {
  const run = await withDev({ TIDEMQ_LOG_FORMAT: "" }, adminWrites);
  assert.ok(run.stderrLines.length >= 3);
  for (const l of run.stderrLines) {
    assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) \[[^\]]+\] /, l);
  }
  const audit = run.stderrLines.find((l) => l.includes("audit: UPDATE_AND_CREATE_TOPIC"));
  assert.ok(audit, run.stderrLines.join("\n"));
  assert.match(
    audit,
    /\[broker broker-a\] audit: UPDATE_AND_CREATE_TOPIC by 127\.0\.0\.1:\d+ .*topic=AuditedTopic .*-> SUCCESS$/,
  );
  assert.ok(
    run.stderrLines.some((l) =>
      /WARN {2}\[broker broker-a\] audit: .*topic=TBW102 .*-> FAILED \(SYSTEM_ERROR: The topic\[TBW102\] is conflict with system topic\.\)$/.test(
        l,
      ),
    ),
    run.stderrLines.join("\n"),
  );
  assert.ok(
    run.stderrLines.some((l) =>
      /INFO {2}\[namesrv\] audit: DELETE_TOPIC_IN_NAMESRV by 127\.0\.0\.1:\d+ .*topic=AuditedTopic .*-> SUCCESS$/.test(
        l,
      ),
    ),
    run.stderrLines.join("\n"),
  );
});
