import type { MessageQueue } from "@tidemq/protocol";

export type { MessageQueue } from "@tidemq/protocol";

/** A stable string key for maps of queues. */
export function mqKey(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}@${mq.queueId}`;
}

/** RocketMQ's MessageQueue ordering: topic, then broker name, then queue id (spec §8.9). */
export function compareQueues(a: MessageQueue, b: MessageQueue): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1;
  return a.queueId - b.queueId;
}
