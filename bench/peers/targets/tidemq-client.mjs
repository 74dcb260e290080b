// TideMQ through its own client, @tidemq/client (this repository's packages/client, built
// with `npx tsc -b packages/client`). Modes name the broker's flush mode; the client code is
// the same in both:
//   sync:  broker SYNC_FLUSH  - SEND_OK only after the commit log is fdatasync'ed
//   async: broker ASYNC_FLUSH - SEND_OK once the message is in the page cache
// publish() resolves only on sendStatus SEND_OK (FLUSH_DISK_TIMEOUT etc. reject).
import {
  BROKER_PORT,
  clientLogger,
  groupOf,
  loadClient,
  MODES,
  NAMESRV,
  TOPIC,
  setup as tidemqSetup,
} from "../lib/tidemq-common.mjs";

export const name = "tidemq-client";
export const modes = { sync: { flushDiskType: MODES.sync }, async: { flushDiskType: MODES.async } };
export const brokerPort = BROKER_PORT;

export const setup = tidemqSetup;

export async function connect(_o, role) {
  const client = await loadClient();
  if (role === "producer") {
    const producer = new client.Producer({
      endpoints: NAMESRV,
      producerGroup: "peerbench_producer",
      topics: [TOPIC],
      sendMsgTimeout: 10_000,
      logger: clientLogger,
    });
    await producer.startup();
    return { role, producer };
  }
  return { role, client, consumer: null };
}

export function publish(c, body) {
  return c.producer.send({ topic: TOPIC, tag: "bench", body }).then((r) => {
    if (r.sendStatus !== "SEND_OK") throw new Error(`sendStatus ${r.sendStatus}`);
  });
}

export async function consume(c, onMessage, o) {
  const prefetch = o?.prefetch ?? 1000;
  c.consumer = new c.client.PushConsumer({
    endpoints: NAMESRV,
    consumerGroup: groupOf(o),
    subscriptions: new Map([[TOPIC, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    // 32 per pull when caught up (RocketMQ's default); while the broker reports a backlog the
    // client asks for more (up to maxPullBatchSize, bounded by the cache). The cached-message
    // limit plays the role of the other targets' prefetch.
    pullBatchSize: 32,
    maxCacheMessageCount: prefetch,
    consumptionThreadCount: 64,
    logger: clientLogger,
    messageListener: {
      consume(m) {
        onMessage(m.body);
        return undefined; // SUCCESS: the offset advances (committed every 5 s and at shutdown)
      },
    },
  });
  await c.consumer.startup();
}

export async function close(c) {
  if (c.producer) await c.producer.shutdown();
  if (c.consumer) await c.consumer.shutdown();
}
