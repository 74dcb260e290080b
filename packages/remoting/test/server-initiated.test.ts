import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import {
  createRequest,
  createResponse,
  encodeFrame,
  FLAG_ONEWAY,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
} from "@tidemq/protocol";
import {
  type Connection,
  createLogger,
  RemotingClient,
  RemotingServer,
  RemotingTimeoutError,
} from "../src/index.js";
import { within, wrapRawSocket } from "./helpers.js";

const logger = createLogger("test", "silent");

/** A server that hands out the connection of whoever sends HEART_BEAT. */
async function startServer(): Promise<{ server: RemotingServer; nextConnection: () => Promise<Connection> }> {
  const server = new RemotingServer({ port: 0, logger });
  let waiting: ((conn: Connection) => void) | undefined;
  server.registerHandler(RequestCode.HEART_BEAT, (req, conn) => {
    waiting?.(conn);
    return createResponse(req, ResponseCode.SUCCESS);
  });
  await server.start();
  return {
    server,
    nextConnection: () => new Promise((resolve) => (waiting = resolve)),
  };
}

test("the server invokes the client over the client's connection; oneway requests reach onRequest", async () => {
  const onewayReceived: RemotingCommand[] = [];
  const { server, nextConnection } = await startServer();
  const client = new RemotingClient({
    logger,
    onRequest: (req) => {
      if (req.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) {
        onewayReceived.push(req);
        return createResponse(req, ResponseCode.SUCCESS, "must not be sent");
      }
      if (req.code === RequestCode.GET_CONSUMER_RUNNING_INFO) {
        return createResponse(
          req,
          ResponseCode.SUCCESS,
          undefined,
          { seenOpaque: req.opaque },
          Buffer.from("info"),
        );
      }
      return undefined; // CHECK_TRANSACTION_STATE: never answered
    },
  });
  try {
    const connP = nextConnection();
    await client.invoke(`127.0.0.1:${server.port}`, createRequest(RequestCode.HEART_BEAT));
    const conn = await connP;

    const res = await conn.invoke(createRequest(RequestCode.GET_CONSUMER_RUNNING_INFO, { group: "g" }), 3000);
    assert.equal(res.code, ResponseCode.SUCCESS);
    assert.equal(res.extFields?.seenOpaque, "1", "the server's opaque counter starts at 1");
    assert.equal(res.body?.toString(), "info");

    await conn.invokeOneway(createRequest(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { consumerGroup: "g" }));
    // A request behind the oneway one: once it is answered the oneway one has been handled.
    const second = await conn.invoke(createRequest(RequestCode.GET_CONSUMER_RUNNING_INFO), 3000);
    assert.equal(second.extFields?.seenOpaque, "3");
    assert.equal(onewayReceived.length, 1);
    assert.equal(onewayReceived[0]!.flag & FLAG_ONEWAY, FLAG_ONEWAY);

    await assert.rejects(
      conn.invoke(createRequest(RequestCode.CHECK_TRANSACTION_STATE), 100),
      RemotingTimeoutError,
    );
  } finally {
    await client.close();
    await server.stop();
  }
});

test("a client without onRequest answers server requests REQUEST_CODE_NOT_SUPPORTED", async () => {
  const { server, nextConnection } = await startServer();
  const client = new RemotingClient({ logger });
  try {
    const connP = nextConnection();
    await client.invoke(`127.0.0.1:${server.port}`, createRequest(RequestCode.HEART_BEAT));
    const conn = await connP;
    const res = await conn.invoke(createRequest(RequestCode.GET_CONSUMER_RUNNING_INFO), 3000);
    assert.equal(res.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    assert.equal(res.remark, ` request type ${RequestCode.GET_CONSUMER_RUNNING_INFO} not supported`);
  } finally {
    await client.close();
    await server.stop();
  }
});

test("the client never answers a oneway server request (seen by a raw peer)", async () => {
  const sockets: Socket[] = [];
  const raw = createServer((s) => sockets.push(s));
  raw.listen(0, "127.0.0.1");
  await once(raw, "listening");
  const port = (raw.address() as { port: number }).port;
  const client = new RemotingClient({
    logger,
    onRequest: (req) => createResponse(req, ResponseCode.SUCCESS, `answer to ${req.opaque}`),
  });
  try {
    const accepted = once(raw, "connection");
    // The raw server never answers the heartbeat; it only uses the connection the client opens.
    const pending = client
      .invoke(`127.0.0.1:${port}`, createRequest(RequestCode.HEART_BEAT), 2000)
      .catch(() => {});
    const [socket] = (await accepted) as [Socket];
    const peer = wrapRawSocket(socket);
    const oneway = createRequest(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, undefined, undefined, {
      oneway: true,
    });
    oneway.opaque = 7;
    const normal = createRequest(RequestCode.GET_CONSUMER_RUNNING_INFO);
    normal.opaque = 8;
    socket.write(Buffer.concat([encodeFrame(oneway), encodeFrame(normal)]));
    const frames = await within(peer.waitForFrames(2), 5000, "the client's frames");
    // Frame 1 is the heartbeat request, frame 2 the only response: to opaque 8.
    const responses = frames.filter((f) => f.flag & 1);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.opaque, 8);
    assert.equal(responses[0]!.remark, "answer to 8");
    await client.close();
    await pending;
  } finally {
    await client.close();
    for (const s of sockets) s.destroy();
    raw.close();
  }
});
