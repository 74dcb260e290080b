/**
 * Which queues a 4.x consumer holds (RocketMQ's RebalanceImpl): average allocation of a
 * topic's queues among the group's clients (every queue when broadcasting), taking a queue
 * at its stored offset or the start rule (computePullFromWhere) and starting its pull loop,
 * giving a queue up with its offset committed, re-creating queues idle too long, retrying
 * soon when an orderly consumer could not lock a queue, and the broker's offset reset
 * (drop the queues, commit the new offsets, take them again). Hooks let orderly push
 * consumers lock and unlock queues. Layered on QueuePulling.
 */
import { allocateAveragely } from "./allocate.js";
import type { QueueEntry } from "./ConsumerCore.js";
import { type MessageQueue, mqKey } from "./MessageQueue.js";
import { ProcessQueue } from "./ProcessQueue.js";
import { QueuePulling } from "./QueuePulling.js";
import { Notifier } from "./sync.js";
import { subscribeQueues } from "./TopicRoute.js";

/** Process queues idle this long (no pull) are dropped and re-created by the next rebalance (Java). */
const PULL_MAX_IDLE_MS = 120_000;

/** Rebalance: which queues a consumer holds, where each starts, offset resets (see the file header). */
export abstract class ConsumerRebalance extends QueuePulling {
  /** The rebalance running now, if any (shutdown waits for it). */
  protected rebalancing: Promise<void> | undefined;
  private rebalanceAgain = false;
  /** A rebalance soon after one that could not lock a queue (orderly consumers). */
  protected lockRetryTimer: NodeJS.Timeout | undefined;

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
}
