import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { createRequest, createResponse, encodeFrame, ResponseCode } from "@tidemq/protocol";
import {
  type Connection,
  createLogger,
  RemotingClient,
  RemotingClosedError,
  RemotingConnectError,
  RemotingServer,
  type SocketConnection,
} from "../src/index.js";
import { captureLogger, rawConnect, within } from "./helpers.js";

const ECHO = 1001;
const NEVER = 1003;
const BIG = 1008;
const logger = createLogger("test", "silent");

/** True when p settles within the current turn of the event loop, before any I/O could happen. */
async function settledBeforeIo(p: Promise<unknown>): Promise<boolean> {
  const settled = p.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
}

function echoServer(options: Partial<ConstructorParameters<typeof RemotingServer>[0]> = {}): RemotingServer {
  const server = new RemotingServer({ port: 0, logger, ...options });
  server.registerHandler(ECHO, (req) => createResponse(req, ResponseCode.SUCCESS, undefined, req.extFields));
  server.registerHandler(NEVER, () => undefined);
  return server;
}

test("a garbage frame and an oversized frame close only their own connection", async () => {
  const log = captureLogger();
  const server = echoServer({ logger: log, maxFrameBytes: 64 * 1024 });
  await server.start();
  const client = new RemotingClient({ logger });
  const garbage = await rawConnect(server.port);
  const oversized = await rawConnect(server.port);
  const garbagePort = garbage.socket.localPort;
  const oversizedPort = oversized.socket.localPort;
  try {
    const addr = `127.0.0.1:${server.port}`;
    assert.equal((await client.invoke(addr, createRequest(ECHO, { n: 1 }))).extFields?.n, "1");

    // Length -1: no frame can be resynchronised after this.
    garbage.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]));
    await within(garbage.closed, 5000, "closing the garbage connection");
    const header = Buffer.alloc(8);
    header.writeInt32BE(1024 * 1024, 0); // 1 MiB announced, limit 64 KiB
    oversized.socket.write(header);
    await within(oversized.closed, 5000, "closing the oversized connection");

    assert.equal((await client.invoke(addr, createRequest(ECHO, { n: 2 }))).extFields?.n, "2");
    const warnings = log.lines.filter((l) => l.startsWith("WARN"));
    assert.ok(warnings.some((l) => l.includes(`127.0.0.1:${garbagePort}`) && l.includes("frame length -1")));
    assert.ok(
      warnings.some((l) => l.includes(`127.0.0.1:${oversizedPort}`) && l.includes("exceeds the limit")),
    );
  } finally {
    garbage.socket.destroy();
    oversized.socket.destroy();
    await client.close();
    await server.stop();
  }
});

test("a bad JSON header after good frames closes the connection; the good frames were answered", async () => {
  const server = echoServer();
  await server.start();
  const peer = await rawConnect(server.port);
  try {
    const good = createRequest(ECHO, { n: "ok" });
    good.opaque = 5;
    const bad = Buffer.from("\u0000\u0000\u0000\u0008\u0000\u0000\u0000\u0004{{{{", "latin1");
    peer.socket.write(encodeFrame(good));
    await within(peer.waitForFrames(1), 5000, "the good response");
    peer.socket.write(bad);
    await within(peer.closed, 5000, "closing after a bad header");
    assert.equal(peer.frames[0]!.opaque, 5);
  } finally {
    peer.socket.destroy();
    await server.stop();
  }
});

test("close() fails every in-flight request at once with RemotingClosedError naming the address", async () => {
  const server = echoServer();
  await server.start();
  const addr = `127.0.0.1:${server.port}`;
  const client = new RemotingClient({ logger, requestTimeoutMs: 30_000 });
  try {
    await client.invoke(addr, createRequest(ECHO));
    const inFlight = [1, 2, 3].map(() => client.invoke(addr, createRequest(NEVER)));
    const closing = client.close();
    for (const p of inFlight) {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof RemotingClosedError);
        assert.ok(err.message.includes(addr), err.message);
        assert.ok(err.message.includes(`code ${NEVER}`), err.message);
        return true;
      });
    }
    await closing;
    await assert.rejects(client.invoke(addr, createRequest(ECHO)), RemotingClosedError);
  } finally {
    await client.close();
    await server.stop();
  }
});

test("a dropped connection fails in-flight requests; the client reconnects after the server restarts on the same port", async () => {
  const first = echoServer();
  await first.start();
  const port = first.port;
  const addr = `127.0.0.1:${port}`;
  // A first back-off of 1–1.25 s (not the default 100 ms), so that "an immediate request" is still
  // inside it on a loaded machine, where the steps between the drop and that request can take 100 ms.
  const client = new RemotingClient({
    logger,
    requestTimeoutMs: 30_000,
    reconnectBackoff: { initialDelayMs: 1250 },
  });
  let second: RemotingServer | undefined;
  try {
    await client.invoke(addr, createRequest(ECHO));
    const inFlight = client.invoke(addr, createRequest(NEVER));
    await first.stop();
    await assert.rejects(inFlight, RemotingClosedError);

    // Backing off: an immediate request fails fast, without a connect attempt or any other I/O.
    const immediate = client.invoke(addr, createRequest(ECHO));
    assert.equal(await settledBeforeIo(immediate), true, "failed before any I/O");
    await assert.rejects(immediate, (err: unknown) => {
      assert.ok(err instanceof RemotingConnectError);
      assert.ok(err.retryAfterMs > 0 && err.retryAfterMs <= 1250, `retryAfterMs ${err.retryAfterMs}`);
      assert.match(err.message, /backing off/);
      return true;
    });

    second = echoServer({ port });
    await second.start();
    // No event says "back-off over": retry on the hint the error gives, bounded in count and time.
    const deadline = Date.now() + 10_000;
    let answered = false;
    for (let attempt = 0; attempt < 50 && Date.now() < deadline && !answered; attempt++) {
      try {
        const res = await client.invoke(addr, createRequest(ECHO, { after: "restart" }));
        answered = res.extFields?.after === "restart";
      } catch (err) {
        assert.ok(err instanceof RemotingConnectError, String(err));
        await delay(Math.max(err.retryAfterMs, 10));
      }
    }
    assert.ok(answered, "the client reconnected");
  } finally {
    await client.close();
    await first.stop();
    await second?.stop();
  }
});

test("connect failures back off exponentially and fail fast meanwhile", async () => {
  // A port that was just free: bind, note it, close.
  const probe = echoServer({ host: "127.0.0.1" });
  await probe.start();
  const addr = `127.0.0.1:${probe.port}`;
  await probe.stop();
  // A long first back-off, so the second request is still inside it however slow the machine is.
  const client = new RemotingClient({ logger, reconnectBackoff: { initialDelayMs: 60_000 } });
  try {
    await assert.rejects(client.invoke(addr, createRequest(ECHO)), (err: unknown) => {
      assert.ok(err instanceof RemotingConnectError);
      assert.match(err.message, new RegExp(`cannot connect to ${addr.replace(".", "\\.")}`));
      return true;
    });
    await assert.rejects(client.invoke(addr, createRequest(ECHO)), /backing off/);
    await assert.rejects(client.invokeOneway(addr, createRequest(ECHO)), RemotingConnectError);
    await assert.rejects(client.invoke("no-port", createRequest(ECHO)), RemotingConnectError);
  } finally {
    await client.close();
  }
});

test("a peer that never reads is disconnected once its queued bytes pass the limit", async () => {
  const log = captureLogger();
  const limit = 512 * 1024;
  const server = new RemotingServer({ port: 0, logger: log, maxQueuedWriteBytes: limit });
  const responseBody = Buffer.alloc(256 * 1024, 1);
  let maxQueued = 0;
  let served = 0;
  server.registerHandler(BIG, (req, conn) => {
    served++;
    maxQueued = Math.max(maxQueued, (conn as SocketConnection).queuedWriteBytes);
    return createResponse(req, ResponseCode.SUCCESS, undefined, undefined, responseBody);
  });
  server.registerHandler(ECHO, (req) => createResponse(req, ResponseCode.SUCCESS));
  const closedConn = new Promise<Connection>((resolve) => {
    server.onConnection((conn) => conn.onClose(() => resolve(conn)));
  });
  await server.start();
  const reader = new RemotingClient({ logger });
  const peer = await rawConnect(server.port);
  const peerPort = peer.socket.localPort;
  try {
    peer.socket.pause(); // never reads: kernel buffers fill, then the server's queue grows
    const requests: Buffer[] = [];
    for (let i = 1; i <= 400; i++) {
      const req = createRequest(BIG);
      req.opaque = i;
      requests.push(encodeFrame(req));
    }
    peer.socket.write(Buffer.concat(requests)); // asks for 100 MiB of responses
    const conn = (await within(closedConn, 20_000, "closing the non-reading connection")) as SocketConnection;
    assert.equal(conn.closed, true);
    assert.ok(maxQueued <= limit, `queued ${maxQueued} bytes, limit ${limit}`);
    assert.ok(served >= 2, `served ${served}`);
    const warning = log.lines.find((l) => l.startsWith("WARN") && l.includes("does not read fast enough"));
    assert.ok(warning, log.lines.join("\n"));
    assert.ok(warning.includes(`127.0.0.1:${peerPort}`), warning);
    // Other connections are unaffected.
    const res = await reader.invoke(`127.0.0.1:${server.port}`, createRequest(ECHO));
    assert.equal(res.code, ResponseCode.SUCCESS);
  } finally {
    peer.socket.destroy();
    await reader.close();
    await server.stop();
  }
});

test("extra ports share the handlers", async () => {
  const server = echoServer({ extraPorts: [0] });
  await server.start();
  const client = new RemotingClient({ logger });
  try {
    assert.equal(server.ports.length, 2);
    assert.notEqual(server.ports[0], server.ports[1]);
    for (const port of server.ports) {
      const res = await client.invoke(`localhost:${port}`, createRequest(ECHO, { port }));
      assert.equal(res.extFields?.port, String(port));
    }
  } finally {
    await client.close();
    await server.stop();
  }
});

test("IPv6 loopback: a client reaches [::1]:port", async (t) => {
  const server = echoServer({ host: "::1" });
  try {
    await server.start();
  } catch (err) {
    t.skip(`IPv6 loopback unavailable: ${(err as Error).message}`);
    return;
  }
  const client = new RemotingClient({ logger });
  try {
    const res = await client.invoke(`[::1]:${server.port}`, createRequest(ECHO, { v: 6 }));
    assert.equal(res.extFields?.v, "6");
  } finally {
    await client.close();
    await server.stop();
  }
});

test("the default dual-stack listener accepts IPv4 and (when available) IPv6 clients", async (t) => {
  const server = echoServer();
  await server.start();
  const client = new RemotingClient({ logger });
  try {
    assert.equal((await client.invoke(`127.0.0.1:${server.port}`, createRequest(ECHO))).code, 0);
    try {
      assert.equal((await client.invoke(`[::1]:${server.port}`, createRequest(ECHO))).code, 0);
    } catch (err) {
      if (!(err instanceof RemotingConnectError)) throw err;
      t.diagnostic(`no IPv6: ${err.message}`);
    }
  } finally {
    await client.close();
    await server.stop();
  }
});

/**
 * A listener whose accept queue is full, so further SYNs are dropped and connects hang:
 * a child process listens with backlog 1 and blocks its event loop, and two connections
 * fill the queue. The child is killed by PID in `stop`.
 */
async function startBlackhole(): Promise<{ address: string; stop: () => void }> {
  const script = `
    const net = require("node:net");
    const server = net.createServer();
    server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
      process.stdout.write(server.address().port + "\\n");
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
      process.exit(0);
    });`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const fillers: Socket[] = [];
  const stop = (): void => {
    for (const s of fillers) s.destroy();
    child.kill("SIGKILL");
  };
  try {
    const [line] = (await within(once(child.stdout!, "data"), 10_000, "the blackhole's port")) as [Buffer];
    const port = Number(line.toString().trim());
    for (let i = 0; i < 2; i++) {
      const s = connect({ port, host: "127.0.0.1" });
      s.on("error", () => {});
      fillers.push(s);
      await within(once(s, "connect"), 5000, "filling the accept queue");
    }
    return { address: `127.0.0.1:${port}`, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

test("a connect that hangs times out after connectTimeoutMs", async (t) => {
  const blackhole = await startBlackhole();
  const client = new RemotingClient({ logger, connectTimeoutMs: 200, requestTimeoutMs: 1000 });
  try {
    const started = performance.now();
    const err = await client.invoke(blackhole.address, createRequest(ECHO)).then(
      () => assert.fail("the blackhole answered"),
      (e: unknown) => e,
    );
    if (!(err instanceof RemotingConnectError)) {
      t.skip(`this kernel completed the handshake despite a full accept queue: ${String(err)}`);
      return;
    }
    assert.equal(err.message, `cannot connect to ${blackhole.address}: connect timed out after 200 ms`);
    assert.ok(performance.now() - started >= 190);
  } finally {
    await client.close();
    blackhole.stop();
  }
});

test("close() while a connect is pending fails the waiting request with RemotingClosedError", async (t) => {
  const blackhole = await startBlackhole();
  const client = new RemotingClient({ logger, connectTimeoutMs: 5000, requestTimeoutMs: 5000 });
  try {
    const pending = client.invoke(blackhole.address, createRequest(ECHO)).then(
      () => assert.fail("the blackhole answered"),
      (e: unknown) => e,
    );
    await client.close();
    const err = await within(pending, 2000, "failing the pending connect");
    if (err instanceof RemotingConnectError) {
      t.skip(`the connect failed on its own: ${err.message}`);
      return;
    }
    assert.ok(err instanceof RemotingClosedError, String(err));
    assert.ok(err.message.includes(blackhole.address), err.message);
  } finally {
    await client.close();
    blackhole.stop();
  }
});

test("a server→client request in flight fails with RemotingClosedError when the client goes away", async () => {
  const server = echoServer();
  const accepted = new Promise<Connection>((resolve) => server.onConnection(resolve));
  await server.start();
  const client = new RemotingClient({ logger, onRequest: () => undefined });
  try {
    await client.invoke(`127.0.0.1:${server.port}`, createRequest(ECHO));
    const conn = await accepted;
    const inFlight = conn.invoke(createRequest(39), 30_000);
    await client.close();
    await assert.rejects(inFlight, (err: unknown) => {
      assert.ok(err instanceof RemotingClosedError);
      assert.match(err.message, /127\.0\.0\.1:\d+ closed .*request code 39/);
      return true;
    });
    assert.equal(conn.closed, true);
    await assert.rejects(conn.invokeOneway(createRequest(40)), RemotingClosedError);
  } finally {
    await client.close();
    await server.stop();
  }
});
