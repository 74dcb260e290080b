/**
 * What the broker's request processors share. BrokerController builds one BrokerContext
 * and hands it to every processor module (processors never reach for globals).
 *
 * Two groups of modules fill it in:
 * - BrokerController, BrokerConfig, TopicConfigManager, NamesrvRegistration, send/pull
 *   processors, PullRequestHoldService, topic admin processors;
 * - ConsumerManager, ProducerManager, ConsumerOffsetManager, SubscriptionGroupManager and
 *   the client/query/admin processors registered by `registerClientProcessors`.
 */
import type { SubscriptionData, SubscriptionGroupConfig, TopicConfig } from "@tidemq/protocol";
import type { Connection, Logger, RemotingServer } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { BrokerConfig } from "./BrokerConfig.js";
import type { ConsumerGroupState } from "./ConsumerManager.js";
import type { ReplicaAck } from "./ha/MasterSlaveReplication.js";
import type { TrafficCounters } from "./metrics/TrafficCounters.js";
import type { DelayLevelRouter } from "./schedule/DelayLevelRouter.js";
import type { ScheduleMessageService } from "./schedule/ScheduleMessageService.js";

export interface TopicConfigManagerApi {
  get(topic: string): TopicConfig | undefined;
  all(): TopicConfig[];
  /** Creates or replaces, persists, and triggers a NameServer registration. */
  upsert(config: TopicConfig): Promise<void>;
  delete(topic: string): Promise<void>;
  /** Creates `%RETRY%group` / `%DLQ%group` style system topics if missing (1 queue by default, perm 6). */
  ensureSystemTopic(topic: string, queueNums: number, perm: number): Promise<TopicConfig>;
}

export type { SubscriptionGroupConfig };

export interface SubscriptionGroupManagerApi {
  /** Looks up the group, auto-creating it when autoCreateSubscriptionGroup is on. */
  findOrCreate(group: string): SubscriptionGroupConfig | undefined;
  get(group: string): SubscriptionGroupConfig | undefined;
  all(): SubscriptionGroupConfig[];
  upsert(config: SubscriptionGroupConfig): Promise<void>;
  delete(group: string, cleanOffset?: boolean): Promise<void>;
}

export type ConsumerGroupInfo = ConsumerGroupState<Connection>;

export interface ConsumerManagerApi {
  getGroup(group: string): ConsumerGroupInfo | undefined;
  /** The subscription registered by heartbeat for (group, topic), if any. */
  findSubscription(group: string, topic: string): SubscriptionData | undefined;
  groups(): ConsumerGroupInfo[];
}

export interface ConsumerOffsetManagerApi {
  /** Committed next-offset, or -1 when none. */
  query(group: string, topic: string, queueId: number): number;
  commit(group: string, topic: string, queueId: number, offset: number, increaseOnly?: boolean): void;
  /** queueId → offset for one topic@group. */
  table(group: string, topic: string): Map<number, number>;
  /** Every (topic, group) pair that has offsets. */
  keys(): Array<{ topic: string; group: string }>;
  persist(): Promise<void>;
  /** The table as RocketMQ's consumerOffset.json (GET_ALL_CONSUMER_OFFSET). */
  encode(): string;
}

export interface BrokerContext {
  config: BrokerConfig;
  /** "ip:listenPort" clients use, also stamped into records (store host). */
  brokerAddr: string;
  server: RemotingServer;
  store: MessageStore;
  logger: Logger;
  topics: TopicConfigManagerApi;
  subscriptionGroups: SubscriptionGroupManagerApi;
  consumers: ConsumerManagerApi;
  offsets: ConsumerOffsetManagerApi;
  /** Statistics the runtime-info and console read (put/get counters). */
  stats: BrokerStats;
  bootTimestamp: number;
  /** Per-topic/group counters the /metrics endpoint reads (absent in contexts built by tests). */
  traffic?: TrafficCounters;
  /** Delay levels: parks delayed sends in SCHEDULE_TOPIC_XXXX, delivers them when due (absent in unit-test contexts). */
  schedule?: { router: DelayLevelRouter; service: ScheduleMessageService };
  /** Master/slave replication: what a SYNC_MASTER send waits for (absent: a single broker). */
  replicaAck?: ReplicaAck;
  /** Master/slave replication state for GET_BROKER_RUNTIME_INFO (role, slaves, lag). */
  haRuntimeInfo?: () => Record<string, string>;
  /** Extra GET_BROKER_RUNTIME_INFO fields (DLedger: role, term, commit index, lag). */
  runtimeInfoExtras?: () => Record<string, string>;
}

export interface BrokerStats {
  /** Adds `n` messages put / got, for the TPS figures of GET_BROKER_RUNTIME_INFO. */
  recordPut(n: number): void;
  recordGet(n: number): void;
  /** "tps10s tps60s tps600s" as RocketMQ prints them. */
  putTps(): string;
  getTps(): string;
  putTotal(): number;
  getTotal(): number;
}
