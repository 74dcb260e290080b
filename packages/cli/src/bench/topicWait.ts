import { type Admin, NoRouteError, subscribeQueues } from "@tidemq/client";
import type { TopicRouteData } from "@tidemq/protocol";
import type { QueueStart } from "./StartPosition.js";

/** How often the route is asked for while the topic does not exist yet. */
const POLL_MS = 500;

/**
 * Waits until a NameServer has a route for `topic` (a consumer started before its producer:
 * the topic is created by the first send). Without this the consumer would find no queue and
 * look again only at its next route poll, 30 s later. Says once that it waits; an unreachable
 * NameServer is an error, not a wait. Ends when the route appears or `stopped()` turns true.
 */
export async function waitForTopic(
  admin: Admin,
  topic: string,
  stopped: () => boolean,
  onWait: () => void,
): Promise<TopicRouteData | undefined> {
  let told = false;
  while (!stopped()) {
    try {
      return await admin.getTopicRoute(topic);
    } catch (err) {
      const notYet = err instanceof NoRouteError && err.outcomes.some((o) => o.outcome === "TOPIC_NOT_EXIST");
      if (!notYet) throw err;
    }
    if (!told) onWait();
    told = true;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return undefined;
}

/** Per readable queue of the route: the group's committed offset (−1 if none), min and max. */
export async function queueStarts(admin: Admin, route: TopicRouteData, topic: string, group: string) {
  const out: QueueStart[] = [];
  for (const mq of subscribeQueues(topic, route)) {
    const addr = route.brokerDatas.find((b) => b.brokerName === mq.brokerName)?.brokerAddrs["0"];
    if (!addr) continue;
    const [committed, min, max] = await Promise.all([
      // setZeroIfNotFound=false: "none" must read as none, not as the 4.9 "young queue: 0" answer.
      admin.api.queryConsumerOffset(addr, group, mq, false),
      admin.getMinOffset(addr, mq),
      admin.getMaxOffset(addr, mq),
    ]);
    out.push({ committed, min, max });
  }
  return out;
}
