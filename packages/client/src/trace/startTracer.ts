import type { Logger } from "@tidemq/remoting";
import { ClientError } from "../errors.js";
import { type ClientOptions, checkTopic } from "../options.js";
import { Producer } from "../Producer.js";
import {
  clientOptionsOf,
  DEFAULT_TRACE_TOPIC,
  TRACE_PRODUCER_GROUP_PREFIX,
  type TraceOptions,
  Tracer,
} from "./Tracer.js";

/** A tracer and the internal producer that carries its records. */
export interface RunningTracer {
  tracer: Tracer;
  /** Flushes what is queued (bounded), then stops the internal producer. */
  stop(): Promise<void>;
}

/**
 * Starts tracing for a client of `group` when `o.enableTrace` is set: an internal producer of
 * group `_INNER_TRACE_PRODUCER-<group>` (Java's name) sending to the trace topic. A trace
 * producer that cannot start is logged, not thrown: the client works without traces.
 */
export async function startTracer(
  o: ClientOptions & TraceOptions,
  group: string,
  logger: Logger,
): Promise<RunningTracer | undefined> {
  if (!o.enableTrace) return undefined;
  const traceTopic = checkTopic(o.traceTopic ?? DEFAULT_TRACE_TOPIC);
  const producer = new Producer({
    ...clientOptionsOf(o),
    producerGroup: `${TRACE_PRODUCER_GROUP_PREFIX}${group}`.slice(0, 255),
    autoBatch: false,
    sendMsgTimeout: 5000,
  });
  let producerUp = false;
  try {
    await producer.startup();
    producerUp = true;
  } catch (err) {
    logger.warn(
      `trace producer for ${group} did not start (${(err as Error).message}); no traces will be written`,
    );
  }
  const tracer = new Tracer(
    group,
    traceTopic,
    async (body, keys) => {
      if (!producerUp) throw new ClientError("the trace producer is not running");
      await producer.send({ topic: traceTopic, body, keys });
    },
    logger,
  );
  return {
    tracer,
    async stop() {
      await tracer.close();
      if (producerUp) await producer.shutdown().catch(() => undefined);
    },
  };
}
