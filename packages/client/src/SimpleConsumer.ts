import { ConsumerBase, type QueueEntry } from "./ConsumerBase.js";
import type { ConsumerOptions } from "./ConsumerOptions.js";
import { ClientError } from "./errors.js";
import { mqKey } from "./MessageQueue.js";
import type { MessageView } from "./MessageView.js";
import { positiveInt } from "./options.js";
import { Notifier } from "./sync.js";

export interface SimpleConsumerOptions extends ConsumerOptions {
  /** How long receive() waits for a message when none is ready, ms. Default 30000 (as rocketmq-client-nodejs). */
  awaitDuration?: number;
}

interface Held {
  entry: QueueEntry;
  invisibleUntil: number;
  received: boolean;
}

/**
 * Receive-and-acknowledge consumption (rocketmq-client-nodejs' SimpleConsumer).
 *
 * RocketMQ 5 implements this with POP on the broker; over the 4.x protocol TideMQ emulates it
 * in the client: queues are still assigned to consumers by rebalance, this consumer pulls its
 * queues, receive() hands out cached messages and hides them for `invisibleDuration`, ack()
 * removes them, and the committed offset is the smallest unacknowledged one. Differences from
 * POP: an unacknowledged message is redelivered by this same consumer (not by any member of
 * the group) unless its queue moves to another consumer; and an old unacknowledged message
 * holds back the committed offset of its queue (after a restart, messages after it come again).
 *
 * ```ts
 * for await (const m of consumer) handle(m);   // acknowledged when the loop asks for the next one
 * ```
 */
export class SimpleConsumer extends ConsumerBase {
  protected readonly consumeType = "CONSUME_ACTIVELY" as const;
  private readonly awaitDuration: number;
  private readonly held = new WeakMap<MessageView, Held>();
  private readonly acked = new WeakSet<MessageView>();
  private readonly arrivals = new Notifier();
  private rotate = 0;

  constructor(options: SimpleConsumerOptions) {
    super(options);
    this.awaitDuration = positiveInt(options.awaitDuration, 30_000, "awaitDuration", 0);
  }

  protected onMessages(e: QueueEntry, added: MessageView[]): void {
    for (const m of added) this.held.set(m, { entry: e, invisibleUntil: 0, received: false });
    this.arrivals.notify();
  }

  protected override onQueueRemoved(_e: QueueEntry): void {
    this.arrivals.notify();
  }

  override async shutdown(): Promise<void> {
    this.arrivals.notify();
    await super.shutdown();
  }

  /**
   * Up to `maxMessageNum` messages, waiting up to awaitDuration for the first; [] when none
   * came. Each returned message is invisible to further receive() calls for
   * `invisibleDuration` ms; ack it before then or it is delivered again.
   */
  async receive(maxMessageNum = 16, invisibleDuration = 15_000): Promise<MessageView[]> {
    this.requireRunning();
    positiveInt(maxMessageNum, 16, "maxMessageNum");
    positiveInt(invisibleDuration, 15_000, "invisibleDuration");
    const deadline = Date.now() + this.awaitDuration;
    for (;;) {
      const now = Date.now();
      const out: MessageView[] = [];
      let nextVisible = Number.POSITIVE_INFINITY;
      const entries = [...this.entries.values()];
      const start = entries.length > 0 ? this.rotate++ % entries.length : 0;
      for (let i = 0; i < entries.length && out.length < maxMessageNum; i++) {
        const e = entries[(start + i) % entries.length]!;
        for (const m of e.pq.values()) {
          const h = this.held.get(m);
          if (!h) continue;
          if (h.invisibleUntil > now) {
            nextVisible = Math.min(nextVisible, h.invisibleUntil);
            continue;
          }
          if (h.received && this.exhausted(m)) {
            this.deadLetter(m, h);
            continue;
          }
          if (h.received) m.deliveryAttempt++;
          h.received = true;
          h.invisibleUntil = now + invisibleDuration;
          // Trace: consumption starts at receive and ends at ack (a redelivery starts anew).
          this.tracer?.subBefore(m);
          out.push(m);
          if (out.length >= maxMessageNum) break;
        }
      }
      if (out.length > 0) return out;
      const remaining = deadline - now;
      if (remaining <= 0 || this.state !== "running") return [];
      await this.arrivals.wait(Math.min(remaining, nextVisible - now));
      if (this.state !== "running") return [];
    }
  }

  /**
   * Retry policy: a message received 1 + maxReconsumeTimes times without an ack is not handed
   * out again but moved to the dead-letter queue %DLQ%<group> (clustering; CONSUMER_SEND_MSG_BACK
   * with delay level −1), where `tidemq admin` can list and resend it. Broadcasting keeps
   * redelivering (a broadcast message has no group DLQ).
   */
  private exhausted(m: MessageView): boolean {
    return this.copts.messageModel === "CLUSTERING" && m.deliveryAttempt >= 1 + this.copts.maxReconsumeTimes;
  }

  private deadLetter(m: MessageView, h: Held): void {
    h.invisibleUntil = Number.POSITIVE_INFINITY; // not handed out while it is being moved
    const instance = this.requireRunning();
    instance.api
      .consumerSendMessageBack(this.addrFor(h.entry.mq, true), {
        offset: m.commitLogOffset,
        group: this.group,
        delayLevel: -1,
        originMsgId: m.messageId,
        originTopic: m.topic,
        maxReconsumeTimes: this.copts.maxReconsumeTimes,
      })
      .then(
        () => {
          if (this.held.get(m) !== h) return;
          this.held.delete(m);
          this.acked.add(m);
          this.consumed(h.entry, [m.queueOffset]);
        },
        (err: Error) => {
          this.warnOnce(
            "dlq",
            `moving ${m.messageId} to the dead-letter queue failed (${err.message}); retrying`,
          );
          h.invisibleUntil = Date.now() + 1000;
          this.arrivals.notify();
        },
      );
  }

  /** Acknowledges a received message: it will not be delivered again, and its offset may be committed. */
  async ack(message: MessageView): Promise<void> {
    this.requireRunning();
    const h = this.held.get(message);
    if (!h) {
      if (this.acked.has(message)) return;
      throw new ClientError(`message ${message?.messageId} was not received by this consumer`);
    }
    if (h.entry.pq.dropped) {
      this.held.delete(message);
      throw new ClientError(
        `queue ${mqKey(h.entry.mq)} moved to another consumer before message ${message.messageId} was acknowledged; ` +
          "it may be delivered again",
      );
    }
    this.held.delete(message);
    this.acked.add(message);
    this.tracer?.subAfter(message, "SUCCESS");
    this.consumed(h.entry, [message.queueOffset]);
  }

  /** Changes how long a received, unacknowledged message stays invisible (0 = visible now). */
  async changeInvisibleDuration(message: MessageView, invisibleDuration: number): Promise<void> {
    this.requireRunning();
    const h = this.held.get(message);
    if (!h) throw new ClientError(`message ${message?.messageId} is not held by this consumer`);
    h.invisibleUntil = Date.now() + Math.max(0, invisibleDuration);
    this.arrivals.notify();
  }

  /**
   * Async iteration over messages. With autoAck (default) a message is acknowledged when the
   * loop asks for the next one; leaving the loop (break, return, throw) leaves the current
   * message unacknowledged, so it comes again after invisibleDuration. The iteration ends
   * when the consumer shuts down.
   */
  async *messages(
    options: { batchSize?: number; invisibleDuration?: number; autoAck?: boolean } = {},
  ): AsyncGenerator<MessageView> {
    const batchSize = positiveInt(options.batchSize, 16, "batchSize");
    const invisible = positiveInt(options.invisibleDuration, 15_000, "invisibleDuration");
    const autoAck = options.autoAck ?? true;
    while (this.state === "running") {
      const batch = await this.receive(batchSize, invisible);
      let i = 0;
      try {
        for (; i < batch.length; i++) {
          yield batch[i]!;
          if (autoAck && this.state === "running") {
            await this.ack(batch[i]!).catch((err: Error) => this.warnOnce("ack", err.message));
          }
        }
      } finally {
        // Messages of the batch the loop never saw become visible again at once.
        for (let j = i + 1; j < batch.length; j++) {
          const h = this.held.get(batch[j]!);
          if (h) h.invisibleUntil = 0;
        }
      }
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<MessageView> {
    return this.messages();
  }
}
