/**
 * The base of the push and simple consumers: their lifecycle (startup registers with the
 * shared client instance, loads offsets, heartbeats and rebalances; shutdown waits for the
 * listeners, commits offsets and leaves the group), subscriptions changed while running,
 * message trace, and the ConsumerRunningInfo answer a broker relays from `mqadmin
 * consumerStatus`. The machinery under it, one layer per file so each reads in one sitting:
 *
 * - ConsumerCore.ts       group, options, subscriptions, state, held queues (QueueEntry), shared helpers
 * - QueuePulling.ts       pull loop per held queue, flow control, consumed-offset bookkeeping
 * - ConsumerRebalance.ts  which queues to hold, where each starts, giving queues up, offset resets
 */
import { encodeObjectKeyMap } from "@tidemq/protocol";
import { ConsumerRebalance } from "./ConsumerRebalance.js";
import { ConsumeStatsWindow } from "./ConsumeStatsWindow.js";
import { checkSqlSubscriptions } from "./checkSubscription.js";
import { ClientError } from "./errors.js";
import { buildSubscriptionData, type FilterExpression, toFilterExpression } from "./FilterExpression.js";
import type { MessageQueue } from "./MessageQueue.js";
import { type ConsumerHandle, MQClientInstance } from "./MQClientInstance.js";
import { LocalOffsetStore, RemoteBrokerOffsetStore } from "./OffsetStore.js";
import { checkTopic, resolveClientOptions } from "./options.js";
import { type RunningTracer, startTracer } from "./trace/startTracer.js";
import type { Tracer } from "./trace/Tracer.js";

export { type QueueEntry, retryTopicOf } from "./ConsumerCore.js";

/**
 * The machinery of a 4.x consumer (RocketMQ's RebalanceImpl + PullMessageService +
 * OffsetStore): rebalance by average allocation, one long-polling pull loop per assigned
 * queue with flow control, offsets committed periodically, on pulls and at shutdown.
 * Subclasses decide what happens to pulled messages.
 */
export abstract class ConsumerBase extends ConsumerRebalance implements ConsumerHandle {
  private startedAt = 0;
  /** Message trace (enableTrace), if on. */
  private trace: RunningTracer | undefined;
  /** Consumption rates per topic, reported in runningInfo's statusTable. */
  protected readonly consumeStats = new ConsumeStatsWindow();

  /** For runningInfo: whether this consumer holds the broker lock of `mq` (orderly consumers). */
  protected queueLockState(_mq: MessageQueue): { locked: boolean; lastLockTimestamp: number } {
    return { locked: false, lastLockTimestamp: 0 };
  }

  /** For runningInfo: listener calls (or received, unacknowledged messages) in flight now. */
  protected inflightNow(): number {
    return 0;
  }

  /** For runningInfo: whether messages are consumed in queue order. */
  protected get consumesOrderly(): boolean {
    return false;
  }

  /** The trace hooks (enableTrace); undefined when tracing is off. */
  get tracer(): Tracer | undefined {
    return this.trace?.tracer;
  }

  /** Adds (or replaces) a subscription while running; takes effect at once (heartbeat + rebalance). */
  async subscribe(topic: string, filter: FilterExpression | string = "*"): Promise<void> {
    const instance = this.requireRunning();
    checkTopic(topic);
    const sub = buildSubscriptionData(topic, toFilterExpression(filter), Date.now());
    await instance.updateRoute(topic).catch((err: Error) => this.warnOnce(`route:${topic}`, err.message));
    await checkSqlSubscriptions(instance, this.group, [sub]);
    this.subscriptions.set(topic, sub);
    await instance.sendHeartbeatToAllBrokers();
    await this.rebalance("subscribe");
  }

  /** Drops a subscription while running; its queues are given up (offsets committed). */
  async unsubscribe(topic: string): Promise<void> {
    const instance = this.requireRunning();
    if (topic.startsWith("%RETRY%")) throw new ClientError("the retry topic subscription cannot be removed");
    if (!this.subscriptions.delete(topic)) return;
    await instance.sendHeartbeatToAllBrokers();
    await this.rebalance("unsubscribe");
  }

  async startup(): Promise<void> {
    if (this.state !== "new")
      throw new ClientError(`consumer ${this.group} cannot start: it is ${this.state}`);
    this.clientOptions = resolveClientOptions(this.raw, "consumer");
    // Before the consumer is registered: the client instance's timers may rebalance (and
    // start consuming) as soon as it is, and every consumption must be traced.
    this.trace = await startTracer(this.raw, this.group, this.clientOptions.logger);
    const instance = MQClientInstance.acquire(this.clientOptions);
    if (!instance.registerConsumer(this)) {
      await this.trace?.stop();
      await instance.release(this.clientOptions);
      throw new ClientError(
        `consumer group ${this.group} already has a consumer in client instance ${instance.clientId}; ` +
          "give each consumer of one group in a process its own instanceName",
      );
    }
    this.instance = instance;
    this.offsetStore =
      this.copts.messageModel === "BROADCASTING"
        ? new LocalOffsetStore(this.raw.offsetStorePath)
        : new RemoteBrokerOffsetStore({
            query: (mq) =>
              instance.api.queryConsumerOffset(
                this.addrFor(mq, false),
                this.group,
                mq,
                this.copts.strictStartPosition ? false : undefined,
              ),
            commit: (mq, offset) =>
              instance.api.updateConsumerOffset(this.addrFor(mq, true), this.group, mq, offset),
          });
    this.state = "running";
    this.startedAt = Date.now();
    try {
      await this.offsetStore.load();
      await this.refreshRoutes(true);
      await checkSqlSubscriptions(instance, this.group, this.subscriptions.values());
      await instance.sendHeartbeatToAllBrokers();
      // The broker creates %RETRY%<group> on the first heartbeat and registers it at once: look again.
      if (this.copts.messageModel === "CLUSTERING") await this.refreshRoutes(false);
      await this.rebalance("startup");
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  private async refreshRoutes(warn: boolean): Promise<void> {
    const instance = this.instance!;
    await Promise.all(
      [...this.subscriptions.keys()].map((topic) =>
        instance.updateRoute(topic).catch((err: Error) => {
          if (warn && !topic.startsWith("%RETRY%")) this.warnOnce(`route:${topic}`, err.message);
        }),
      ),
    );
  }

  /** Hook: shutdown committed the offsets of these queues (or the commit failed). */
  protected async afterStop(_mqs: MessageQueue[], _committed: boolean): Promise<void> {}

  /** ConsumerRunningInfo JSON (GET_CONSUMER_RUNNING_INFO), as `mqadmin consumerProgress -s` reads it. */
  runningInfo(): string {
    const properties = {
      consumeType: this.consumeType,
      messageModel: this.copts.messageModel,
      consumeFromWhere: this.copts.consumeFromWhere,
      PROP_CLIENT_VERSION: "V4_9_8",
      PROP_CONSUMER_START_TIMESTAMP: String(this.startedAt),
      PROP_NAMESERVER_ADDR: this.clientOptions?.nameServers.join(";") ?? "",
      PROP_CONSUME_TYPE: this.consumeType,
      PROP_THREADPOOL_CORE_SIZE: "1",
      PROP_CONSUMEORDERLY: String(this.consumesOrderly),
      PROP_INFLIGHT_COUNT: String(this.inflightNow()),
    };
    const status: Record<string, unknown> = {};
    for (const [topic, s] of this.consumeStats.status(Date.now())) status[topic] = s;
    const mqTable: Array<[object, unknown]> = [...this.entries.values()].map((e) => {
      const first = e.pq.firstOffset();
      const lock = this.queueLockState(e.mq);
      return [
        e.mq,
        {
          commitOffset: this.offsetStore?.read(e.mq) ?? -1,
          cachedMsgMinOffset: first ?? 0,
          cachedMsgMaxOffset: e.pq.count > 0 ? e.pq.queueOffsetMax : 0,
          cachedMsgCount: e.pq.count,
          cachedMsgSizeInMiB: Math.floor(e.pq.size / (1024 * 1024)),
          transactionMsgMinOffset: 0,
          transactionMsgMaxOffset: 0,
          transactionMsgCount: 0,
          locked: lock.locked,
          tryUnlockTimes: 0,
          lastLockTimestamp: lock.lastLockTimestamp,
          droped: e.pq.dropped,
          lastPullTimestamp: e.pq.lastPullTimestamp,
          lastConsumeTimestamp: e.pq.lastConsumeTimestamp,
        },
      ];
    });
    return (
      `{"properties":${JSON.stringify(properties)},"subscriptionSet":${JSON.stringify([...this.subscriptions.values()])},` +
      `"mqTable":${encodeObjectKeyMap(mqTable)},"statusTable":${JSON.stringify(status)}}`
    );
  }

  /** Hook run at shutdown before offsets are committed (push consumers wait for listeners here). */
  protected async beforeStop(): Promise<void> {}

  /** Stops pulling, commits offsets, leaves the group; the shared client instance closes with its last user. */
  async shutdown(): Promise<void> {
    if (this.state !== "running") {
      if (this.state === "new") this.state = "stopped";
      return;
    }
    this.state = "stopping";
    this.stopSignal.notify();
    clearTimeout(this.lockRetryTimer);
    const instance = this.instance!;
    try {
      await this.rebalancing;
      await this.beforeStop();
      for (const e of this.entries.values()) {
        e.pq.dropped = true;
        e.space.notify();
      }
      const held = [...this.entries.values()].map((e) => e.mq);
      let committed = true;
      try {
        await this.offsetStore?.persistAll(held);
      } catch (err) {
        committed = false;
        instance.logger.warn(`[${this.group}] final offset commit failed: ${(err as Error).message}`);
      }
      this.entries.clear();
      await this.afterStop(held, committed);
      await this.trace?.stop();
      await instance.unregisterConsumer(this.group);
    } finally {
      this.state = "stopped";
      await instance.release(this.clientOptions!);
    }
  }
}
