import { ResponseCode, TideMQError } from "@tidemq/protocol";

/** KV namespace whose entries (topic → "brokerName:queueNums;…") become a route's orderTopicConf. */
export const NAMESPACE_ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG";

/** Default cap on the number of KV entries over all namespaces (each PUT is an admin call). */
export const DEFAULT_MAX_KV_ENTRIES = 100_000;

/**
 * The NameServer's KV configuration (RocketMQ's KVConfigManager): namespace → key → value.
 * Pure and in memory; RocketMQ persists it to kvConfig.json, TideMQ does not yet.
 */
export class KVConfigManager {
  private readonly table = new Map<string, Map<string, string>>();
  private entries = 0;

  constructor(private readonly maxEntries = DEFAULT_MAX_KV_ENTRIES) {}

  put(namespace: string, key: string, value: string): void {
    let ns = this.table.get(namespace);
    if (!ns?.has(key) && this.entries >= this.maxEntries) {
      // A full table refuses new keys rather than growing without bound.
      throw new TideMQError(ResponseCode.SYSTEM_ERROR, `the KV config is full (${this.maxEntries} entries)`);
    }
    if (!ns) {
      ns = new Map();
      this.table.set(namespace, ns);
    }
    if (!ns.has(key)) this.entries++;
    ns.set(key, value);
  }

  get(namespace: string, key: string): string | undefined {
    return this.table.get(namespace)?.get(key);
  }

  delete(namespace: string, key: string): void {
    const ns = this.table.get(namespace);
    if (!ns?.delete(key)) return;
    this.entries--;
    if (ns.size === 0) this.table.delete(namespace);
  }

  /** Every key/value of a namespace, or undefined when the namespace has none (→ QUERY_NOT_FOUND). */
  list(namespace: string): Record<string, string> | undefined {
    const ns = this.table.get(namespace);
    if (!ns || ns.size === 0) return undefined;
    return Object.fromEntries(ns);
  }

  get size(): number {
    return this.entries;
  }
}
