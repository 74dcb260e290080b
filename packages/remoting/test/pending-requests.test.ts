import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createResponse, type RemotingCommand, ResponseCode } from "@tidemq/protocol";
import { PendingRequests } from "../src/pending-requests.js";

// The timeout timer is left armed when a request completes (re-arming per request was a
// large part of a request's cost at window 1); these tests pin down that timeouts stay
// exact and that the armed timer never keeps a process alive.

const timeoutError = (code: number, ms: number): Error => new Error(`code ${code} timed out after ${ms} ms`);

function response(opaque: number): RemotingCommand {
  return { ...createResponse({ opaque } as RemotingCommand, ResponseCode.SUCCESS), opaque };
}

/**
 * The timer is unref'd (a connection's socket keeps a real process alive); here nothing
 * else would, so a test holds the event loop open itself.
 */
async function keepingAlive(body: () => Promise<void>): Promise<void> {
  const hold = setInterval(() => {}, 1000);
  try {
    await body();
  } finally {
    clearInterval(hold);
  }
}

function request(pending: PendingRequests, opaque: number, timeoutMs: number): Promise<RemotingCommand> {
  return new Promise((resolve, reject) => pending.add(opaque, 10, timeoutMs, resolve, reject, timeoutError));
}

test("a request added after others completed still times out on time", () =>
  keepingAlive(async () => {
    const pending = new PendingRequests();
    // Completed requests with long deadlines leave the timer armed far in the future...
    for (let opaque = 1; opaque <= 3; opaque++) {
      const answered = request(pending, opaque, 10_000);
      assert.ok(pending.complete(response(opaque)));
      await answered;
    }
    assert.equal(pending.size, 0);
    // ...and a shorter request must re-arm it for its own deadline.
    const started = performance.now();
    await assert.rejects(request(pending, 4, 50), /code 10 timed out after 50 ms/);
    const waited = performance.now() - started;
    assert.ok(waited >= 45 && waited < 1000, `timed out after ${waited} ms`);
    assert.equal(pending.size, 0);
  }));

test("when the armed timer fires with requests still in time, they keep their own deadlines", () =>
  keepingAlive(async () => {
    const pending = new PendingRequests();
    const first = request(pending, 1, 30);
    assert.ok(pending.complete(response(1)));
    await first;
    // The timer (armed for 30 ms) fires while this one has time left: it must re-arm, not fail it.
    const started = performance.now();
    const second = request(pending, 2, 120);
    await assert.rejects(second, /timed out after 120 ms/);
    assert.ok(performance.now() - started >= 115);
  }));

test("an armed timeout timer does not keep the process alive", () => {
  const module = fileURLToPath(new URL("../src/pending-requests.js", import.meta.url));
  const script = `
    const { PendingRequests } = await import(${JSON.stringify(module)});
    const pending = new PendingRequests();
    pending.add(1, 10, 60_000, () => {}, () => {}, () => new Error("timeout"));
    pending.complete({ opaque: 1 });
  `;
  const started = Date.now();
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.ok(Date.now() - started < 15_000, "the process waited for the timer");
});
