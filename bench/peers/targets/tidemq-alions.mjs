// TideMQ through the unmodified npm package ali-ons@3.12.0 (RocketMQ 4.x remoting, JSON
// headers), a neutral client: resolved from this repository's root node_modules, where it is
// a devDependency. Modes name the broker's flush mode (see tidemq-client.mjs).
//   publish: producer.send(new Message(topic, tag, body)); resolves only on SEND_OK.
//   consume: consumer.subscribe(topic, '*', handler); a message is acked (its offset advances)
//            when the handler resolves; offsets are committed every 5 s.
import {
  BROKER_PORT,
  groupOf,
  MODES,
  NAMESRV,
  requireFromRepo,
  TOPIC,
  setup as tidemqSetup,
} from "../lib/tidemq-common.mjs";

export const name = "tidemq-alions";
export const modes = { sync: { flushDiskType: MODES.sync }, async: { flushDiskType: MODES.async } };
export const brokerPort = BROKER_PORT;

export const setup = tidemqSetup;

const ons = requireFromRepo("ali-ons");
const MQProducer = requireFromRepo("ali-ons/lib/producer/mq_producer.js");

// ali-ons logs every route refresh at info level; keep warnings and errors, except the
// expected ones of a brand-new group (its %RETRY% topic has no route until the first
// heartbeat creates it, spec 12.3) and the benign route-table replacement notice.
const expected = (a) => /%RETRY%|prev is not null/.test(a.map(String).join(" "));
const logger = {
  debug() {},
  info() {},
  warn: (...a) => expected(a) || console.error("[ali-ons warn]", ...a),
  error: (...a) => expected(a) || console.error("[ali-ons error]", ...a),
};
const common = { nameSrv: NAMESRV, httpclient: {}, logger };

export async function connect(_o, role) {
  if (role === "producer") {
    const producer = new ons.Producer({
      ...common,
      producerGroup: "peerbench_producer",
      sendMsgTimeout: 10_000,
    });
    producer.on("error", (e) => console.error("[ali-ons producer]", e.message));
    await producer.ready();
    return { role, producer };
  }
  return { role, consumer: null };
}

export function publish(c, body) {
  return c.producer.send(new ons.Message(TOPIC, "bench", body)).then((r) => {
    if (r.sendStatus !== "SEND_OK") throw new Error(`sendStatus ${r.sendStatus}`);
  });
}

export async function consume(c, onMessage, o) {
  const prefetch = o?.prefetch ?? 1000;
  const consumer = new ons.Consumer({
    ...common,
    consumerGroup: groupOf(o),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    pullBatchSize: 32,
    // ali-ons handles up to parallelConsumeLimit messages of a queue at once (default 1,
    // must be <= pullBatchSize) and stops pulling above pullThresholdForQueue cached ones.
    parallelConsumeLimit: 32,
    pullThresholdForQueue: prefetch,
  });
  consumer.on("error", (e) => expected([e.message]) || console.error("[ali-ons consumer]", e.message));
  await consumer.ready();
  consumer.subscribe(TOPIC, "*", async (msg) => {
    onMessage(msg.body);
  });
  c.consumer = consumer;
  // subscribe() starts the rebalance asynchronously; wait until the queue is held so the
  // producer does not start before the consumer is live (bounded).
  const deadline = Date.now() + 20_000;
  while (consumer.processQueueTable.size === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (consumer.processQueueTable.size === 0) throw new Error("ali-ons consumer holds no queue after 20 s");
}

export async function close(c) {
  if (c.producer) await c.producer.close();
  if (c.consumer) await c.consumer.close();
  await MQProducer.defaultProducer?.close().catch(() => undefined);
}
