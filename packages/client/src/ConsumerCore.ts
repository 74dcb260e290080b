/**
 * What every layer of a 4.x consumer stands on: the group, its options and subscriptions,
 * the lifecycle state, the shared client instance and the offset store, the queues held now
 * (one QueueEntry each), and the helpers all layers use (broker address of a queue,
 * rate-limited warnings). The layers above it, one file each: QueuePulling (pull loop,
 * flow control, consumed offsets), ConsumerRebalance (which queues to hold, where to start,
 * offset resets) and ConsumerBase (startup, shutdown, subscriptions, running info).
 */
import type { ConsumerData, ConsumeType, SubscriptionData } from "@tidemq/protocol";
import {
  type ConsumerOptions,
  type ResolvedConsumerOptions,
  resolveConsumerOptions,
} from "./ConsumerOptions.js";
import { ClientError } from "./errors.js";
import { buildSubscriptionData, toFilterExpression } from "./FilterExpression.js";
import type { MessageQueue } from "./MessageQueue.js";
import type { MessageView } from "./MessageView.js";
import type { MQClientInstance } from "./MQClientInstance.js";
import type { OffsetStore } from "./OffsetStore.js";
import { checkGroup, checkTopic, type ResolvedClientOptions } from "./options.js";
import type { ProcessQueue } from "./ProcessQueue.js";
import { Notifier } from "./sync.js";

/** One assigned queue: its cached messages and where the next pull starts. */
export interface QueueEntry {
  readonly mq: MessageQueue;
  readonly pq: ProcessQueue<MessageView>;
  nextOffset: number;
  /** Messages the broker had past the last pull's end (its maxOffset − nextBeginOffset); sizes the next pull. */
  backlog: number;
  suggestedBrokerId: number;
  /** Consumed since the offset was last recorded (listed in QueuePulling.consumedQueues). */
  consumedDirty?: boolean;
  /** Woken when consumption frees room (flow control). */
  readonly space: Notifier;
  /** The pull loop waits on `space` (flow control): only then does consumption notify it. */
  waitingForSpace: boolean;
  /** Push consumers, orderly mode: a consume loop runs for this queue. */
  orderlyActive?: boolean;
  /** Orderly, given up by a rebalance: the call in flight still records its offset before the commit. */
  releasing?: boolean;
}

export function retryTopicOf(group: string): string {
  return `%RETRY%${group}`;
}

/** Identity, options, subscriptions, state and shared helpers of a consumer (see the file header). */
export abstract class ConsumerCore {
  readonly group: string;
  protected readonly raw: ConsumerOptions;
  protected readonly copts: ResolvedConsumerOptions;
  protected clientOptions: ResolvedClientOptions | undefined;
  protected instance: MQClientInstance | undefined;
  protected offsetStore: OffsetStore | undefined;
  protected readonly subscriptions = new Map<string, SubscriptionData>();
  protected readonly entries = new Map<string, QueueEntry>();
  protected state: "new" | "running" | "stopping" | "stopped" = "new";
  /** Woken at shutdown so back-off waits end at once. */
  protected readonly stopSignal = new Notifier();
  private readonly warned = new Map<string, number>();
  protected abstract readonly consumeType: ConsumeType;

  constructor(options: ConsumerOptions, withSubscriptions = true) {
    if (!options || typeof options !== "object") throw new ClientError("consumer options are required");
    this.raw = { ...options };
    this.group = checkGroup(options.consumerGroup);
    this.copts = resolveConsumerOptions(options);
    if (withSubscriptions) {
      const subs =
        options.subscriptions instanceof Map
          ? [...options.subscriptions]
          : Object.entries(options.subscriptions ?? {});
      if (subs.length === 0) throw new ClientError("subscriptions must name at least one topic");
      const now = Date.now();
      for (const [topic, expr] of subs) {
        checkTopic(topic);
        this.subscriptions.set(topic, buildSubscriptionData(topic, toFilterExpression(expr), now));
      }
      if (this.copts.messageModel === "CLUSTERING") {
        const retry = retryTopicOf(this.group);
        this.subscriptions.set(retry, buildSubscriptionData(retry, toFilterExpression("*"), now));
      }
    }
  }

  get clientId(): string | undefined {
    return this.instance?.clientId;
  }

  get isRunning(): boolean {
    return this.state === "running";
  }

  get rebalanceInterval(): number {
    return this.copts.rebalanceInterval;
  }

  get persistInterval(): number {
    return this.copts.persistConsumerOffsetInterval;
  }

  /** Queues this consumer holds now. */
  assignedQueues(): MessageQueue[] {
    return [...this.entries.values()].map((e) => e.mq);
  }

  topics(): Iterable<string> {
    return this.subscriptions.keys();
  }

  /** Per assigned queue: cached (pulled, unconsumed) messages and bytes, and the next pull offset. */
  queueStats(): Array<{ mq: MessageQueue; cachedMessages: number; cachedBytes: number; nextOffset: number }> {
    return [...this.entries.values()].map((e) => ({
      mq: e.mq,
      cachedMessages: e.pq.count,
      cachedBytes: e.pq.size,
      nextOffset: e.nextOffset,
    }));
  }

  consumerData(): ConsumerData {
    return {
      groupName: this.group,
      consumeType: this.consumeType,
      messageModel: this.copts.messageModel,
      consumeFromWhere: this.copts.consumeFromWhere,
      unitMode: false,
      subscriptionDataSet: [...this.subscriptions.values()],
    };
  }

  /** Logs a warning at most once a minute per key, so a dead broker does not flood the log. */
  protected warnOnce(key: string, msg: string): void {
    const now = Date.now();
    const last = this.warned.get(key) ?? 0;
    if (now - last < 60_000) return;
    if (this.warned.size > 1000) this.warned.clear();
    this.warned.set(key, now);
    this.instance?.logger.warn(`[${this.group}] ${msg}`);
  }

  protected requireRunning(): MQClientInstance {
    if (this.state !== "running" || !this.instance) {
      throw new ClientError(
        `consumer ${this.group} is ${this.state === "new" ? "not started: call startup() first" : "shut down"}`,
      );
    }
    return this.instance;
  }

  /** Broker address for a queue: the master for writes; for reads a replica when the master is gone. */
  protected addrFor(mq: MessageQueue, write: boolean): string {
    const instance = this.instance!;
    const addr = write ? instance.findMasterAddr(mq.brokerName) : instance.findAnyAddr(mq.brokerName);
    if (!addr)
      throw new ClientError(`no address known for broker ${mq.brokerName}`, { retriable: true, code: 10003 });
    return addr;
  }

  /** Logs a failure of a detached task (listener plumbing), which must never become an unhandled rejection. */
  protected logDetached(what: string): (err: Error) => void {
    return (err) =>
      this.instance?.logger.error(`[${this.group}] ${what} failed: ${err.stack ?? err.message}`);
  }
}
