import type { MessageQueue } from "@tidemq/protocol";

/** RocketMQ's rocketmq.broker.rebalance.lockMaxLiveTime: a lock not renewed for this long is free. */
export const DEFAULT_LOCK_MAX_LIVE_MS = 60_000;
/** Queues one group may hold locks on (bounds a hostile or runaway client). */
export const MAX_LOCKED_QUEUES_PER_GROUP = 100_000;

interface Lock {
  clientId: string;
  lastUpdate: number;
}

function key(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}@${mq.queueId}`;
}

/**
 * Queue locks for orderly consumption (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, spec §4.13): a queue
 * of a group is held by one client at a time; a holder renews by locking again; a lock not
 * renewed within `maxLiveMs` can be taken by another client; an unlock by anyone but the
 * holder is ignored. Pure: the caller passes the time. Locks live in memory, as RocketMQ's:
 * after a broker restart the current owners re-lock at their next renewal.
 */
export class RebalanceLockManager {
  private readonly groups = new Map<string, Map<string, Lock>>();

  constructor(readonly maxLiveMs = DEFAULT_LOCK_MAX_LIVE_MS) {}

  /** Locks (or renews) what it can of `mqs` for `clientId`; returns the queues the client now holds. */
  tryLockBatch(group: string, mqs: readonly MessageQueue[], clientId: string, now: number): MessageQueue[] {
    let locks = this.groups.get(group);
    if (!locks) {
      locks = new Map();
      this.groups.set(group, locks);
    }
    const granted: MessageQueue[] = [];
    for (const mq of mqs) {
      const k = key(mq);
      const lock = locks.get(k);
      if (!lock) {
        if (locks.size >= MAX_LOCKED_QUEUES_PER_GROUP) continue;
        locks.set(k, { clientId, lastUpdate: now });
      } else if (lock.clientId === clientId || now - lock.lastUpdate > this.maxLiveMs) {
        lock.clientId = clientId;
        lock.lastUpdate = now;
      } else {
        continue;
      }
      granted.push(mq);
    }
    return granted;
  }

  /** Releases the queues `clientId` holds among `mqs`; others' locks are left alone. */
  unlockBatch(group: string, mqs: readonly MessageQueue[], clientId: string): void {
    const locks = this.groups.get(group);
    if (!locks) return;
    for (const mq of mqs) {
      const k = key(mq);
      if (locks.get(k)?.clientId === clientId) locks.delete(k);
    }
    if (locks.size === 0) this.groups.delete(group);
  }

  /** The live holder of a queue, if any (for consumer status). */
  holder(group: string, mq: MessageQueue, now: number): string | undefined {
    const lock = this.groups.get(group)?.get(key(mq));
    return lock && now - lock.lastUpdate <= this.maxLiveMs ? lock.clientId : undefined;
  }
}
