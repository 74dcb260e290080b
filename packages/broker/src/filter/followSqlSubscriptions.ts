import { isReadable, type SubscriptionData, type TopicConfig } from "@tidemq/protocol";
import type { BrokerContext } from "../context.js";
import { activeSqlMatchIndexOf, configureSqlMatchIndex } from "./SqlMatchIndex.js";
import { SqlSubscriptions } from "./SqlSubscriptions.js";
import { sqlFilter } from "./sqlFilterCache.js";

/** Where a group's subscription table comes from (ConsumerManager). */
export interface SubscriptionSource {
  watchSubscriptions(listener: (group: string, subs: Iterable<SubscriptionData> | undefined) => void): void;
}

/**
 * The store's SQL92 match index follows the SQL92 subscriptions consumers declare by
 * heartbeat: from the first group that declares (topic, expression) the bits fill as
 * messages arrive on each of the topic's queues this broker serves pulls on (servedQueueCount;
 * a heartbeat names the whole topic, whose queues may be on other brokers too, or past
 * readQueueNums), so the group's first pull already finds
 * them; when no group declares it any more (its subscription changed, its last consumer
 * left or expired) they are dropped. The index is made only once an SQL92 subscription
 * exists: a broker without SQL92 consumers pays nothing on arrival.
 */
export function followSqlSubscriptions(
  source: SubscriptionSource,
  ctx: Pick<BrokerContext, "store" | "topics" | "config" | "logger">,
): SqlSubscriptions {
  const subscriptions = new SqlSubscriptions();
  configureSqlMatchIndex(ctx.store, {
    maxTracked: ctx.config.sqlMatchIndexMaxPairs,
    maxBitsPerExpression: ctx.config.sqlMatchIndexBitsPerPair,
    serves: (topic, queueId) => queueId < servedQueueCount(ctx.topics.get(topic)),
  });
  source.watchSubscriptions((group, subs) => {
    const { added, removed } = subscriptions.groupChanged(group, subs);
    if (added.length === 0 && removed.length === 0) return;
    // With the filter off the pulls are refused: nothing to index.
    if (!ctx.config.enablePropertyFilter) return;
    const index = activeSqlMatchIndexOf(ctx.store);
    if (index === undefined) return; // sqlMatchIndexMaxPairs=0: no index
    for (const r of removed) index.unfollow(r.topic, r.expression);
    for (const a of added) {
      let filter: ReturnType<typeof sqlFilter>;
      try {
        filter = sqlFilter(a.expression);
      } catch {
        continue; // the heartbeat refused it already: nothing is stored for it
      }
      const queues = servedQueueCount(ctx.topics.get(a.topic));
      index.follow(
        a.topic,
        filter,
        Array.from({ length: queues }, (_, i) => i),
      );
    }
  });
  return subscriptions;
}

/**
 * How many of a topic's queues (ids 0..n-1) this broker answers pulls on, as the pull
 * processor checks: none when the topic is not here or not readable, else readQueueNums.
 * A heartbeat names a topic whose queues may live on several brokers; only these get pairs.
 * Queues past readQueueNums (writeQueueNums larger, while queues are added or retired)
 * take sends but no pull, so following them would only take pairs from served ones.
 */
export function servedQueueCount(tc: Pick<TopicConfig, "perm" | "readQueueNums"> | undefined): number {
  return tc === undefined || !isReadable(tc.perm) ? 0 : tc.readQueueNums;
}
