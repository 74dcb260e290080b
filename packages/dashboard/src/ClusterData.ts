import { Admin, type ConsumeStats, Producer } from "@tidemq/client";
import {
  type ClusterInfo,
  decodeOffsetMsgId,
  formatHostPort,
  type SubscriptionGroupConfig,
  type TopicConfig,
} from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { mapLimit } from "./Bounded.js";
import { HttpError } from "./http.js";
import { type Cached, TtlCache } from "./TtlCache.js";

/** One broker as the Cluster page and the other reads see it. */
export interface BrokerRef {
  cluster: string;
  brokerName: string;
  brokerId: number;
  addr: string;
}

/** A topic's config on each broker that has it. */
export interface TopicInfo {
  topic: string;
  configs: Array<{ brokerName: string; config: TopicConfig }>;
}

/** A consumer group with its lag, as the Consumers list sorts it. */
export interface GroupSummary {
  group: string;
  /** Brokers (masters) whose subscription table has the group. */
  brokers: string[];
  config: SubscriptionGroupConfig;
  /** Σ (broker offset − consumer offset) over the group's queues; undefined when no broker answered. */
  lag: number | undefined;
  consumeTps: number;
  /** Online client count (GET_CONSUMER_LIST_BY_GROUP). */
  clients: number;
  /** Topics the group holds offsets of. */
  topics: string[];
  error?: string;
}

/** Lag, TPS and clients of one group (the expensive part of GroupSummary). */
interface GroupLag {
  lag: number | undefined;
  consumeTps: number;
  clients: number;
  topics: string[];
  error?: string;
}

/** How many requests the console keeps in flight to the brokers at once (2,000 groups = 4,000 requests). */
const CONCURRENCY = 32;

/**
 * The cluster as the console reads it, through the client's Admin API, with short-lived
 * caches (1-5 s fresh, served stale up to 60 s while one refresh runs) of what the brokers
 * would recompute on every view. Writes invalidate what they change.
 */
export class ClusterData {
  readonly admin: Admin;
  private producer: Producer | undefined;
  private readonly infoCache = new TtlCache<ClusterInfo>(2000, 30_000);
  private readonly runtimeCache = new TtlCache<Record<string, string>>(2000, 10_000);
  private readonly topicCache = new TtlCache<Map<string, TopicInfo>>(5000, 60_000);
  private readonly groupConfigCache = new TtlCache<
    Map<string, { brokers: string[]; config: SubscriptionGroupConfig }>
  >(5000, 60_000);
  private readonly lagCache = new TtlCache<Map<string, GroupLag>>(5000, 60_000);

  constructor(
    readonly namesrv: string,
    private readonly logger: Logger,
  ) {
    this.admin = new Admin({ endpoints: namesrv, logger, requestTimeout: 5000 });
  }

  async close(): Promise<void> {
    await this.producer?.shutdown().catch(() => undefined);
    await this.admin.shutdown();
  }

  /** The console's producer for test messages (group TIDEMQ_DASHBOARD_PRODUCER), started on first use. */
  async getProducer(): Promise<Producer> {
    if (!this.producer) {
      const p = new Producer({
        endpoints: this.namesrv,
        producerGroup: "TIDEMQ_DASHBOARD_PRODUCER",
        instanceName: `dashboard-${process.pid}`,
        logger: this.logger,
      });
      await p.startup();
      this.producer = p;
    }
    return this.producer;
  }

  clusterInfo(): Promise<Cached<ClusterInfo>> {
    return this.infoCache.get("", () => this.admin.getClusterInfo());
  }

  async brokers(): Promise<BrokerRef[]> {
    const info = (await this.clusterInfo()).value;
    const out: BrokerRef[] = [];
    for (const [cluster, names] of Object.entries(info.clusterAddrTable)) {
      for (const brokerName of [...names].sort()) {
        const addrs = info.brokerAddrTable[brokerName]?.brokerAddrs ?? {};
        for (const [id, addr] of Object.entries(addrs))
          out.push({ cluster, brokerName, brokerId: Number(id), addr });
      }
    }
    return out.sort(
      (a, b) =>
        a.cluster.localeCompare(b.cluster) ||
        a.brokerName.localeCompare(b.brokerName) ||
        a.brokerId - b.brokerId,
    );
  }

  async masters(): Promise<BrokerRef[]> {
    return (await this.brokers()).filter((b) => b.brokerId === 0);
  }

  /**
   * `addr` if it is a broker the NameServers list. The console connects only to the
   * cluster's own brokers, never to an address a request names (no request forgery through it).
   */
  async knownBroker(addr: string): Promise<BrokerRef> {
    const b = (await this.brokers()).find((x) => x.addr === addr);
    if (!b) throw new HttpError(400, `${addr} is not a broker of this cluster`);
    return b;
  }

  /**
   * The broker an offset message id names (its store host), checked to be one of this
   * cluster's before anything connects to it: an id from a request could name any address.
   */
  async brokerOfMsgId(offsetMsgId: string): Promise<BrokerRef> {
    let store: string;
    try {
      store = formatHostPort(decodeOffsetMsgId(offsetMsgId).storeHost);
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
    return this.knownBroker(store);
  }

  /** The cluster to create topics and groups in: the one asked for, or the only one there is. */
  async clusterName(asked: string): Promise<string> {
    const names = Object.keys((await this.clusterInfo()).value.clusterAddrTable).sort();
    if (asked) {
      if (!names.includes(asked))
        throw new HttpError(400, `unknown cluster ${asked} (clusters: ${names.join(", ")})`);
      return asked;
    }
    if (names.length === 1) return names[0]!;
    throw new HttpError(400, `choose a cluster (clusters: ${names.join(", ") || "none"})`);
  }

  /** Names that RocketMQ registers as topics but are no user's topics (cluster and broker names). */
  async systemNames(): Promise<Set<string>> {
    const info = (await this.clusterInfo()).value;
    return new Set([...Object.keys(info.clusterAddrTable), ...Object.keys(info.brokerAddrTable)]);
  }

  runtime(addr: string): Promise<Cached<Record<string, string>>> {
    return this.runtimeCache.get(addr, () => this.admin.getBrokerRuntimeInfo(addr));
  }

  /** Every topic the NameServers know, with each master's config of it. */
  topics(): Promise<Cached<Map<string, TopicInfo>>> {
    return this.topicCache.get("", async () => {
      const [names, masters] = await Promise.all([this.admin.getTopicList(), this.masters()]);
      const map = new Map<string, TopicInfo>();
      for (const t of names) map.set(t, { topic: t, configs: [] });
      const tables = await mapLimit(masters, CONCURRENCY, (m) =>
        this.admin.getAllTopicConfig(m.addr).catch(() => ({}) as Record<string, TopicConfig>),
      );
      for (const [i, table] of tables.entries()) {
        for (const [t, config] of Object.entries(table)) {
          let e = map.get(t);
          if (!e) {
            e = { topic: t, configs: [] };
            map.set(t, e);
          }
          e.configs.push({ brokerName: masters[i]!.brokerName, config });
        }
      }
      return map;
    });
  }

  /** Every consumer group config of the masters (one request per master). */
  groupConfigs(): Promise<Cached<Map<string, { brokers: string[]; config: SubscriptionGroupConfig }>>> {
    return this.groupConfigCache.get("", async () => {
      const masters = await this.masters();
      const tables = await mapLimit(masters, CONCURRENCY, (m) =>
        this.admin
          .getAllSubscriptionGroups(m.addr)
          .catch(() => ({}) as Record<string, SubscriptionGroupConfig>),
      );
      const map = new Map<string, { brokers: string[]; config: SubscriptionGroupConfig }>();
      for (const [i, table] of tables.entries()) {
        for (const [g, config] of Object.entries(table)) {
          const e = map.get(g);
          if (e) e.brokers.push(masters[i]!.addr);
          else map.set(g, { brokers: [masters[i]!.addr], config });
        }
      }
      return map;
    });
  }

  /**
   * Every group with lag, consume TPS and online clients: two requests per group and broker
   * (4,000 for 2,000 groups, seconds on a busy broker), so it is computed in the background
   * and served from the cache. When no value exists yet the answer waits at most `waitMs`
   * and then comes without lag, `pending` saying that the lag is still being computed.
   */
  async groups(waitMs = 800): Promise<Cached<Map<string, GroupSummary>> & { pending: boolean }> {
    const configs = await this.groupConfigs();
    const stats = this.lagCache.get("", () => this.computeLag());
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), waitMs).unref());
    const got = await Promise.race([stats, timeout]);
    stats.catch(() => undefined);
    const map = new Map<string, GroupSummary>();
    for (const [g, c] of configs.value) {
      const s = got?.value.get(g);
      map.set(g, {
        group: g,
        brokers: c.brokers,
        config: c.config,
        lag: s?.lag,
        consumeTps: s?.consumeTps ?? 0,
        clients: s?.clients ?? 0,
        topics: s?.topics ?? [],
        ...(s?.error ? { error: s.error } : {}),
      });
    }
    return { value: map, asOf: got?.asOf ?? configs.asOf, pending: got === undefined };
  }

  /** Starts computing what the Consumers page needs, so the first visitor does not wait. */
  warmUp(): void {
    this.topics().catch(() => undefined);
    this.lagCache.get("", () => this.computeLag()).catch(() => undefined);
  }

  private async computeLag(): Promise<Map<string, GroupLag>> {
    const configs = (await this.groupConfigs()).value;
    const out = new Map<string, GroupLag>();
    const jobs = [...configs].flatMap(([group, c]) => c.brokers.map((addr) => ({ group, addr })));
    await mapLimit(jobs, CONCURRENCY, async ({ group, addr }) => {
      let s = out.get(group);
      if (!s) {
        s = { lag: undefined, consumeTps: 0, clients: 0, topics: [] };
        out.set(group, s);
      }
      try {
        const [stats, ids] = await Promise.all([
          this.admin.getConsumeStatsOnBroker(addr, group),
          this.admin.getConsumerIdList(addr, group),
        ]);
        s.lag = (s.lag ?? 0) + stats.diffTotal;
        s.consumeTps += stats.consumeTps;
        s.clients = Math.max(s.clients, ids.length);
        for (const q of stats.queues) if (!s.topics.includes(q.mq.topic)) s.topics.push(q.mq.topic);
      } catch (err) {
        s.error = (err as Error).message;
      }
    });
    return out;
  }

  /** Consume stats of one group on every master that has it (fresh: the detail view shows exact offsets). */
  async groupStats(group: string, topic?: string): Promise<ConsumeStats> {
    const masters = await this.masters();
    const parts = await mapLimit(masters, CONCURRENCY, (m) =>
      this.admin.getConsumeStatsOnBroker(m.addr, group, topic).catch(() => undefined),
    );
    const queues = parts.flatMap((p) => p?.queues ?? []);
    return {
      queues,
      consumeTps: parts.reduce((s, p) => s + (p?.consumeTps ?? 0), 0),
      diffTotal: parts.reduce((s, p) => s + (p?.diffTotal ?? 0), 0),
    };
  }

  invalidateTopics(): void {
    this.topicCache.invalidate();
  }

  invalidateGroups(): void {
    this.groupConfigCache.invalidate();
    this.lagCache.invalidate();
  }
}
