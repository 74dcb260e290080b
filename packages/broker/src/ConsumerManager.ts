import type { ConsumerData, SubscriptionData } from "@tidemq/protocol";

/**
 * Consumer groups as the broker sees them (spec §4.4, §8.9): per group the live channels
 * (TCP connections) with their client id, and the group's subscription table.
 *
 * Pure logic: no sockets, no timers. A channel is any object identity (the broker uses
 * remoting Connections) — registrations are keyed by channel, never by client id, since
 * two ali-ons broadcasting processes on one host send the same clientID (spec §12.1).
 * Callers act on the returned outcomes (send NOTIFY_CONSUMER_IDS_CHANGED, log).
 */

export interface ChannelInfo {
  clientId: string;
  language: string;
  version: number;
  lastUpdate: number;
}

export interface ConsumerGroupState<C> {
  group: string;
  consumeType: ConsumerData["consumeType"];
  messageModel: ConsumerData["messageModel"];
  consumeFromWhere: string;
  /** topic → subscription: the group-wide table, last heartbeat wins (as in RocketMQ). */
  subscriptions: Map<string, SubscriptionData>;
  channels: Map<C, ChannelInfo>;
}

/** Two consumers of one group that subscribe differently (RocketMQ then silently loses messages). */
export interface SubscriptionConflict {
  /** "MESSAGE_MODEL": clustering and broadcasting mixed; "TOPIC": a topic not every consumer subscribes; "EXPRESSION": different filters for a topic. */
  kind: "MESSAGE_MODEL" | "TOPIC" | "EXPRESSION";
  /** The topic concerned ("" for MESSAGE_MODEL). */
  topic: string;
  /** Per consumer: its expression for the topic (null = not subscribed), or its message model. */
  consumers: Array<{ clientId: string; expression: string | null }>;
  /** One line a human can act on. */
  description: string;
}

export interface RegisterOutcome {
  /** The channel was not in the group before. */
  newChannel: boolean;
  /** A topic was added to or removed from the group's subscription table. */
  topicsChanged: boolean;
  /** The group's conflicts changed with this heartbeat (report them). */
  conflictsChanged: boolean;
}

export interface ConsumerManagerOptions {
  /** ms without heartbeat after which a channel expires. */
  channelExpiredTimeout: number;
  now?: () => number;
}

/** What one channel declared in its last heartbeat for a group (for conflict detection). */
interface ChannelDeclaration {
  messageModel: ConsumerData["messageModel"];
  subscriptions: Map<string, SubscriptionData>;
}

interface GroupEntry<C> extends ConsumerGroupState<C> {
  declarations: Map<C, ChannelDeclaration>;
  conflicts: SubscriptionConflict[];
  conflictSignature: string;
}

/** Limits per heartbeat and per group. */
export const MAX_SUBSCRIPTIONS_PER_GROUP = 10_000;
export const MAX_CHANNELS_PER_GROUP = 10_000;

export class ConsumerManager<C extends object> {
  private readonly table = new Map<string, GroupEntry<C>>();
  private readonly now: () => number;
  private readonly expiredTimeout: number;
  /** Told a group's subscription table after each heartbeat, and `undefined` when the group goes. */
  private subscriptionListener:
    | ((group: string, subs: Iterable<SubscriptionData> | undefined) => void)
    | undefined;

  constructor(options: ConsumerManagerOptions) {
    this.now = options.now ?? Date.now;
    this.expiredTimeout = options.channelExpiredTimeout;
  }

  /**
   * Registers (or refreshes) `channel` in `data.groupName` and replaces the group's
   * subscription table with `data.subscriptionDataSet` (spec §4.4): an existing topic's
   * subscription is replaced only by a newer subVersion; topics not listed are removed.
   */
  register(
    channel: C,
    client: { clientId: string; language: string; version: number },
    data: ConsumerData,
  ): RegisterOutcome {
    const now = this.now();
    let entry = this.table.get(data.groupName);
    if (!entry) {
      entry = {
        group: data.groupName,
        consumeType: data.consumeType,
        messageModel: data.messageModel,
        consumeFromWhere: data.consumeFromWhere,
        subscriptions: new Map(),
        channels: new Map(),
        declarations: new Map(),
        conflicts: [],
        conflictSignature: "",
      };
      this.table.set(data.groupName, entry);
    }
    const existing = entry.channels.get(channel);
    const newChannel = existing === undefined;
    if (newChannel && entry.channels.size >= MAX_CHANNELS_PER_GROUP) {
      throw new Error(`consumer group ${data.groupName} already has ${MAX_CHANNELS_PER_GROUP} connections`);
    }
    entry.channels.set(channel, {
      clientId: client.clientId,
      language: client.language,
      version: client.version,
      lastUpdate: now,
    });
    entry.consumeType = data.consumeType;
    entry.messageModel = data.messageModel;
    entry.consumeFromWhere = data.consumeFromWhere;

    const declared = new Map<string, SubscriptionData>();
    for (const sub of data.subscriptionDataSet) declared.set(sub.topic, sub);
    entry.declarations.set(channel, { messageModel: data.messageModel, subscriptions: declared });

    let topicsChanged = false;
    for (const sub of declared.values()) {
      const old = entry.subscriptions.get(sub.topic);
      if (!old) {
        entry.subscriptions.set(sub.topic, sub);
        topicsChanged = true;
      } else if (sub.subVersion > old.subVersion) {
        entry.subscriptions.set(sub.topic, sub);
      }
    }
    for (const topic of [...entry.subscriptions.keys()]) {
      if (!declared.has(topic)) {
        entry.subscriptions.delete(topic);
        topicsChanged = true;
      }
    }
    const conflictsChanged = this.refreshConflicts(entry);
    this.subscriptionListener?.(entry.group, entry.subscriptions.values());
    return { newChannel, topicsChanged, conflictsChanged };
  }

  /** Sets the listener told each group's subscription table (the SQL92 match index follows it). */
  watchSubscriptions(listener: (group: string, subs: Iterable<SubscriptionData> | undefined) => void): void {
    this.subscriptionListener = listener;
  }

  /** Removes `channel` from one group (UNREGISTER_CLIENT). Returns whether it was there. */
  unregister(channel: C, group: string): boolean {
    const entry = this.table.get(group);
    if (!entry?.channels.has(channel)) return false;
    this.dropChannel(entry, channel);
    return true;
  }

  /** Removes `channel` from every group (connection closed). Returns the groups it left. */
  removeChannel(channel: C): string[] {
    const left: string[] = [];
    for (const entry of [...this.table.values()]) {
      if (entry.channels.has(channel)) {
        this.dropChannel(entry, channel);
        left.push(entry.group);
      }
    }
    return left;
  }

  /** Removes channels silent for longer than channelExpiredTimeout; returns what was removed. */
  scanExpired(): Array<{ channel: C; group: string; clientId: string }> {
    const limit = this.now() - this.expiredTimeout;
    const removed: Array<{ channel: C; group: string; clientId: string }> = [];
    for (const entry of [...this.table.values()]) {
      for (const [channel, info] of [...entry.channels]) {
        if (info.lastUpdate < limit) {
          this.dropChannel(entry, channel);
          removed.push({ channel, group: entry.group, clientId: info.clientId });
        }
      }
    }
    return removed;
  }

  getGroup(group: string): ConsumerGroupState<C> | undefined {
    return this.table.get(group);
  }

  findSubscription(group: string, topic: string): SubscriptionData | undefined {
    return this.table.get(group)?.subscriptions.get(topic);
  }

  groups(): ConsumerGroupState<C>[] {
    return [...this.table.values()];
  }

  /** Client ids of the group's live channels, without duplicates (see below). */
  clientIds(group: string): string[] {
    // Two connections with one client id (ali-ons broadcasting processes, or a misconfigured
    // instanceName) would otherwise appear twice and leave a block of queues unassigned.
    const entry = this.table.get(group);
    return entry ? [...new Set([...entry.channels.values()].map((c) => c.clientId))] : [];
  }

  /** Channels of a group, for notifications. */
  channelsOf(group: string): C[] {
    return [...(this.table.get(group)?.channels.keys() ?? [])];
  }

  /** Groups in which `channel` is registered. */
  groupsOf(channel: C): string[] {
    return [...this.table.values()].filter((e) => e.channels.has(channel)).map((e) => e.group);
  }

  /** The group's current subscription conflicts (empty when consistent). */
  conflicts(group: string): SubscriptionConflict[] {
    return this.table.get(group)?.conflicts ?? [];
  }

  private dropChannel(entry: GroupEntry<C>, channel: C): void {
    entry.channels.delete(channel);
    entry.declarations.delete(channel);
    if (entry.channels.size === 0) {
      this.table.delete(entry.group);
      this.subscriptionListener?.(entry.group, undefined);
    } else this.refreshConflicts(entry);
  }

  /** Recomputes the group's conflicts; true when they differ from before. */
  private refreshConflicts(entry: GroupEntry<C>): boolean {
    const conflicts = detectConflicts(
      [...entry.declarations].map(([channel, d]) => ({
        clientId: entry.channels.get(channel)?.clientId ?? "?",
        messageModel: d.messageModel,
        subscriptions: d.subscriptions,
      })),
    );
    const signature = JSON.stringify(conflicts);
    const changed = signature !== entry.conflictSignature;
    entry.conflicts = conflicts;
    entry.conflictSignature = signature;
    return changed && conflicts.length > 0;
  }
}

/** A subscription expression in a canonical form: "TagB||TagA" and "TagA || TagB" are equal. */
export function canonicalExpression(sub: SubscriptionData): string {
  const type = sub.expressionType ?? "TAG";
  const text = (sub.subString ?? "").trim();
  if (type !== "TAG") return `${type}: ${text}`;
  if (text === "" || text === "*") return "*";
  const tags = [
    ...new Set(
      text
        .split("||")
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    ),
  ].sort();
  return tags.join(" || ");
}

/**
 * Compares what each consumer of one group declared. Consumers of a group must
 * subscribe identically: the broker keeps one subscription table per group (last
 * heartbeat wins) and queues are split as if every consumer wanted every topic, so a
 * difference loses messages silently.
 */
export function detectConflicts(
  consumers: Array<{ clientId: string; messageModel: string; subscriptions: Map<string, SubscriptionData> }>,
): SubscriptionConflict[] {
  if (consumers.length < 2) return [];
  const sorted = [...consumers].sort((a, b) =>
    a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0,
  );
  const out: SubscriptionConflict[] = [];
  const models = new Set(sorted.map((c) => c.messageModel));
  if (models.size > 1) {
    out.push({
      kind: "MESSAGE_MODEL",
      topic: "",
      consumers: sorted.map((c) => ({ clientId: c.clientId, expression: c.messageModel })),
      description: `consumers mix message models (${[...models].sort().join(", ")}): ${sorted
        .map((c) => `${c.clientId}=${c.messageModel}`)
        .join(", ")}`,
    });
  }
  const topics = new Set<string>();
  for (const c of sorted) for (const t of c.subscriptions.keys()) topics.add(t);
  for (const topic of [...topics].sort()) {
    const perConsumer = sorted.map((c) => {
      const sub = c.subscriptions.get(topic);
      return { clientId: c.clientId, expression: sub ? canonicalExpression(sub) : null };
    });
    const missing = perConsumer.filter((p) => p.expression === null);
    if (missing.length > 0) {
      const having = perConsumer.filter((p) => p.expression !== null);
      out.push({
        kind: "TOPIC",
        topic,
        consumers: perConsumer,
        description:
          `topic ${topic} is subscribed by ${having.map((p) => p.clientId).join(", ")} ` +
          `but not by ${missing.map((p) => p.clientId).join(", ")}; the queues assigned to the latter are not consumed`,
      });
      continue;
    }
    const expressions = new Set(perConsumer.map((p) => p.expression));
    if (expressions.size > 1) {
      out.push({
        kind: "EXPRESSION",
        topic,
        consumers: perConsumer,
        description:
          `topic ${topic} is subscribed with different expressions: ` +
          `${perConsumer.map((p) => `${p.clientId} "${p.expression}"`).join(", ")}; ` +
          `messages matching only one of them can be filtered out by the other`,
      });
    }
  }
  return out;
}
