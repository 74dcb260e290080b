import type { Connection } from "@tidemq/remoting";
import type { ChannelInfo } from "./ConsumerManager.js";

export const MAX_PRODUCER_CHANNELS_PER_GROUP = 10_000;

/**
 * Producer group → live channels, from heartbeats (spec §4.4). Used for
 * GET_PRODUCER_CONNECTION_LIST and, later, to pick a channel for the transaction
 * check-back (spec §5.2). Pure logic keyed by channel identity, like ConsumerManager.
 */
export class ProducerManager<C extends object = Connection> {
  private readonly table = new Map<string, Map<C, ChannelInfo>>();
  private readonly now: () => number;
  private readonly expiredTimeout: number;

  constructor(options: { channelExpiredTimeout: number; now?: () => number }) {
    this.now = options.now ?? Date.now;
    this.expiredTimeout = options.channelExpiredTimeout;
  }

  /** Registers or refreshes a channel; returns true when it is new to the group. */
  register(
    channel: C,
    group: string,
    client: { clientId: string; language: string; version: number },
  ): boolean {
    let channels = this.table.get(group);
    if (!channels) {
      channels = new Map();
      this.table.set(group, channels);
    }
    const isNew = !channels.has(channel);
    if (isNew && channels.size >= MAX_PRODUCER_CHANNELS_PER_GROUP) {
      throw new Error(`producer group ${group} already has ${MAX_PRODUCER_CHANNELS_PER_GROUP} connections`);
    }
    channels.set(channel, { ...client, lastUpdate: this.now() });
    return isNew;
  }

  unregister(channel: C, group: string): boolean {
    const channels = this.table.get(group);
    if (!channels?.delete(channel)) return false;
    if (channels.size === 0) this.table.delete(group);
    return true;
  }

  /** Removes a closed channel from every group; returns the groups it left. */
  removeChannel(channel: C): string[] {
    const left: string[] = [];
    for (const [group, channels] of [...this.table]) {
      if (channels.delete(channel)) {
        left.push(group);
        if (channels.size === 0) this.table.delete(group);
      }
    }
    return left;
  }

  scanExpired(): Array<{ channel: C; group: string; clientId: string }> {
    const limit = this.now() - this.expiredTimeout;
    const removed: Array<{ channel: C; group: string; clientId: string }> = [];
    for (const [group, channels] of [...this.table]) {
      for (const [channel, info] of [...channels]) {
        if (info.lastUpdate < limit) {
          channels.delete(channel);
          removed.push({ channel, group, clientId: info.clientId });
        }
      }
      if (channels.size === 0) this.table.delete(group);
    }
    return removed;
  }

  /** Channels of a group with what they told us, or undefined for an unknown group. */
  connections(group: string): Map<C, ChannelInfo> | undefined {
    return this.table.get(group);
  }

  /** Any live channel of the group (transaction check-back target). */
  anyChannel(group: string): C | undefined {
    const channels = this.table.get(group);
    return channels ? channels.keys().next().value : undefined;
  }

  groups(): string[] {
    return [...this.table.keys()];
  }

  isRegistered(channel: C): boolean {
    for (const channels of this.table.values()) if (channels.has(channel)) return true;
    return false;
  }
}
