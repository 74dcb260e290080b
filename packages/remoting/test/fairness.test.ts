import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { Worker } from "node:worker_threads";
import { createRequest, createResponse, type RemotingCommand, ResponseCode } from "@tidemq/protocol";
import { createLogger, RemotingClient, RemotingServer } from "../src/index.js";
import { READ_BUDGET_BYTES } from "../src/read-budget.js";
import { within } from "./helpers.js";

const FLOOD = 2001;
const PING = 2002;
const FLOOD_BODY_BYTES = 8 * 1024;
/** CPU each flood frame costs the server, so that a flood can hold its event loop. */
const FLOOD_HANDLER_SPIN_MS = 0.02;

/**
 * A flooder on its own thread (own event loop, so it keeps the server's socket full):
 * oneway JSON requests whose opaque counts up from 0, written as fast as the socket takes
 * them until told to stop; it then reports how many frames it wrote.
 */
const FLOODER = `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
const body = Buffer.alloc(workerData.bodyBytes, 7);
let seq = 0;
let stopping = false;
function frame(opaque) {
  const header = Buffer.from(JSON.stringify({ code: workerData.code, flag: 2, language: "JAVA", opaque, serializeTypeCurrentRPC: "JSON", version: 0 }));
  const out = Buffer.allocUnsafe(8 + header.length + body.length);
  out.writeInt32BE(4 + header.length + body.length, 0);
  out.writeInt32BE(header.length, 4);
  header.copy(out, 8);
  body.copy(out, 8 + header.length);
  return out;
}
const socket = net.connect(workerData.port, "127.0.0.1", pump);
function pump() {
  while (!stopping) {
    if (!socket.write(frame(seq++))) return void socket.once("drain", pump);
  }
}
parentPort.on("message", () => {
  stopping = true;
  socket.end(() => parentPort.postMessage(seq));
});
`;

const logger = createLogger("test", "silent");
const server = new RemotingServer({ port: 0, logger });
let floodHandled = 0;
let floodOutOfOrder: string | undefined;
let floodWaiter: { count: number; resolve: () => void } | undefined;

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

function onFlood(request: RemotingCommand): undefined {
  if (request.opaque !== floodHandled && floodOutOfOrder === undefined)
    floodOutOfOrder = `frame ${request.opaque} arrived as number ${floodHandled}`;
  floodHandled++;
  spin(FLOOD_HANDLER_SPIN_MS);
  if (floodWaiter && floodHandled >= floodWaiter.count) {
    floodWaiter.resolve();
    floodWaiter = undefined;
  }
  return undefined;
}

function floodReaches(count: number): Promise<void> {
  if (floodHandled >= count) return Promise.resolve();
  return new Promise((resolve) => {
    floodWaiter = { count, resolve };
  });
}

before(async () => {
  server.registerHandler(FLOOD, onFlood);
  server.registerHandler(PING, (request) => createResponse(request, ResponseCode.SUCCESS));
  await server.start();
});

after(async () => {
  await server.stop();
});

test("a flooding connection cannot hold the loop: another connection's request is answered after a bounded share of the flood", async () => {
  const worker = new Worker(FLOODER, {
    eval: true,
    workerData: { port: server.port, code: FLOOD, bodyBytes: FLOOD_BODY_BYTES },
  });
  const client = new RemotingClient({ logger });
  try {
    // Let the flood fill the socket buffers (the kernel's receive window grows meanwhile).
    await within(floodReaches(2000), 20_000, "the first 2000 flood frames");
    const framesPerTurn = Math.ceil(READ_BUDGET_BYTES / FLOOD_BODY_BYTES);
    let worst = 0;
    for (let i = 0; i < 20; i++) {
      const before = floodHandled;
      const response = await within(
        client.invoke(`127.0.0.1:${server.port}`, createRequest(PING, {}), 10_000),
        10_000,
        "the ping's response",
      );
      assert.equal(response.code, ResponseCode.SUCCESS);
      worst = Math.max(worst, floodHandled - before);
    }
    // A round trip spans two or three loop iterations, each taking at most the budget plus
    // one buffered chunk of the flood; unbudgeted, one iteration takes up to 2 MiB (256
    // frames), and 20 round trips saw 800-900 frames.
    assert.ok(worst <= 8 * framesPerTurn, `${worst} flood frames handled during one ping round trip`);
  } finally {
    await client.close();
    worker.postMessage("stop");
  }
  const [written] = (await once(worker, "message")) as [number];
  await within(floodReaches(written), 20_000, `all ${written} flood frames`);
  await worker.terminate();
  assert.equal(floodOutOfOrder, undefined, "flood frames were handled in the order sent");
  assert.equal(floodHandled, written);
});
