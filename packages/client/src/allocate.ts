import { compareQueues, type MessageQueue } from "./MessageQueue.js";

/**
 * Average allocation (Java AllocateMessageQueueAveragely, spec §8.9): queues sorted by
 * (topic, brokerName, queueId) and client ids sorted; with n queues and c clients, client i
 * gets a contiguous block of ⌊n/c⌋ queues, one more for the first n mod c clients. Clients
 * beyond n get nothing. A client missing from the list gets nothing.
 */
export function allocateAveragely(queues: MessageQueue[], clientIds: string[], myId: string): MessageQueue[] {
  const sortedIds = [...new Set(clientIds)].sort();
  const index = sortedIds.indexOf(myId);
  if (index < 0 || queues.length === 0) return [];
  const mqs = [...queues].sort(compareQueues);
  const n = mqs.length;
  const c = sortedIds.length;
  const mod = n % c;
  const averageSize = n <= c ? 1 : mod > 0 && index < mod ? Math.floor(n / c) + 1 : Math.floor(n / c);
  const startIndex = mod > 0 && index < mod ? index * averageSize : index * averageSize + mod;
  const range = Math.min(averageSize, n - startIndex);
  const out: MessageQueue[] = [];
  for (let i = 0; i < range; i++) out.push(mqs[(startIndex + i) % n]!);
  return out;
}
