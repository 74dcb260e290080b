/**
 * The pull side of a 4.x consumer (RocketMQ's PullMessageService and the offset bookkeeping of
 * its ProcessQueue): one long-polling pull loop per held queue, with flow control at the
 * cache limits, an adaptive pull size, pulls sent to the replica the broker suggests, and the
 * consumed offsets recorded in the offset store as consumption frees room (which wakes the
 * loop) and committed periodically. Subclasses decide what happens to pulled messages
 * (onMessages). Layered on ConsumerCore; the rebalance above starts a loop per queue it takes.
 */
import { decodeMessagesLazy, PullSysFlag, ResponseCode, type SubscriptionData } from "@tidemq/protocol";
import { ConsumerCore, type QueueEntry } from "./ConsumerCore.js";
import { tagMatches } from "./FilterExpression.js";
import { mqKey } from "./MessageQueue.js";
import { MessageView } from "./MessageView.js";
import type { PullResultRaw } from "./MQClientAPI.js";

/** Pull loops, flow control and consumed-offset bookkeeping of a consumer (see the file header). */
export abstract class QueuePulling extends ConsumerCore {
  /** Queues with messages consumed since the last recordConsumed(). */
  private readonly consumedQueues: QueueEntry[] = [];
  /** When each topic's route was last refreshed after a failed pull (refreshRouteAfterPullError). */
  private readonly routeRefreshedAt = new Map<string, number>();

  /**
   * A pull that hit a dead or deposed broker (unreachable, or SERVICE_NOT_AVAILABLE from a
   * replica that is no longer the leader): refresh the topic's route now rather than at the
   * next poll, at most every 500 ms per topic.
   */
  private refreshRouteAfterPullError(topic: string, err: unknown): void {
    const text = String((err as Error)?.message);
    const code = (err as { code?: number })?.code;
    if (code !== 14 && !/unreachable|ECONNREFUSED|ECONNRESET|closed/i.test(text)) return;
    const now = Date.now();
    if (now - (this.routeRefreshedAt.get(topic) ?? 0) < 500) return;
    this.routeRefreshedAt.set(topic, now);
    this.instance?.updateRoute(topic).catch(() => undefined);
  }

  private pullAddr(e: QueueEntry): string {
    const instance = this.instance!;
    if (e.suggestedBrokerId !== 0) {
      const route = instance.getRoute(e.mq.topic);
      const a = route?.brokerDatas.find((b) => b.brokerName === e.mq.brokerName)?.brokerAddrs[
        String(e.suggestedBrokerId)
      ];
      if (a) return a;
    }
    return this.addrFor(e.mq, false);
  }

  /** Pulls one held queue until it is dropped or the consumer stops (the rebalance starts it). */
  protected async pullLoop(e: QueueEntry): Promise<void> {
    const o = this.copts;
    const key = mqKey(e.mq);
    // Bounded by the consumer's life: each round pulls, waits for room, or backs off.
    while (this.state === "running" && !e.pq.dropped) {
      // Stamped before flow control, as Java does: a queue paused by a slow listener is not "idle".
      e.pq.lastPullTimestamp = Date.now();
      const fc = e.pq.flowControl(o.flow);
      if (fc.pause) {
        this.warnOnce(
          `flow:${key}`,
          `flow control on ${key} (${fc.reason}): ${e.pq.count} messages, ${e.pq.size} bytes cached`,
        );
        e.waitingForSpace = true;
        await e.space.wait(1000);
        e.waitingForSpace = false;
        continue;
      }
      const sub = this.subscriptions.get(e.mq.topic);
      if (!sub) break;
      let raw: PullResultRaw;
      try {
        raw = await this.pull(e, sub);
      } catch (err) {
        if (e.pq.dropped || this.state !== "running") break;
        // A replica we were sent to may be gone (its route entry outlives it by up to 120 s):
        // the next pull goes to the master, which can send us back.
        e.suggestedBrokerId = 0;
        this.refreshRouteAfterPullError(e.mq.topic, err);
        this.warnOnce(
          `pull:${key}`,
          `pull of ${key} failed: ${(err as Error).message}; retrying in ${o.pullTimeDelayMillsWhenException} ms`,
        );
        await this.stopSignal.wait(o.pullTimeDelayMillsWhenException);
        continue;
      }
      if (e.pq.dropped || this.state !== "running") break;
      e.pq.lastPullTimestamp = Date.now();
      e.suggestedBrokerId = raw.suggestWhichBrokerId;
      e.backlog = raw.code === ResponseCode.SUCCESS ? raw.maxOffset - raw.nextBeginOffset : 0;
      switch (raw.code) {
        case ResponseCode.SUCCESS:
          await this.takeFound(e, sub, raw, key);
          break;
        case ResponseCode.PULL_NOT_FOUND:
        case ResponseCode.PULL_RETRY_IMMEDIATELY:
          e.nextOffset = raw.nextBeginOffset;
          if (e.pq.count === 0) this.offsetStore!.update(e.mq, e.nextOffset, true);
          break;
        case ResponseCode.PULL_OFFSET_MOVED:
          this.warnOnce(
            `moved:${key}`,
            `offset ${e.nextOffset} of ${key} is invalid; moving to ${raw.nextBeginOffset}`,
          );
          e.nextOffset = raw.nextBeginOffset;
          this.offsetStore!.update(e.mq, raw.nextBeginOffset, false);
          break;
      }
    }
  }

  /** One PULL_MESSAGE of the queue at its next offset, committing the stored offset on the way. */
  private pull(e: QueueEntry, sub: SubscriptionData): Promise<PullResultRaw> {
    const o = this.copts;
    const commitOffset = o.messageModel === "CLUSTERING" ? (this.offsetStore!.read(e.mq) ?? 0) : 0;
    let sysFlag = PullSysFlag.SUSPEND | PullSysFlag.SUBSCRIPTION;
    if (commitOffset > 0) sysFlag |= PullSysFlag.COMMIT_OFFSET;
    return this.instance!.api.pullMessage(
      this.pullAddr(e),
      {
        consumerGroup: this.group,
        topic: e.mq.topic,
        queueId: e.mq.queueId,
        queueOffset: e.nextOffset,
        maxMsgNums: this.pullSize(e),
        sysFlag,
        commitOffset,
        suspendTimeoutMillis: o.longPollingTimeout,
        subscription: sub.subString,
        subVersion: sub.subVersion,
        expressionType: sub.expressionType === "SQL92" ? "SQL92" : undefined,
      },
      o.pullTimeout,
    );
  }

  /**
   * Adaptive pull size: pullBatchSize while the consumer keeps up; while the broker reports
   * a backlog (maxOffset far past the next offset), as much of it as fits the cache
   * (maxCacheMessageCount), up to maxPullBatchSize. One round trip per 32 messages cannot
   * keep up with 100k msg/s, and a long wait for the broker costs a large pull no more than a small one.
   */
  private pullSize(e: QueueEntry): number {
    const o = this.copts;
    if (e.backlog <= o.pullBatchSize) return o.pullBatchSize;
    const room = o.flow.maxCachedMessages - e.pq.count;
    return Math.max(o.pullBatchSize, Math.min(e.backlog, o.maxPullBatchSize, room));
  }

  /** A FOUND pull: caches the messages that match the subscription and moves the queue on. */
  private async takeFound(
    e: QueueEntry,
    sub: SubscriptionData,
    raw: PullResultRaw,
    key: string,
  ): Promise<void> {
    const matching: MessageView[] = [];
    // tagMatches with no tag is true exactly when the subscription takes every tag: then the
    // properties of a message need not be parsed here at all.
    const everyTag = tagMatches(sub, undefined);
    try {
      for (const m of raw.body ? decodeMessagesLazy(raw.body, { decompressBody: true }) : []) {
        if (m.queueOffset < e.nextOffset) continue;
        const v = new MessageView(m, e.mq);
        if (everyTag || tagMatches(sub, v.tag)) matching.push(v);
      }
    } catch (err) {
      this.warnOnce(
        `decode:${key}`,
        `cannot decode messages of ${key} at ${e.nextOffset}: ${(err as Error).message}`,
      );
      await this.stopSignal.wait(this.copts.pullTimeDelayMillsWhenException);
      return;
    }
    e.nextOffset = raw.nextBeginOffset;
    const added = e.pq.put(matching);
    if (e.pq.count === 0) this.offsetStore!.update(e.mq, e.nextOffset, true);
    if (added.length > 0) this.onMessages(e, added);
  }

  /** New messages were cached for a queue. */
  protected abstract onMessages(e: QueueEntry, added: MessageView[]): void;

  /** Consumption freed room in a queue: record the offset and wake its pull loop. */
  protected consumed(e: QueueEntry, offsets: number[]): void {
    for (const o of offsets) e.pq.removeOne(o);
    this.recordOffset(e);
  }

  /**
   * One message consumed: it leaves the cache now; the offset is recorded and the pull loop
   * woken once per batch, by recordConsumed().
   */
  protected consumedOne(e: QueueEntry, offset: number): void {
    e.pq.removeOne(offset);
    if (e.consumedDirty) return;
    e.consumedDirty = true;
    this.consumedQueues.push(e);
  }

  /** Records the offsets of the queues consumedOne() touched and wakes their pull loops. */
  protected recordConsumed(): void {
    const queues = this.consumedQueues;
    for (let i = 0; i < queues.length; i++) {
      const e = queues[i]!;
      e.consumedDirty = false;
      this.recordOffset(e);
    }
    queues.length = 0;
  }

  private recordOffset(e: QueueEntry): void {
    const offset = e.pq.commitOffset();
    if ((!e.pq.dropped || e.releasing) && offset >= 0) this.offsetStore!.update(e.mq, offset, true);
    if (e.waitingForSpace) e.space.notify();
  }

  async persistOffsets(): Promise<void> {
    if (this.state !== "running" || !this.offsetStore) return;
    try {
      await this.offsetStore.persistAll(this.assignedQueues());
    } catch (err) {
      this.warnOnce("persist", `offset commit failed: ${(err as Error).message}`);
    }
  }
}
