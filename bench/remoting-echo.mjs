#!/usr/bin/env node
// Echo throughput of @tidemq/remoting over loopback TCP: one client connection, a fixed
// number of requests in flight (the window), small JSON requests answered synchronously.
// Usage: node bench/remoting-echo.mjs [seconds-per-window=3] [body-bytes=0] [windows=1,128] [json|binary]
// Prints requests/s and the process CPU per request (client and server share this process,
// so it is the cost of both ends of one round trip).
// Build first: npx tsc -b packages/remoting
import os from "node:os";
import {
  createRequest,
  createResponse,
  ResponseCode,
  SerializeType,
} from "../packages/protocol/dist/src/index.js";
import { createLogger, RemotingClient, RemotingServer } from "../packages/remoting/dist/src/index.js";

const seconds = Number(process.argv[2] ?? 3);
const bodyBytes = Number(process.argv[3] ?? 0);
const windows = (process.argv[4] ?? "1,128").split(",").map(Number);
const serializeType = process.argv[5] === "binary" ? SerializeType.ROCKETMQ : SerializeType.JSON;
const ECHO = 1001;
const logger = createLogger("bench", "warn");

const server = new RemotingServer({ port: 0, host: "127.0.0.1", logger });
server.registerHandler(ECHO, (req) =>
  createResponse(req, ResponseCode.SUCCESS, undefined, undefined, req.body),
);
const serverConnections = [];
server.onConnection((conn) => serverConnections.push(conn));
await server.start();
const client = new RemotingClient({ logger, requestTimeoutMs: 30_000 });
const addr = `127.0.0.1:${server.port}`;
const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 1) : undefined;
const header = { topic: "BenchTopic", queueId: 0 };

async function run(window, durationMs) {
  let done = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  async function lane() {
    while (performance.now() < deadline) {
      await client.invoke(addr, createRequest(ECHO, header, body, { serializeType }));
      done++;
    }
  }
  await Promise.all(Array.from({ length: window }, lane));
  return { rate: done / ((performance.now() - started) / 1000), count: done };
}

/** Socket writes the server issued (SocketConnection.socketWrites), to show coalescing. */
function serverWrites() {
  return serverConnections.reduce((sum, conn) => sum + conn.socketWrites, 0);
}

const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? "unknown cpu"}, ${cpus.length} cores, node ${process.version}`);
console.log(
  `body ${bodyBytes} bytes, ${process.argv[5] === "binary" ? "binary" : "JSON"} headers, ${seconds} s per window`,
);
await run(32, 500); // warm-up
for (const window of windows) {
  const writesBefore = serverWrites();
  const cpuBefore = process.cpuUsage();
  const { rate, count } = await run(window, seconds * 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuPerRequest = (cpu.user + cpu.system) / Math.max(1, count);
  const perWrite = count / Math.max(1, serverWrites() - writesBefore);
  console.log(
    `window ${String(window).padStart(3)}: ${Math.round(rate).toLocaleString("en-US")} requests/s, ` +
      `${cpuPerRequest.toFixed(1)} us CPU/request, ` +
      `${perWrite.toFixed(1)} responses per server socket write`,
  );
}
await client.close();
await server.stop();
