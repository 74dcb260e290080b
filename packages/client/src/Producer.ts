import { ClientError } from "./errors.js";
import { HalfBatcher } from "./HalfBatcher.js";
import type { FaultToleranceOptions } from "./LatencyFaultTolerance.js";
import { type MessageOptions, type PreparedMessage, prepareMessage } from "./Message.js";
import type { MessageQueue } from "./MessageQueue.js";
import type { MessageView } from "./MessageView.js";
import { AUTO_CREATE_TOPIC_KEY, MQClientInstance } from "./MQClientInstance.js";
import {
  type ClientOptions,
  checkGroup,
  checkTopic,
  positiveInt,
  type ResolvedClientOptions,
  resolveClientOptions,
} from "./options.js";
import { ProduceAccumulator } from "./ProduceAccumulator.js";
import { type QueueSelectorFn, SendCore } from "./SendCore.js";
import type { BatchSendReceipt, SendReceipt } from "./SendReceipt.js";
import { recallTimerMessage } from "./TimerRecall.js";
import {
  answerCheck,
  markHalf,
  Transaction,
  type TransactionChecker,
  type TransactionResolution,
} from "./Transaction.js";
import { type RunningTracer, startTracer } from "./trace/startTracer.js";
import type { TraceOptions, Tracer } from "./trace/Tracer.js";
import { traceBatch, traceSend } from "./trace/traceSends.js";

export interface ProducerOptions extends ClientOptions, TraceOptions {
  /** Producer group sent in heartbeats and send headers. Default "TIDEMQ_PRODUCER". */
  producerGroup?: string;
  /** Topics whose routes are fetched at startup, so a missing topic fails startup, not the first send. */
  topic?: string | string[];
  /** Same as `topic`. */
  topics?: string[];
  /** Total attempts per send, first one included (rocketmq-client-nodejs name). Default 3. */
  maxAttempts?: number;
  /** Retries on another broker after a failed send (4.x name; maxAttempts − 1). Default 2. */
  retryTimesWhenSendFailed?: number;
  /** Time budget of one send including its retries, ms. Default 3000. */
  sendMsgTimeout?: number;
  /** Bodies larger than this many bytes are zlib-compressed. Default 4096. */
  compressMsgBodyOverHowmuch?: number;
  /** Largest body (or encoded batch) accepted, bytes. Default 4 MiB (the broker's default limit). */
  maxMessageSize?: number;
  /** Avoid brokers whose sends were slow or failed (latency fault tolerance). Default true. */
  sendLatencyFaultEnable?: boolean;
  /** Latency thresholds and avoidance durations; defaults are RocketMQ 5's tables. */
  faultTolerance?: FaultToleranceOptions;
  /** Queues per broker for a topic the broker auto-creates on first send. Default 4. */
  defaultTopicQueueNums?: number;
  /**
   * Auto-batching (RocketMQ 5's `autoBatch`): send() calls made in the same event-loop turn
   * for the same topic (and messageGroup) leave together as one SEND_BATCH_MESSAGE at the
   * end of that turn, instead of one request each; a lone message still goes as a plain send.
   * Default true, which is safe: there is no linger timer (a send waits only for the end of
   * the current turn, so latency does not grow), and every send() still resolves with its
   * own receipt (messageId, offsetMessageId, queueOffset) or fails with its batch's error
   * after the same retries. Messages that cannot share a batch go alone: delayed ones,
   * bodies over compressMsgBodyOverHowmuch (a batch cannot mark one entry compressed),
   * retry topics, and sends with a `selector` or `queue`.
   */
  autoBatch?: boolean;
  /** Most encoded bytes of one auto-batch. Default 256 KiB (at most maxMessageSize). */
  autoBatchMaxBytes?: number;
  /**
   * Most messages in one auto-batch; a batch that reaches it is sent at once, so a window
   * larger than this keeps several batches in flight. Default 128: for 500-byte messages at
   * a window of 128, one batch of 128 cost 11-19 % less CPU per message over producer,
   * broker and consumer than four of 32 (fewer socket writes and wake-ups on both sides),
   * and produced faster on a 2-core machine (bench/broker-send.mjs, alternating runs).
   */
  autoBatchMaxCount?: number;
  /**
   * Answers the broker's check-back about a transaction half message whose commit or
   * rollback never arrived (RocketMQ 5's TransactionChecker; see beginTransaction).
   */
  checker?: TransactionChecker;
}

/** Per-send choices beside the message itself. */
export interface SendOptions {
  /** Picks the queue (Java's MessageQueueSelector); disables retries on other brokers. */
  selector?: QueueSelectorFn;
  /** Sends to this queue; disables retries on other brokers. */
  queue?: MessageQueue;
}

/**
 * Sends messages (rocketmq-client-nodejs' Producer over the RocketMQ 4.x remoting protocol).
 *
 * ```ts
 * const producer = new Producer({ endpoints: "127.0.0.1:9876" });
 * await producer.startup();
 * const receipt = await producer.send({ topic: "T", tag: "TagA", keys: ["k1"], body: Buffer.from("hi") });
 * await producer.shutdown();
 * ```
 */
export class Producer {
  readonly producerGroup: string;
  private readonly raw: ProducerOptions;
  private options: ResolvedClientOptions | undefined;
  private instance: MQClientInstance | undefined;
  private core: SendCore | undefined;
  private accumulator: ProduceAccumulator | undefined;
  private state: "new" | "running" | "stopped" = "new";
  /** Message trace (enableTrace), if on. */
  private trace: RunningTracer | undefined;

  constructor(options: ProducerOptions) {
    this.raw = { ...options };
    this.producerGroup = checkGroup(options.producerGroup ?? "TIDEMQ_PRODUCER", "producerGroup");
  }

  /** Client id of the shared client instance ("ip@pid[@instanceName]"). */
  get clientId(): string | undefined {
    return this.instance?.clientId;
  }

  async startup(): Promise<void> {
    if (this.state !== "new") throw new ClientError(`producer cannot start: it is ${this.state}`);
    const o = this.raw;
    this.options = resolveClientOptions(o, "producer");
    const retries =
      o.retryTimesWhenSendFailed ??
      (o.maxAttempts !== undefined ? positiveInt(o.maxAttempts, 3, "maxAttempts") - 1 : 2);
    const core = {
      group: this.producerGroup,
      sendMsgTimeout: positiveInt(o.sendMsgTimeout, 3000, "sendMsgTimeout"),
      retryTimesWhenSendFailed: positiveInt(retries, 2, "retryTimesWhenSendFailed", 0),
      compressMsgBodyOverHowmuch: positiveInt(
        o.compressMsgBodyOverHowmuch,
        4096,
        "compressMsgBodyOverHowmuch",
        0,
      ),
      maxMessageSize: positiveInt(o.maxMessageSize, 4 * 1024 * 1024, "maxMessageSize"),
      sendLatencyFaultEnable: o.sendLatencyFaultEnable ?? true,
      faultTolerance: o.faultTolerance,
      defaultTopicQueueNums: positiveInt(o.defaultTopicQueueNums, 4, "defaultTopicQueueNums"),
      logger: this.options.logger,
    };
    const topics = [...(typeof o.topic === "string" ? [o.topic] : (o.topic ?? [])), ...(o.topics ?? [])].map(
      (t) => checkTopic(t),
    );
    const instance = MQClientInstance.acquire(this.options);
    this.instance = instance;
    this.core = new SendCore(instance, core);
    const sendCore = this.core;
    if (o.autoBatch ?? true) {
      this.accumulator = new ProduceAccumulator(sendCore, {
        maxBytes: Math.min(
          positiveInt(o.autoBatchMaxBytes, 256 * 1024, "autoBatchMaxBytes"),
          core.maxMessageSize,
        ),
        maxCount: positiveInt(o.autoBatchMaxCount, 128, "autoBatchMaxCount"),
      });
      sendCore.halves = new HalfBatcher(
        sendCore,
        this.producerGroup,
        AUTO_CREATE_TOPIC_KEY,
        String(core.defaultTopicQueueNums),
        this.accumulator.limits,
      );
    }
    instance.registerProducer({
      group: this.producerGroup,
      topics: () => sendCore.topics,
      checkTransaction: (req, brokerAddr) => {
        answerCheck(
          instance,
          this.producerGroup,
          req,
          brokerAddr,
          (view) => this.checkLocalState(view),
          this.trace?.tracer,
        ).catch((err: Error) => instance.logger.warn(`transaction check-back not answered: ${err.message}`));
      },
    });
    this.state = "running";
    try {
      for (const t of topics) await sendCore.publishQueues(t);
      await instance.sendHeartbeatToAllBrokers();
      this.trace = await startTracer(o, this.producerGroup, this.options.logger);
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  private running(): SendCore {
    if (this.state !== "running" || !this.core) {
      throw new ClientError(
        `producer is ${this.state === "new" ? "not started: call startup() first" : "shut down"}`,
      );
    }
    return this.core;
  }

  /** The trace hooks (enableTrace), e.g. for EndTransaction records; undefined when tracing is off. */
  get tracer(): Tracer | undefined {
    return this.trace?.tracer;
  }

  /**
   * Sends one message; retried on another broker (maxAttempts) unless it has a messageGroup.
   * With autoBatch it may travel in a batch with other sends of this turn (same receipt).
   */
  send(message: MessageOptions, options?: SendOptions | Transaction): Promise<SendReceipt> {
    if (options instanceof Transaction) return this.sendHalf(message, options);
    // Not async: one promise per send instead of two (errors still arrive as rejections).
    try {
      const core = this.running();
      const msg = prepareMessage(message, core.options.maxMessageSize);
      const tracer = this.trace?.tracer;
      if (tracer) return traceSend(tracer, msg, this.sendPrepared(core, msg, options));
      return this.sendPrepared(core, msg, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private sendPrepared(
    core: SendCore,
    msg: PreparedMessage,
    options: SendOptions | undefined,
  ): Promise<SendReceipt> {
    try {
      const acc = this.accumulator;
      if (acc) {
        const item =
          options?.queue === undefined && options?.selector === undefined ? acc.entryOf(msg) : undefined;
        if (item) return acc.add(msg, item);
        // This one goes alone: what is queued leaves first, so sends keep their order on the
        // wire (a messageGroup's messages stay in order even when one cannot be batched).
        acc.flush();
      }
      return core.send(msg, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Starts a transaction (RocketMQ 5): `send(message, tx)` stores half messages that no
   * consumer sees until `tx.commit()`; `tx.rollback()` drops them. If neither arrives (this
   * process dies), the broker asks a producer of this group: the `checker` option.
   */
  beginTransaction(): Transaction {
    this.running();
    return new Transaction(this.instance!, this.producerGroup, this.trace?.tracer);
  }

  /**
   * A half message of `tx`, recorded in the transaction once stored. With autoBatch the
   * HalfBatcher makes its first attempt (in the turn's SEND_HALF_BATCH, retries in SendCore's
   * loop); otherwise, or before the topic's route is known, SendCore.send. Not async (one
   * promise layer less per half); errors still arrive as rejections.
   */
  protected sendHalf(message: MessageOptions, tx: Transaction): Promise<SendReceipt> {
    try {
      const core = this.running();
      tx.checkOpen();
      if (tx.producerGroup !== this.producerGroup) {
        throw new ClientError(
          `the transaction belongs to producer group ${tx.producerGroup}, not ${this.producerGroup}`,
        );
      }
      // One clock read for the half: its UNIQ_KEY's time, and the batcher's send start and
      // bornTimestamp (Date.now is a runtime call, ~0.1 µs here, ~3 % of a transaction).
      const now = Date.now();
      const msg = prepareMessage(message, core.options.maxMessageSize, now);
      markHalf(msg, this.producerGroup);
      // What is queued leaves first, so sends keep their order on the wire.
      this.accumulator?.flush();
      const tracer = this.trace?.tracer;
      // The batcher's own first attempt records the half in tx itself (no promise of its own).
      const sent =
        core.halves?.sendHalf(msg, tx, now) ??
        core.send(msg).then((receipt) => {
          tx.addHalf(receipt, msg);
          return receipt;
        });
      // Traced as a Pub of type Trans_Msg_Half (TRAN_MSG is set), as Java's send hook does.
      return tracer ? traceSend(tracer, msg, sent) : sent;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** @internal Logs a warning through the client logger. */
  protected warn(text: string): void {
    this.options?.logger.warn(`producer ${this.producerGroup}: ${text}`);
  }

  /** The answer to a check-back: the `checker` option's (TransactionMQProducer: its listener's). */
  protected async checkLocalState(view: MessageView): Promise<TransactionResolution> {
    const checker = this.raw.checker;
    if (!checker) {
      throw new ClientError(
        `producer group ${this.producerGroup} got a transaction check-back but has no checker option`,
      );
    }
    return checker.check(view);
  }

  /**
   * Sends messages of one topic as one SEND_BATCH_MESSAGE: stored in one queue with
   * consecutive offsets. At most maxMessageSize bytes encoded; no delays; one messageGroup.
   */
  async sendBatch(messages: MessageOptions[], options?: { queue?: MessageQueue }): Promise<BatchSendReceipt> {
    const core = this.running();
    if (!Array.isArray(messages)) throw new ClientError("sendBatch takes an array of messages");
    // One clock read for the batch (its ids differ by their counter).
    const now = Date.now();
    const prepared = messages.map((m) => prepareMessage(m, core.options.maxMessageSize, now));
    const p = core.sendBatch(prepared, options);
    const tracer = this.trace?.tracer;
    return tracer ? traceBatch(tracer, prepared, p) : p;
  }

  /**
   * Cancels a pending timer message (sent with `delay` / `deliveryTimestamp`) by the
   * `recallHandle` of its send receipt (RocketMQ 5.3's recallMessage). Resolves to its
   * message id; rejects with a BrokerError (code 604) when it was already delivered or the
   * handle is unknown.
   */
  async recallMessage(topic: string, recallHandle: string): Promise<string> {
    return recallTimerMessage(this.running(), checkTopic(topic), recallHandle);
  }

  /** Writable queues of a topic (for selectors), fetching the route if needed. */
  async getPublishQueues(topic: string): Promise<MessageQueue[]> {
    return this.running().publishQueues(checkTopic(topic));
  }

  /** Stops the producer; the shared client instance closes when its last user stops. */
  async shutdown(): Promise<void> {
    if (this.state !== "running") {
      this.state = "stopped";
      return;
    }
    this.state = "stopped";
    // Sends accepted before shutdown leave now rather than after the connections close.
    this.accumulator?.flush();
    await this.trace?.stop();
    const instance = this.instance!;
    await instance.unregisterProducer(this.producerGroup);
    await instance.release(this.options!);
  }
}
