import type { MessageModel } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import type { FilterExpression } from "./FilterExpression.js";
import { type ClientOptions, positiveInt } from "./options.js";
import { DEFAULT_FLOW_CONTROL, type FlowControlLimits } from "./ProcessQueue.js";
import type { TraceOptions } from "./trace/Tracer.js";

export type { MessageModel } from "@tidemq/protocol";

/** Where a consumer group with no committed offset starts (RocketMQ ConsumeFromWhere). */
export type ConsumeFromWhere =
  | "CONSUME_FROM_LAST_OFFSET"
  | "CONSUME_FROM_FIRST_OFFSET"
  | "CONSUME_FROM_TIMESTAMP";

/** Subscriptions: topic → filter (a FilterExpression or a tag expression such as "TagA || TagB"). */
export type Subscriptions =
  | Map<string, FilterExpression | string>
  | Record<string, FilterExpression | string>;

/** Options shared by PushConsumer and SimpleConsumer. */
export interface ConsumerOptions extends ClientOptions, TraceOptions {
  /** The consumer group; consumers of one group share the work (clustering) or each get everything (broadcasting). */
  consumerGroup: string;
  /** Topic → filter expression. */
  subscriptions: Subscriptions;
  /**
   * CLUSTERING (default): the group's consumers split the queues, offsets live on the broker.
   * BROADCASTING: every consumer gets every message, offsets stay local (see offsetStorePath).
   */
  messageModel?: MessageModel;
  /**
   * Where a group starts on a queue with no committed offset. Default CONSUME_FROM_LAST_OFFSET.
   * Note: TideMQ (like RocketMQ 4.9) reports offset 0 for a queue that never lost messages,
   * so a new group on a young topic reads it from the start even with LAST_OFFSET.
   */
  consumeFromWhere?: ConsumeFromWhere;
  /**
   * When true, a group with no committed offset always starts where consumeFromWhere says.
   * When false (default, RocketMQ 4.9 behaviour), the broker answers "offset 0" for a queue
   * that never lost messages, so a new group reads a young queue from its start.
   * CONSUME_FROM_TIMESTAMP always behaves as if this were true. (Sends setZeroIfNotFound=false.)
   */
  strictStartPosition?: boolean;
  /** Start time for CONSUME_FROM_TIMESTAMP. Default: 30 minutes before startup. */
  consumeTimestamp?: Date | number;
  /** Messages asked for per pull while the consumer keeps up. Default 32. */
  pullBatchSize?: number;
  /**
   * Upper bound of the adaptive pull size: while the broker reports a backlog larger than
   * pullBatchSize, a pull asks for that backlog, up to this and to the room left in the
   * cache (maxCacheMessageCount − cached). Default 1024 (what a TideMQ broker returns at most); set it to
   * pullBatchSize to always ask for pullBatchSize.
   */
  maxPullBatchSize?: number;
  /** How long the broker may hold a pull that finds nothing (long polling), ms. Default 15000. */
  longPollingTimeout?: number;
  /** Client timeout of a long-polling pull, ms; must exceed longPollingTimeout. Default 30000. */
  pullTimeout?: number;
  /** Pause before pulling a queue again after a failed pull, ms. Default 3000. */
  pullTimeDelayMillsWhenException?: number;
  /** Pause pulling a queue when this many of its messages are cached unconsumed. Default 1000. */
  maxCacheMessageCount?: number;
  /** Pause pulling a queue when its cached bodies reach this many bytes. Default 100 MiB. */
  maxCacheMessageSizeInBytes?: number;
  /** Pause pulling a queue when its oldest unconsumed message is this many offsets behind. Default 2000 (0 = off). */
  maxSpan?: number;
  /** Rebalance period, ms (also on start and when the broker says the group changed). Default 20000. */
  rebalanceInterval?: number;
  /** Offset commit period, ms (also at shutdown). Default 5000. */
  persistConsumerOffsetInterval?: number;
  /** BROADCASTING only: a JSON file for offsets, so a restart resumes; default in memory only. */
  offsetStorePath?: string;
  /** Failures after which the broker moves a message to the dead-letter queue %DLQ%<group>. Default 16. */
  maxReconsumeTimes?: number;
}

export interface ResolvedConsumerOptions {
  messageModel: MessageModel;
  consumeFromWhere: ConsumeFromWhere;
  consumeTimestamp: number;
  pullBatchSize: number;
  maxPullBatchSize: number;
  longPollingTimeout: number;
  pullTimeout: number;
  pullTimeDelayMillsWhenException: number;
  flow: FlowControlLimits;
  rebalanceInterval: number;
  persistConsumerOffsetInterval: number;
  maxReconsumeTimes: number;
  strictStartPosition: boolean;
}

export function resolveConsumerOptions(o: ConsumerOptions): ResolvedConsumerOptions {
  const messageModel = o.messageModel ?? "CLUSTERING";
  if (messageModel !== "CLUSTERING" && messageModel !== "BROADCASTING") {
    throw new ClientError(`messageModel must be CLUSTERING or BROADCASTING, got ${String(messageModel)}`);
  }
  const cfw = o.consumeFromWhere ?? "CONSUME_FROM_LAST_OFFSET";
  if (!["CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP"].includes(cfw)) {
    throw new ClientError(
      `consumeFromWhere ${String(cfw)} is not one of LAST_OFFSET, FIRST_OFFSET, TIMESTAMP`,
    );
  }
  const ts =
    o.consumeTimestamp instanceof Date
      ? o.consumeTimestamp.getTime()
      : (o.consumeTimestamp ?? Date.now() - 30 * 60_000);
  if (!Number.isFinite(ts)) throw new ClientError("consumeTimestamp is not a valid time");
  const longPollingTimeout = positiveInt(o.longPollingTimeout, 15_000, "longPollingTimeout", 0);
  const pullTimeout = positiveInt(o.pullTimeout, Math.max(30_000, longPollingTimeout + 5000), "pullTimeout");
  if (pullTimeout <= longPollingTimeout)
    throw new ClientError("pullTimeout must be larger than longPollingTimeout");
  return {
    messageModel,
    consumeFromWhere: cfw,
    consumeTimestamp: ts,
    pullBatchSize: positiveInt(o.pullBatchSize, 32, "pullBatchSize"),
    maxPullBatchSize: positiveInt(o.maxPullBatchSize, 1024, "maxPullBatchSize"),
    longPollingTimeout,
    pullTimeout,
    pullTimeDelayMillsWhenException: positiveInt(
      o.pullTimeDelayMillsWhenException,
      3000,
      "pullTimeDelayMillsWhenException",
      0,
    ),
    flow: {
      maxCachedMessages: positiveInt(
        o.maxCacheMessageCount,
        DEFAULT_FLOW_CONTROL.maxCachedMessages,
        "maxCacheMessageCount",
      ),
      maxCachedBytes: positiveInt(
        o.maxCacheMessageSizeInBytes,
        DEFAULT_FLOW_CONTROL.maxCachedBytes,
        "maxCacheMessageSizeInBytes",
      ),
      maxSpan: positiveInt(o.maxSpan, DEFAULT_FLOW_CONTROL.maxSpan, "maxSpan", 0),
    },
    rebalanceInterval: positiveInt(o.rebalanceInterval, 20_000, "rebalanceInterval", 10),
    persistConsumerOffsetInterval: positiveInt(
      o.persistConsumerOffsetInterval,
      5000,
      "persistConsumerOffsetInterval",
      10,
    ),
    maxReconsumeTimes: positiveInt(o.maxReconsumeTimes, 16, "maxReconsumeTimes", 0),
    strictStartPosition: o.strictStartPosition === true || cfw === "CONSUME_FROM_TIMESTAMP",
  };
}
