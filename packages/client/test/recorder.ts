import { ConsumeResult, type MessageView, PushConsumer } from "../src/index.js";
import { FAST, testLogger, uniq } from "./cluster.js";

/** A consumer that records every message it gets by messageId, and counts repeats. */
export interface Recorder {
  readonly got: Map<string, MessageView>;
  dups(): number;
  stop(): Promise<void>;
}

export interface RecorderOptions {
  /** Prefix of its (fresh, uniq) consumer group. */
  groupPrefix: string;
  /** CONSUME_FROM_FIRST_OFFSET (else the consumer's default). */
  fromFirstOffset?: boolean;
}

/** Starts a Recorder of `topic` (every tag). */
export async function startRecorder(
  nsAddr: string,
  topic: string,
  options: RecorderOptions,
): Promise<Recorder> {
  const got = new Map<string, MessageView>();
  let dups = 0;
  const c = new PushConsumer({
    endpoints: nsAddr,
    consumerGroup: uniq(options.groupPrefix),
    subscriptions: new Map([[topic, "*"]]),
    ...(options.fromFirstOffset ? { consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET" as const } : {}),
    messageListener: {
      consume(m) {
        if (got.has(m.messageId)) dups++;
        got.set(m.messageId, m);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await c.startup();
  return { got, dups: () => dups, stop: () => c.shutdown() };
}
