import type { SubscriptionData } from "@tidemq/protocol";
import { isSql92 } from "../SubscriptionFilter.js";

/** One SQL92 subscription as the match index follows it: a topic and an expression text. */
export interface SqlSubscription {
  readonly topic: string;
  readonly expression: string;
}

/** What changed in the set of SQL92 subscriptions any group declares. */
export interface SqlSubscriptionChanges {
  /** Now declared by a group, and by none before. */
  readonly added: SqlSubscription[];
  /** Declared by no group any more. */
  readonly removed: SqlSubscription[];
}

/**
 * Which SQL92 (topic, expression) pairs the consumer groups declare by heartbeat, counted
 * over groups, so the match index follows a pair from the first group that declares it
 * until the last one stops (its subscription changed, or its last consumer left). Pure:
 * the caller gives each group's subscription table when it may have changed and acts on
 * the changes returned.
 */
export class SqlSubscriptions {
  /** group → keys of its SQL92 subscriptions. */
  private readonly byGroup = new Map<string, Set<string>>();
  /** key → groups declaring it. */
  private readonly counts = new Map<string, number>();

  /** The group's subscription table now (`undefined`: the group is gone). */
  groupChanged(group: string, subscriptions: Iterable<SubscriptionData> | undefined): SqlSubscriptionChanges {
    const now = new Set<string>();
    for (const s of subscriptions ?? []) if (isSql92(s.expressionType)) now.add(keyOf(s.topic, s.subString));
    const before = this.byGroup.get(group);
    const added: SqlSubscription[] = [];
    const removed: SqlSubscription[] = [];
    if (before !== undefined) {
      for (const key of before) {
        if (now.has(key)) continue;
        const n = (this.counts.get(key) ?? 1) - 1;
        if (n > 0) this.counts.set(key, n);
        else {
          this.counts.delete(key);
          removed.push(parseKey(key));
        }
      }
    }
    for (const key of now) {
      if (before?.has(key)) continue;
      const n = (this.counts.get(key) ?? 0) + 1;
      this.counts.set(key, n);
      if (n === 1) added.push(parseKey(key));
    }
    if (now.size > 0) this.byGroup.set(group, now);
    else this.byGroup.delete(group);
    return { added, removed };
  }

  /** Every pair declared now. */
  all(): SqlSubscription[] {
    return [...this.counts.keys()].map(parseKey);
  }
}

// Unambiguous whatever the texts hold (a heartbeat's topic is not validated as a name).
function keyOf(topic: string, expression: string): string {
  return JSON.stringify([topic, expression]);
}

function parseKey(key: string): SqlSubscription {
  const [topic, expression] = JSON.parse(key) as [string, string];
  return { topic, expression };
}
