import { encodeObjectKeyMap } from "@tidemq/protocol";
import { allocateAveragely } from "./allocate.js";
import type { QueueEntry } from "./ConsumerCore.js";
import { ConsumeStatsWindow } from "./ConsumeStatsWindow.js";
import { checkSqlSubscriptions } from "./checkSubscription.js";
import { ClientError } from "./errors.js";
import { buildSubscriptionData, type FilterExpression, toFilterExpression } from "./FilterExpression.js";
import { type MessageQueue, mqKey } from "./MessageQueue.js";
import { type ConsumerHandle, MQClientInstance } from "./MQClientInstance.js";
import { LocalOffsetStore, RemoteBrokerOffsetStore } from "./OffsetStore.js";
import { checkTopic, resolveClientOptions } from "./options.js";
import { ProcessQueue } from "./ProcessQueue.js";
import { QueuePulling } from "./QueuePulling.js";
import { Notifier } from "./sync.js";
import { subscribeQueues } from "./TopicRoute.js";
import { type RunningTracer, startTracer } from "./trace/startTracer.js";
import type { Tracer } from "./trace/Tracer.js";

export { type QueueEntry, retryTopicOf } from "./ConsumerCore.js";

/** Process queues idle this long (no pull) are dropped and re-created by the next rebalance (Java). */
const PULL_MAX_IDLE_MS = 120_000;

/**
 * The machinery of a 4.x consumer (RocketMQ's RebalanceImpl + PullMessageService +
 * OffsetStore): rebalance by average allocation, one long-polling pull loop per assigned
 * queue with flow control, offsets committed periodically, on pulls and at shutdown.
 * Subclasses decide what happens to pulled messages.
 */
export abstract class ConsumerBase extends QueuePulling implements ConsumerHandle {
  private rebalancing: Promise<void> | undefined;
  private rebalanceAgain = false;
  private startedAt = 0;
  /** A rebalance soon after one that could not lock a queue (orderly consumers). */
  private lockRetryTimer: NodeJS.Timeout | undefined;
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

  // ---- rebalance ----

  onRouteChanged(_topic: string): void {
    if (this.state === "running") void this.rebalance("route changed");
  }

  /** Runs a rebalance; a request during one runs another right after (so no notice is lost). */
  rebalance(reason: string): Promise<void> {
    if (this.state !== "running") return Promise.resolve();
    if (this.rebalancing) {
      this.rebalanceAgain = true;
      return this.rebalancing;
    }
    this.rebalancing = (async () => {
      let rounds = 0;
      do {
        this.rebalanceAgain = false;
        try {
          await this.doRebalance();
        } catch (err) {
          this.warnOnce("rebalance", `rebalance (${reason}) failed: ${(err as Error).message}`);
        }
      } while (this.rebalanceAgain && this.state === "running" && ++rounds < 10);
    })().finally(() => {
      this.rebalancing = undefined;
    });
    return this.rebalancing;
  }

  private async doRebalance(): Promise<void> {
    const instance = this.instance!;
    for (const [topic] of this.subscriptions) {
      if (this.state !== "running") return;
      let route = instance.getRoute(topic);
      if (!route) {
        try {
          route = await instance.updateRoute(topic);
        } catch (err) {
          if (!topic.startsWith("%RETRY%")) this.warnOnce(`route:${topic}`, (err as Error).message);
          continue;
        }
      }
      const all = subscribeQueues(topic, route);
      let mine: MessageQueue[];
      if (this.copts.messageModel === "BROADCASTING") {
        mine = all;
      } else {
        const addrs = route.brokerDatas.map((b) => b.brokerAddrs["0"]).filter((a): a is string => !!a);
        let ids: string[] = [];
        // Any broker of the topic knows the group (every client heartbeats to every broker); try them in turn.
        for (const addr of addrs.sort(() => Math.random() - 0.5)) {
          try {
            ids = await instance.api.getConsumerIdList(addr, this.group);
            if (ids.length > 0) break;
          } catch (err) {
            this.warnOnce(`ids:${addr}`, `consumer list from ${addr}: ${(err as Error).message}`);
          }
        }
        if (ids.length === 0) continue;
        mine = allocateAveragely(all, ids, instance.clientId);
      }
      await this.updateProcessQueues(topic, mine);
    }
    // Queues of topics no longer subscribed.
    for (const e of [...this.entries.values()]) {
      if (!this.subscriptions.has(e.mq.topic)) await this.removeEntry(e);
    }
  }

  private async updateProcessQueues(topic: string, mine: MessageQueue[]): Promise<void> {
    const wanted = new Set(mine.map(mqKey));
    const now = Date.now();
    for (const e of [...this.entries.values()]) {
      if (e.mq.topic !== topic) continue;
      if (!wanted.has(mqKey(e.mq))) await this.removeEntry(e);
      else if (now - e.pq.lastPullTimestamp > PULL_MAX_IDLE_MS && this.copts.messageModel === "CLUSTERING") {
        this.warnOnce(
          `idle:${mqKey(e.mq)}`,
          `queue ${mqKey(e.mq)} has not been pulled for 120 s; re-creating it`,
        );
        await this.removeEntry(e);
      }
    }
    let lockRefused = false;
    for (const mq of mine) {
      const key = mqKey(mq);
      if (this.entries.has(key) || this.state !== "running") continue;
      // Orderly consumers lock the queue first, and only then read where its last owner stopped.
      if (!(await this.acquireQueue(mq))) {
        lockRefused = true;
        continue;
      }
      let offset: number;
      try {
        offset = await this.computePullFromWhere(mq);
      } catch (err) {
        this.warnOnce(
          `offset:${key}`,
          `cannot find where to start ${key}: ${(err as Error).message}; retrying at the next rebalance`,
        );
        continue;
      }
      if (this.state !== "running" || this.entries.has(key)) continue;
      const entry: QueueEntry = {
        mq,
        pq: new ProcessQueue(),
        nextOffset: offset,
        backlog: 0,
        suggestedBrokerId: 0,
        space: new Notifier(),
        waitingForSpace: false,
      };
      this.offsetStore!.update(mq, offset, false);
      this.entries.set(key, entry);
      this.instance!.logger.debug(
        `[${this.group}] ${this.instance!.clientId} takes ${key} at offset ${offset}`,
      );
      this.pullLoop(entry).catch((err: Error) => {
        // A bug, not an operating error: log it; the idle check of the next rebalances re-creates the queue.
        this.instance?.logger.error(
          `[${this.group}] pull loop of ${key} stopped: ${err.stack ?? err.message}`,
        );
      });
    }
    if (lockRefused) this.retryRebalanceSoon();
  }

  /** A queue's lock was held by another client (its old owner finishing up): try again in a second. */
  private retryRebalanceSoon(): void {
    if (this.lockRetryTimer || this.state !== "running") return;
    this.lockRetryTimer = setTimeout(
      () => {
        this.lockRetryTimer = undefined;
        void this.rebalance("queue lock retry");
      },
      Math.min(1000, this.copts.rebalanceInterval),
    );
  }

  /** Hook: may this consumer take the queue now? (Orderly push consumers lock it at the broker.) */
  protected async acquireQueue(_mq: MessageQueue): Promise<boolean> {
    return true;
  }

  /** Hook: wait until nothing of a given-up queue is being consumed (its offset is committed next). */
  protected async quiesceQueue(_e: QueueEntry): Promise<void> {}

  /** Hook: a given-up queue's offset was committed (or the commit failed); orderly push consumers unlock it here. */
  protected async afterQueueReleased(_e: QueueEntry, _committed: boolean): Promise<void> {}

  /** Hook: shutdown committed the offsets of these queues (or the commit failed). */
  protected async afterStop(_mqs: MessageQueue[], _committed: boolean): Promise<void> {}

  /** Gives a queue up: stop pulling, commit its offset, forget it. */
  protected async removeEntry(e: QueueEntry): Promise<void> {
    e.pq.dropped = true;
    e.space.notify();
    this.entries.delete(mqKey(e.mq));
    this.onQueueRemoved(e);
    await this.quiesceQueue(e);
    let committed = true;
    if (this.copts.messageModel === "CLUSTERING") {
      try {
        await this.offsetStore!.persistAll([e.mq]);
      } catch (err) {
        committed = false;
        this.warnOnce(
          `commit:${mqKey(e.mq)}`,
          `offset commit of ${mqKey(e.mq)} failed: ${(err as Error).message}`,
        );
      }
    }
    this.offsetStore!.remove(e.mq);
    await this.afterQueueReleased(e, committed);
  }

  /** Hook: a queue was given up (its cached messages will not be consumed here). */
  protected onQueueRemoved(_e: QueueEntry): void {}

  /** Java RebalancePushImpl.computePullFromWhere: the stored offset, else the start rule. */
  protected async computePullFromWhere(mq: MessageQueue): Promise<number> {
    const stored = await this.offsetStore!.readFromStore(mq);
    if (stored >= 0) return stored;
    const isRetry = mq.topic.startsWith("%RETRY%");
    const api = this.instance!.api;
    switch (this.copts.consumeFromWhere) {
      case "CONSUME_FROM_FIRST_OFFSET":
        return 0;
      case "CONSUME_FROM_TIMESTAMP":
        if (isRetry) return api.getMaxOffset(this.addrFor(mq, false), mq);
        return api.searchOffset(this.addrFor(mq, false), mq, this.copts.consumeTimestamp);
      default:
        if (isRetry) return 0;
        return api.getMaxOffset(this.addrFor(mq, false), mq);
    }
  }

  /**
   * RESET_CONSUMER_CLIENT_OFFSET (Java: suspend, drop the queues, set and commit the offsets,
   * resume): held queues of the topic are dropped with their cached messages, the new offsets
   * committed, and the next rebalance takes the queues again from there.
   */
  async resetOffset(topic: string, offsets: Array<[MessageQueue, number]>): Promise<void> {
    if (this.state !== "running" || !this.offsetStore) return;
    const held: MessageQueue[] = [];
    for (const [mq, offset] of offsets) {
      if (mq.topic !== topic || !Number.isInteger(offset) || offset < 0) continue;
      const e = this.entries.get(mqKey(mq));
      if (e) {
        e.pq.dropped = true;
        e.pq.clear();
        e.space.notify();
        this.entries.delete(mqKey(mq));
        this.onQueueRemoved(e);
        held.push(e.mq);
      } else if (this.copts.messageModel === "CLUSTERING") {
        continue;
      }
      this.offsetStore.update(mq, offset, false);
      if (!e) held.push(mq);
    }
    this.instance?.logger.info(`[${this.group}] offsets of ${topic} reset on ${held.length} queue(s)`);
    try {
      await this.offsetStore.persistAll(held);
    } finally {
      for (const mq of held) if (this.copts.messageModel === "CLUSTERING") this.offsetStore.remove(mq);
      await this.rebalance("offset reset");
    }
  }

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
