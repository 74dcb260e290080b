// Shared by the two TideMQ targets (loaded in the harness's orchestrator, producer and
// consumer processes; no state kept between them). Addresses, paths into this repository
// and setup(): check the broker's flush mode and (re)create the topic with one queue.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** /work/main (this file is bench/peers/lib/tidemq-common.mjs). */
export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
/** require() from the repository root: resolves ali-ons from the root's node_modules. */
export const requireFromRepo = createRequire(`${REPO}package.json`);

export const NAMESRV_PORT = Number(process.env.TIDEMQ_NAMESRV_PORT ?? 24876);
export const BROKER_PORT = Number(process.env.TIDEMQ_BROKER_PORT ?? 24911);
export const NAMESRV = `127.0.0.1:${NAMESRV_PORT}`;
export const BROKER = `127.0.0.1:${BROKER_PORT}`;
export const TOPIC = "peerbench";
export const CLUSTER = "DefaultCluster";
export const MODES = { sync: "SYNC_FLUSH", async: "ASYNC_FLUSH" };

/** A fresh consumer group per run, so a reused broker never hands over an old offset. */
export const groupOf = (o) => `peerbench_${o.runTag}`;

export function loadClient() {
  return import(new URL("packages/client/dist/src/index.js", `file://${REPO}`).href);
}

const quietLogger = {
  debug() {},
  info() {},
  warn(m) {
    console.error(`[tidemq-client] ${m}`);
  },
  error(m) {
    console.error(`[tidemq-client] ${m}`);
  },
};
export const clientLogger = quietLogger;

// setup(): the broker must run in the flush mode the harness mode names (as the Redis target
// checks appendfsync), and the topic must exist with exactly one queue (one partition, like
// the other brokers' queue/stream), emptied by deleting it first.
export async function setup(o) {
  const want = MODES[o.mode];
  if (!want) throw new Error(`tidemq: unknown mode ${o.mode}; use sync (SYNC_FLUSH) or async (ASYNC_FLUSH)`);
  const { Admin } = await loadClient();
  const protocol = await import(new URL("packages/protocol/dist/src/index.js", `file://${REPO}`).href);
  const admin = new Admin({ endpoints: NAMESRV, logger: quietLogger, requestTimeout: 10_000 });
  try {
    const res = await admin.api.call(BROKER, protocol.RequestCode.GET_BROKER_CONFIG, undefined, undefined);
    const text = res.body ? res.body.toString("utf8") : "";
    const m = /^flushDiskType=(\w+)/m.exec(text);
    if (!m || m[1] !== want) {
      throw new Error(`tidemq: broker has flushDiskType=${m?.[1]}, mode ${o.mode} wants ${want}`);
    }
    await admin.deleteTopic(TOPIC, CLUSTER).catch(() => undefined);
    await admin.createTopic({ topic: TOPIC, brokerAddr: BROKER, readQueueNums: 1, writeQueueNums: 1 });
    // Wait until the NameServer serves the new route (the broker registers it on create).
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const route = await admin.getTopicRoute(TOPIC);
        const q = route.queueDatas?.[0];
        if (q && q.writeQueueNums === 1 && q.readQueueNums === 1) break;
      } catch {}
      if (Date.now() > deadline) throw new Error("tidemq: the topic route did not appear within 20 s");
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.shutdown();
  }
}
