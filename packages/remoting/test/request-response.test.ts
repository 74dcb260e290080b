import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  createResponse,
  encodeFrame,
  FLAG_ONEWAY,
  FLAG_RESPONSE,
  type RemotingCommand,
  ResponseCode,
  SerializeType,
  TideMQError,
} from "@tidemq/protocol";
import {
  type Connection,
  createLogger,
  RemotingClient,
  RemotingServer,
  RemotingTimeoutError,
  type SocketConnection,
} from "../src/index.js";
import { rawConnect, within } from "./helpers.js";

const ECHO = 1001;
const SLOW_ECHO = 1002;
const NEVER = 1003;
const TIDE_ERROR = 1004;
const PLAIN_ERROR = 1005;
const ASYNC_ERROR = 1006;
const ONEWAY_SINK = 1007;
const ASYNC_ECHO = 1009;

const logger = createLogger("test", "silent");
const server = new RemotingServer({ port: 0, logger });
const onewayReceived: RemotingCommand[] = [];
const neverAnswered: Array<{ request: RemotingCommand; conn: Connection }> = [];
/** Resolved by the NEVER handler, so a test can wait until the server really holds the request. */
let onNeverArrived: (() => void) | undefined;
const connectionsByPeerPort = new Map<number, Connection>();
let addr = "";

before(async () => {
  server.registerHandler(ECHO, (req) =>
    createResponse(req, ResponseCode.SUCCESS, "echo", { id: req.extFields?.id }, req.body),
  );
  server.registerHandler(SLOW_ECHO, (req) => {
    // Random delays so responses overtake each other.
    return new Promise((resolve) => {
      setTimeout(
        () => resolve(createResponse(req, ResponseCode.SUCCESS, undefined, { id: req.extFields?.id })),
        Math.floor(Math.random() * 30),
      );
    });
  });
  server.registerHandler(NEVER, (request, conn) => {
    neverAnswered.push({ request, conn });
    onNeverArrived?.();
    return undefined;
  });
  server.registerHandler(TIDE_ERROR, () => {
    throw new TideMQError(ResponseCode.TOPIC_NOT_EXIST, "topic Foo not exist");
  });
  server.registerHandler(PLAIN_ERROR, () => {
    throw new Error("boom");
  });
  server.registerHandler(ASYNC_ERROR, async () => {
    throw new Error("async boom");
  });
  server.registerHandler(ONEWAY_SINK, (req) => {
    onewayReceived.push(req);
    return createResponse(req, ResponseCode.SUCCESS, "must not be sent");
  });
  server.registerHandler(ASYNC_ECHO, async (req) => {
    // A few promise hops, as a handler awaiting already-resolved work would take.
    for (let i = 0; i < 3; i++) await Promise.resolve();
    return createResponse(req, ResponseCode.SUCCESS, "async", { id: req.extFields?.id });
  });
  server.onConnection((conn) => connectionsByPeerPort.set(conn.remotePort, conn));
  await server.start();
  addr = `127.0.0.1:${server.port}`;
});

after(async () => {
  await server.stop();
});

for (const [name, serializeType] of [
  ["JSON", SerializeType.JSON],
  ["ROCKETMQ", SerializeType.ROCKETMQ],
] as const) {
  test(`request and response over TCP in ${name} serialization`, async () => {
    const client = new RemotingClient({ logger });
    try {
      const body = Buffer.alloc(100_000, 7); // big enough to go out as a separate, uncopied part
      const res = await client.invoke(addr, createRequest(ECHO, { id: "a1" }, body, { serializeType }));
      assert.equal(res.code, ResponseCode.SUCCESS);
      assert.equal(res.flag & FLAG_RESPONSE, FLAG_RESPONSE);
      assert.equal(res.serializeType, serializeType);
      assert.equal(res.remark, "echo");
      assert.equal(res.extFields?.id, "a1");
      assert.ok(res.body?.equals(body));
      assert.ok(res.opaque >= 1);
    } finally {
      await client.close();
    }
  });
}

test("responses to one chunk of requests, sync and async handlers mixed, leave in one socket write", async () => {
  const peer = await rawConnect(server.port);
  try {
    const frames: Buffer[] = [];
    for (let i = 1; i <= 100; i++) {
      const req = createRequest(i % 2 === 0 ? ECHO : ASYNC_ECHO, { id: i });
      req.opaque = i;
      frames.push(encodeFrame(req));
    }
    // One round trip first, so the server has surely accepted (and reported) the connection.
    const hello = createRequest(ECHO, { id: 0 });
    hello.opaque = 1000;
    peer.socket.write(encodeFrame(hello));
    await within(peer.waitForFrames(1), 5000, "the first response");
    peer.frames.length = 0;
    const conn = connectionsByPeerPort.get(peer.socket.localPort!) as SocketConnection;
    assert.ok(conn, "the server saw the connection");
    const writesBefore = conn.socketWrites;
    peer.socket.write(Buffer.concat(frames)); // about 8 KB: one chunk on loopback
    const received = await within(peer.waitForFrames(100), 5000, "100 responses");
    assert.deepEqual(
      received.map((f) => f.opaque).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.equal(conn.socketWrites - writesBefore, 1, "one socket write for the whole chunk");
    // Synchronous answers keep request order among themselves.
    const syncOrder = received.filter((f) => f.remark !== "async").map((f) => f.opaque);
    assert.deepEqual(
      syncOrder,
      [...syncOrder].sort((a, b) => a - b),
    );
  } finally {
    peer.socket.destroy();
  }
});

test("10,000 requests in flight on one connection, answered out of order, all match", async () => {
  const client = new RemotingClient({ logger, requestTimeoutMs: 30_000 });
  try {
    const arrival: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i++) {
      all.push(
        client.invoke(addr, createRequest(SLOW_ECHO, { id: i })).then((res) => {
          assert.equal(res.code, ResponseCode.SUCCESS);
          assert.equal(res.extFields?.id, String(i));
          arrival.push(i);
        }),
      );
    }
    await Promise.all(all);
    assert.equal(arrival.length, 10_000);
    assert.equal(new Set(arrival).size, 10_000);
    const inversions = arrival.filter((v, i) => i > 0 && v < arrival[i - 1]!).length;
    assert.ok(inversions > 100, `responses should overtake each other, saw ${inversions} inversions`);
  } finally {
    await client.close();
  }
});

test("a request without an answer times out with an error naming code, address and ms", async () => {
  const client = new RemotingClient({ logger });
  try {
    // Connect first: the request timeout also bounds a connect, and on a loaded machine a connect
    // alone can take longer than 150 ms, which would fail as a connect error instead.
    await client.invoke(addr, createRequest(ECHO, { id: "connect" }));
    const arrived = new Promise<void>((resolve) => {
      onNeverArrived = resolve;
    });
    const started = performance.now();
    await assert.rejects(client.invoke(addr, createRequest(NEVER), 150), (err: unknown) => {
      assert.ok(err instanceof RemotingTimeoutError);
      assert.equal(err.retriable, true);
      assert.match(
        err.message,
        new RegExp(`code ${NEVER} to ${addr.replace(".", "\\.")} timed out after 150 ms`),
      );
      return true;
    });
    assert.ok(performance.now() - started >= 140);
    // Under load the timeout may fire before the server has read the request: wait for it.
    await within(arrived, 10_000, "the server receiving the unanswered request");
    // The late answer matches nothing and is dropped; the connection keeps working.
    const late = neverAnswered.at(-1)!;
    late.conn.send(createResponse(late.request, ResponseCode.SUCCESS, "late"));
    const res = await client.invoke(addr, createRequest(ECHO, { id: "after" }));
    assert.equal(res.extFields?.id, "after");
  } finally {
    onNeverArrived = undefined;
    await client.close();
  }
});

test("an unknown code is answered REQUEST_CODE_NOT_SUPPORTED with the RocketMQ remark", async () => {
  const client = new RemotingClient({ logger });
  try {
    const res = await client.invoke(addr, createRequest(9999));
    assert.equal(res.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    assert.equal(res.remark, " request type 9999 not supported");
  } finally {
    await client.close();
  }
});

test("handler errors become responses: TideMQError keeps its code, other throws are SYSTEM_ERROR", async () => {
  const client = new RemotingClient({ logger });
  try {
    const tide = await client.invoke(addr, createRequest(TIDE_ERROR));
    assert.equal(tide.code, ResponseCode.TOPIC_NOT_EXIST);
    assert.equal(tide.remark, "topic Foo not exist");
    const plain = await client.invoke(addr, createRequest(PLAIN_ERROR));
    assert.equal(plain.code, ResponseCode.SYSTEM_ERROR);
    assert.equal(plain.remark, "boom");
    const rejected = await client.invoke(addr, createRequest(ASYNC_ERROR));
    assert.equal(rejected.code, ResponseCode.SYSTEM_ERROR);
    assert.equal(rejected.remark, "async boom");
  } finally {
    await client.close();
  }
});

test("oneway requests are never answered, not even unknown or failing ones", async () => {
  const peer = await rawConnect(server.port);
  try {
    const frames: Buffer[] = [];
    let opaque = 1;
    for (const code of [ONEWAY_SINK, 9999, PLAIN_ERROR]) {
      const req = createRequest(code, { n: opaque }, undefined, { oneway: true });
      req.opaque = opaque++;
      frames.push(encodeFrame(req));
    }
    const normal = createRequest(ECHO, { id: "last" });
    normal.opaque = 100;
    frames.push(encodeFrame(normal));
    peer.socket.write(Buffer.concat(frames));
    // Responses are written in request order, so an answer to a oneway would come first.
    const received = await within(peer.waitForFrames(1), 5000, "the echo response");
    assert.equal(received[0]!.opaque, 100);
    const again = createRequest(ECHO, { id: "again" });
    again.opaque = 101;
    peer.socket.write(encodeFrame(again));
    await within(peer.waitForFrames(2), 5000, "the second echo response");
    assert.deepEqual(
      peer.frames.map((f) => f.opaque),
      [100, 101],
    );
    assert.equal(onewayReceived.length, 1);
    assert.equal(onewayReceived[0]!.flag & FLAG_ONEWAY, FLAG_ONEWAY);
  } finally {
    peer.socket.destroy();
  }
});

test("the client's invokeOneway sets the oneway flag and resolves once written", async () => {
  const client = new RemotingClient({ logger });
  try {
    const before = onewayReceived.length;
    await client.invokeOneway(addr, createRequest(ONEWAY_SINK, { via: "client" }));
    // A normal request behind it proves the oneway one was processed first.
    await client.invoke(addr, createRequest(ECHO));
    assert.equal(onewayReceived.length, before + 1);
    assert.equal(onewayReceived.at(-1)!.extFields?.via, "client");
  } finally {
    await client.close();
  }
});
