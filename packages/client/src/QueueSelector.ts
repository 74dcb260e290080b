import { javaStringHashCode } from "@tidemq/protocol";
import type { LatencyFaultTolerance } from "./LatencyFaultTolerance.js";
import type { MessageQueue } from "./MessageQueue.js";

/**
 * Round-robin queue choice with fault avoidance (Java MQFaultStrategy.selectOneMessageQueue):
 * the next queue whose broker is available and is not `lastBrokerName` (the broker that just
 * failed, on a retry); failing that, the least-bad broker; failing that, plain round robin.
 */
export class RoundRobinSelector {
  private index: number;
  constructor(start = Math.floor(Math.random() * 0x7fffffff)) {
    this.index = start;
  }

  private next(): number {
    this.index = (this.index + 1) % 0x7fffffff;
    return this.index;
  }

  select(
    queues: MessageQueue[],
    fault: LatencyFaultTolerance | undefined,
    lastBrokerName: string | undefined,
    now: number,
  ): MessageQueue | undefined {
    const n = queues.length;
    if (n === 0) return undefined;
    if (fault) {
      for (let i = 0; i < n; i++) {
        const mq = queues[this.next() % n]!;
        if (mq.brokerName !== lastBrokerName && fault.isAvailable(mq.brokerName, now)) return mq;
      }
      const brokers = new Set(queues.map((q) => q.brokerName));
      if (lastBrokerName !== undefined && brokers.size > 1) brokers.delete(lastBrokerName);
      const least = fault.pickOneAtLeast(brokers);
      if (least !== undefined) {
        const ofBroker = queues.filter((q) => q.brokerName === least);
        return ofBroker[this.next() % ofBroker.length]!;
      }
    }
    if (lastBrokerName !== undefined) {
      for (let i = 0; i < n; i++) {
        const mq = queues[this.next() % n]!;
        if (mq.brokerName !== lastBrokerName) return mq;
      }
    }
    return queues[this.next() % n]!;
  }
}

/**
 * The queue for a sharding key (messageGroup): Java's SelectMessageQueueByHash,
 * |String.hashCode(key)| mod the number of queues. Stable while the queue list is.
 */
export function selectByShardingKey(queues: MessageQueue[], key: string): MessageQueue | undefined {
  if (queues.length === 0) return undefined;
  return queues[Math.abs(javaStringHashCode(key)) % queues.length];
}
