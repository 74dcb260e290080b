import { type ConsumerData, decodeMessagesLazy, PullSysFlag, ResponseCode } from "@tidemq/protocol";
import { ClientError } from "./errors.js";
import {
  buildSubscriptionData,
  type FilterExpression,
  tagMatches,
  toFilterExpression,
} from "./FilterExpression.js";
import type { MessageQueue } from "./MessageQueue.js";
import { MessageView } from "./MessageView.js";
import { type ConsumerHandle, MQClientInstance } from "./MQClientInstance.js";
import {
  type ClientOptions,
  checkGroup,
  checkTopic,
  positiveInt,
  type ResolvedClientOptions,
  resolveClientOptions,
} from "./options.js";
import { subscribeQueues } from "./TopicRoute.js";

export interface PullConsumerOptions extends ClientOptions {
  /** Group whose offsets commit() and committedOffset() use. */
  consumerGroup: string;
  /** Client timeout of one pull, ms (must exceed the pull's suspendMs). Default 10000. */
  pullTimeout?: number;
}

export type PullStatus = "FOUND" | "NO_NEW_MSG" | "NO_MATCHED_MSG" | "OFFSET_ILLEGAL";

export interface PullResult {
  status: PullStatus;
  /** Where the next pull of this queue should start. */
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** The messages (FOUND), already filtered by tag and decompressed. */
  messages: MessageView[];
}

export interface PullOptions {
  /** Tag filter ("TagA || TagB") or FilterExpression. Default all. */
  expression?: FilterExpression | string;
  /** Let the broker hold the pull this long when no message is there (long polling), ms. Default 0. */
  suspendMs?: number;
}

/**
 * Pulls with explicit offsets (RocketMQ 4.x DefaultMQPullConsumer): the application chooses
 * queues and offsets, and commits offsets itself. No rebalance, no automatic commit.
 */
export class PullConsumer implements ConsumerHandle {
  readonly group: string;
  readonly rebalanceInterval = 20_000;
  readonly persistInterval = 5000;
  private readonly raw: PullConsumerOptions;
  private readonly pullTimeout: number;
  private options: ResolvedClientOptions | undefined;
  private instance: MQClientInstance | undefined;
  private readonly usedTopics = new Set<string>();
  private state: "new" | "running" | "stopped" = "new";

  constructor(options: PullConsumerOptions) {
    this.raw = { ...options };
    this.group = checkGroup(options.consumerGroup);
    this.pullTimeout = positiveInt(options.pullTimeout, 10_000, "pullTimeout");
  }

  topics(): Iterable<string> {
    return this.usedTopics;
  }
  consumerData(): ConsumerData {
    return {
      groupName: this.group,
      consumeType: "CONSUME_ACTIVELY",
      messageModel: "CLUSTERING",
      consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
      unitMode: false,
      subscriptionDataSet: [],
    };
  }
  onRouteChanged(): void {}
  async rebalance(): Promise<void> {}
  async persistOffsets(): Promise<void> {}

  async startup(): Promise<void> {
    if (this.state !== "new") throw new ClientError(`pull consumer cannot start: it is ${this.state}`);
    this.options = resolveClientOptions(this.raw, "pull-consumer");
    const instance = MQClientInstance.acquire(this.options);
    if (!instance.registerConsumer(this)) {
      await instance.release(this.options);
      throw new ClientError(
        `consumer group ${this.group} already has a consumer in client instance ${instance.clientId}; set instanceName`,
      );
    }
    this.instance = instance;
    this.state = "running";
  }

  private running(): MQClientInstance {
    if (this.state !== "running" || !this.instance) throw new ClientError(`pull consumer is ${this.state}`);
    return this.instance;
  }

  private addr(mq: MessageQueue, write: boolean): string {
    const instance = this.running();
    const a = write ? instance.findMasterAddr(mq.brokerName) : instance.findAnyAddr(mq.brokerName);
    if (!a)
      throw new ClientError(`no address known for broker ${mq.brokerName}; call fetchQueues(topic) first`, {
        code: 10003,
      });
    return a;
  }

  /** Readable queues of a topic (refreshes its route). */
  async fetchQueues(topic: string): Promise<MessageQueue[]> {
    const instance = this.running();
    checkTopic(topic);
    this.usedTopics.add(topic);
    const route = await instance.updateRoute(topic);
    return subscribeQueues(topic, route);
  }

  /** Reads up to `maxNums` messages of a queue from `offset`. */
  async pull(mq: MessageQueue, offset: number, maxNums = 32, options: PullOptions = {}): Promise<PullResult> {
    const instance = this.running();
    if (!Number.isInteger(offset) || offset < 0) throw new ClientError("offset must be an integer >= 0");
    positiveInt(maxNums, 32, "maxNums");
    const suspendMs = positiveInt(options.suspendMs, 0, "suspendMs", 0);
    if (suspendMs >= this.pullTimeout) throw new ClientError("suspendMs must be smaller than pullTimeout");
    if (!instance.getRoute(mq.topic)) await this.fetchQueues(mq.topic);
    const sub = buildSubscriptionData(mq.topic, toFilterExpression(options.expression), Date.now());
    const raw = await instance.api.pullMessage(
      this.addr(mq, false),
      {
        consumerGroup: this.group,
        topic: mq.topic,
        queueId: mq.queueId,
        queueOffset: offset,
        maxMsgNums: maxNums,
        sysFlag: PullSysFlag.SUBSCRIPTION | (suspendMs > 0 ? PullSysFlag.SUSPEND : 0),
        commitOffset: 0,
        suspendTimeoutMillis: suspendMs,
        subscription: sub.subString,
        subVersion: sub.subVersion,
        expressionType: sub.expressionType === "SQL92" ? "SQL92" : undefined,
      },
      this.pullTimeout,
    );
    const base = { nextBeginOffset: raw.nextBeginOffset, minOffset: raw.minOffset, maxOffset: raw.maxOffset };
    switch (raw.code) {
      case ResponseCode.SUCCESS: {
        const all = raw.body
          ? decodeMessagesLazy(raw.body, { decompressBody: true }).map((m) => new MessageView(m, mq))
          : [];
        const messages = all.filter((m) => tagMatches(sub, m.tag));
        return { status: messages.length > 0 ? "FOUND" : "NO_MATCHED_MSG", ...base, messages };
      }
      case ResponseCode.PULL_NOT_FOUND:
        return { status: "NO_NEW_MSG", ...base, messages: [] };
      case ResponseCode.PULL_RETRY_IMMEDIATELY:
        return { status: "NO_MATCHED_MSG", ...base, messages: [] };
      default:
        return { status: "OFFSET_ILLEGAL", ...base, messages: [] };
    }
  }

  /** Commits the group's offset of a queue (the next offset to consume). */
  async commit(mq: MessageQueue, offset: number): Promise<void> {
    if (!Number.isInteger(offset) || offset < 0) throw new ClientError("offset must be an integer >= 0");
    await this.running().api.updateConsumerOffset(this.addr(mq, true), this.group, mq, offset);
  }

  /** The group's committed offset of a queue, or −1 when none. */
  async committedOffset(mq: MessageQueue): Promise<number> {
    return this.running().api.queryConsumerOffset(this.addr(mq, false), this.group, mq);
  }

  async maxOffset(mq: MessageQueue): Promise<number> {
    return this.running().api.getMaxOffset(this.addr(mq, false), mq);
  }

  async minOffset(mq: MessageQueue): Promise<number> {
    return this.running().api.getMinOffset(this.addr(mq, false), mq);
  }

  /** First offset stored at or after `timestamp` (ms or Date). */
  async searchOffset(mq: MessageQueue, timestamp: number | Date): Promise<number> {
    const ts = timestamp instanceof Date ? timestamp.getTime() : timestamp;
    return this.running().api.searchOffset(this.addr(mq, false), mq, ts);
  }

  async shutdown(): Promise<void> {
    if (this.state !== "running") {
      this.state = "stopped";
      return;
    }
    this.state = "stopped";
    await this.instance!.unregisterConsumer(this.group);
    await this.instance!.release(this.options!);
  }
}
