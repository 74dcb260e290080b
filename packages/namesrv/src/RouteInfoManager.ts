import {
  type BrokerData,
  type ClusterInfo,
  type DataVersion,
  Perm,
  type QueueData,
  ResponseCode,
  TideMQError,
  type TopicConfig,
  type TopicConfigSerializeWrapper,
  type TopicList,
  type TopicRouteData,
} from "@tidemq/protocol";
import { KVConfigManager, NAMESPACE_ORDER_TOPIC_CONFIG } from "./KVConfigManager.js";

/** RocketMQ's MixAll.MASTER_ID. */
export const MASTER_ID = 0;
/** A broker that has not registered for this long is dropped (RocketMQ's BROKER_CHANNEL_EXPIRED_TIME). */
export const DEFAULT_BROKER_EXPIRED_MS = 120_000;

export interface RouteInfoManagerOptions {
  /** Liveness timeout of brokers that do not send heartbeatTimeoutMillis; default 120 s. */
  brokerExpiredMs?: number;
  /** Put the ORDER_TOPIC_CONFIG KV entry of a topic into its route as orderTopicConf. */
  orderMessageEnable?: boolean;
  /** Caps that keep a misbehaving peer from growing the tables without bound. */
  maxBrokerAddrs?: number;
  maxTopics?: number;
  maxKvEntries?: number;
}

export interface RegisterBrokerArgs {
  clusterName: string;
  brokerAddr: string;
  brokerName: string;
  brokerId: number;
  haServerAddr: string;
  /** Absent = no topics, data version 0/0 (what an empty REGISTER_BROKER body means). */
  topicConfigWrapper?: TopicConfigSerializeWrapper;
  filterServerList?: string[];
  /** 5.x brokers announce their own liveness timeout. */
  heartbeatTimeoutMillis?: number;
  /** Connection the registration came on; closing it drops the broker (onConnectionClosed). */
  channelId?: number;
  now: number;
}

export interface RegisterBrokerResult {
  /** For a slave: the master's HA address and address. */
  haServerAddr?: string;
  masterAddr?: string;
}

export interface BrokerLiveInfo {
  lastUpdateTimestamp: number;
  heartbeatTimeoutMillis: number;
  dataVersion: DataVersion;
  haServerAddr: string;
  channelId?: number;
}

interface BrokerEntry {
  cluster: string;
  brokerName: string;
  /** brokerId → address. */
  brokerAddrs: Map<number, string>;
}

/**
 * The NameServer's routing tables (RocketMQ's RouteInfoManager): which brokers are alive,
 * which clusters they form and which queues each topic has on each broker. Pure: no I/O,
 * the clock is passed in, and a single-threaded caller needs no locks.
 */
export class RouteInfoManager {
  /** topic → brokerName → QueueData. */
  private readonly topicQueueTable = new Map<string, Map<string, QueueData>>();
  private readonly brokerAddrTable = new Map<string, BrokerEntry>();
  private readonly clusterAddrTable = new Map<string, Set<string>>();
  /** brokerAddr → liveness. */
  private readonly brokerLiveTable = new Map<string, BrokerLiveInfo>();
  private readonly filterServerTable = new Map<string, string[]>();
  readonly kv: KVConfigManager;
  private readonly brokerExpiredMs: number;
  private readonly orderMessageEnable: boolean;
  private readonly maxBrokerAddrs: number;
  private readonly maxTopics: number;

  constructor(options: RouteInfoManagerOptions = {}) {
    this.brokerExpiredMs = options.brokerExpiredMs ?? DEFAULT_BROKER_EXPIRED_MS;
    this.orderMessageEnable = options.orderMessageEnable ?? false;
    this.maxBrokerAddrs = options.maxBrokerAddrs ?? 10_000;
    this.maxTopics = options.maxTopics ?? 1_000_000;
    this.kv = new KVConfigManager(options.maxKvEntries);
  }

  // ---- registration ----

  registerBroker(args: RegisterBrokerArgs): RegisterBrokerResult {
    const { clusterName, brokerAddr, brokerName, brokerId, now } = args;
    const wrapper = args.topicConfigWrapper;
    const dataVersion = normalizeDataVersion(wrapper?.dataVersion);
    const topicConfigs = wrapper ? validTopicConfigs(wrapper.topicConfigTable) : [];
    this.checkLimits(brokerAddr, brokerId, topicConfigs);

    let brokerNames = this.clusterAddrTable.get(clusterName);
    if (!brokerNames) {
      brokerNames = new Set();
      this.clusterAddrTable.set(clusterName, brokerNames);
    }
    brokerNames.add(brokerName);

    let registerFirst = false;
    let broker = this.brokerAddrTable.get(brokerName);
    if (!broker) {
      registerFirst = true;
      broker = { cluster: clusterName, brokerName, brokerAddrs: new Map() };
      this.brokerAddrTable.set(brokerName, broker);
    }
    // One address, one record: a slave promoted to master re-registers under id 0 and its
    // old id must go first.
    for (const [id, addr] of broker.brokerAddrs) {
      if (addr === brokerAddr && id !== brokerId) broker.brokerAddrs.delete(id);
    }
    const oldAddr = broker.brokerAddrs.get(brokerId);
    broker.brokerAddrs.set(brokerId, brokerAddr);
    registerFirst ||= oldAddr === undefined;

    // Only the master's topic configs count, and only when they changed: brokers re-register
    // every 30 s with the same data version.
    if (wrapper && brokerId === MASTER_ID) {
      if (registerFirst || this.isBrokerTopicConfigChanged(brokerAddr, dataVersion)) {
        for (const tc of topicConfigs) this.createAndUpdateQueueData(brokerName, tc);
      }
    }

    this.brokerLiveTable.set(brokerAddr, {
      lastUpdateTimestamp: now,
      heartbeatTimeoutMillis: positiveOr(args.heartbeatTimeoutMillis, this.brokerExpiredMs),
      dataVersion,
      haServerAddr: args.haServerAddr,
      channelId: args.channelId,
    });

    const filterServers = args.filterServerList ?? [];
    if (filterServers.length === 0) this.filterServerTable.delete(brokerAddr);
    else this.filterServerTable.set(brokerAddr, [...filterServers]);

    const result: RegisterBrokerResult = {};
    if (brokerId !== MASTER_ID) {
      const masterAddr = broker.brokerAddrs.get(MASTER_ID);
      const masterLive = masterAddr === undefined ? undefined : this.brokerLiveTable.get(masterAddr);
      if (masterAddr !== undefined && masterLive) {
        result.haServerAddr = masterLive.haServerAddr;
        result.masterAddr = masterAddr;
      }
    }
    return result;
  }

  private checkLimits(brokerAddr: string, brokerId: number, topicConfigs: TopicConfig[]): void {
    if (!this.brokerLiveTable.has(brokerAddr) && this.brokerLiveTable.size >= this.maxBrokerAddrs) {
      throw new TideMQError(
        ResponseCode.SYSTEM_ERROR,
        `too many brokers registered (${this.maxBrokerAddrs})`,
      );
    }
    if (brokerId !== MASTER_ID) return;
    let fresh = 0;
    for (const tc of topicConfigs) if (!this.topicQueueTable.has(tc.topicName)) fresh++;
    if (this.topicQueueTable.size + fresh > this.maxTopics) {
      throw new TideMQError(ResponseCode.SYSTEM_ERROR, `too many topics (${this.maxTopics})`);
    }
  }

  private createAndUpdateQueueData(brokerName: string, tc: TopicConfig): void {
    let byBroker = this.topicQueueTable.get(tc.topicName);
    if (!byBroker) {
      byBroker = new Map();
      this.topicQueueTable.set(tc.topicName, byBroker);
    }
    byBroker.set(brokerName, {
      brokerName,
      readQueueNums: tc.readQueueNums,
      writeQueueNums: tc.writeQueueNums,
      perm: tc.perm,
      topicSysFlag: tc.topicSysFlag,
    });
  }

  /** True when no data version is stored for this address or the given one differs. */
  isBrokerTopicConfigChanged(brokerAddr: string, dataVersion: DataVersion): boolean {
    const live = this.brokerLiveTable.get(brokerAddr);
    return !live || !dataVersionEquals(live.dataVersion, dataVersion);
  }

  /**
   * QUERY_DATA_VERSION: tells a broker whether its topic configs differ from what we hold;
   * an unchanged broker counts as alive (RocketMQ refreshes the timestamp only then).
   */
  queryDataVersion(
    brokerAddr: string,
    dataVersion: DataVersion,
    now: number,
  ): { changed: boolean; stored: DataVersion | undefined } {
    const normalized = normalizeDataVersion(dataVersion);
    const changed = this.isBrokerTopicConfigChanged(brokerAddr, normalized);
    const live = this.brokerLiveTable.get(brokerAddr);
    if (!changed && live) live.lastUpdateTimestamp = now;
    return { changed, stored: live ? { ...live.dataVersion } : undefined };
  }

  /**
   * UNREGISTER_BROKER: removes the broker at `brokerAddr` from its broker name, whatever id it is
   * listed under (the request's brokerId is not needed to find it).
   */
  unregisterBroker(clusterName: string, brokerAddr: string, brokerName: string, _brokerId?: number): void {
    this.brokerLiveTable.delete(brokerAddr);
    this.filterServerTable.delete(brokerAddr);
    const broker = this.brokerAddrTable.get(brokerName);
    if (!broker) return;
    // By address, not by id (as RocketMQ 5 does): a DLedger replica's brokerId follows its role and
    // the group's membership, so the id it unregisters with may not be the one it last registered.
    for (const [id, addr] of broker.brokerAddrs) if (addr === brokerAddr) broker.brokerAddrs.delete(id);
    if (broker.brokerAddrs.size > 0) return;
    this.brokerAddrTable.delete(brokerName);
    const names = this.clusterAddrTable.get(clusterName);
    if (names) {
      names.delete(brokerName);
      if (names.size === 0) this.clusterAddrTable.delete(clusterName);
    }
    this.removeTopicsOfBrokerNames(new Set([brokerName]));
  }

  // ---- liveness ----

  getBrokerLiveInfo(brokerAddr: string): Readonly<BrokerLiveInfo> | undefined {
    return this.brokerLiveTable.get(brokerAddr);
  }

  /** Drops every broker silent for longer than its timeout; returns what was dropped. */
  scanNotActiveBroker(now: number): Array<{ brokerAddr: string; channelId?: number }> {
    const expired: Array<{ brokerAddr: string; channelId?: number }> = [];
    for (const [brokerAddr, live] of this.brokerLiveTable) {
      if (live.lastUpdateTimestamp + live.heartbeatTimeoutMillis < now) {
        expired.push({ brokerAddr, channelId: live.channelId });
      }
    }
    for (const e of expired) this.onChannelClosed(e.brokerAddr);
    return expired;
  }

  /** The broker at this address is gone (its connection closed or it expired): forget it at once. */
  onChannelClosed(brokerAddr: string): void {
    this.brokerLiveTable.delete(brokerAddr);
    this.filterServerTable.delete(brokerAddr);
    const goneNames = new Set<string>();
    for (const [name, broker] of this.brokerAddrTable) {
      for (const [id, addr] of broker.brokerAddrs) {
        if (addr === brokerAddr) broker.brokerAddrs.delete(id);
      }
      if (broker.brokerAddrs.size === 0) {
        this.brokerAddrTable.delete(name);
        goneNames.add(name);
      }
    }
    if (goneNames.size === 0) return;
    for (const [cluster, names] of this.clusterAddrTable) {
      for (const name of goneNames) names.delete(name);
      if (names.size === 0) this.clusterAddrTable.delete(cluster);
    }
    this.removeTopicsOfBrokerNames(goneNames);
  }

  /**
   * A connection closed: drops the brokers whose latest registration came on it. A broker
   * that already re-registered over a new connection stays.
   */
  onConnectionClosed(channelId: number): string[] {
    const addrs: string[] = [];
    for (const [addr, live] of this.brokerLiveTable) if (live.channelId === channelId) addrs.push(addr);
    for (const addr of addrs) this.onChannelClosed(addr);
    return addrs;
  }

  private removeTopicsOfBrokerNames(names: Set<string>): void {
    for (const [topic, byBroker] of this.topicQueueTable) {
      for (const name of names) byBroker.delete(name);
      if (byBroker.size === 0) this.topicQueueTable.delete(topic);
    }
  }

  // ---- queries ----

  /** The route of a topic, or undefined when no live broker has a queue for it (→ TOPIC_NOT_EXIST). */
  pickupTopicRouteData(topic: string): TopicRouteData | undefined {
    const byBroker = this.topicQueueTable.get(topic);
    if (!byBroker || byBroker.size === 0) return undefined;
    const queueDatas: QueueData[] = [];
    const brokerDatas: BrokerData[] = [];
    const filterServerTable: Record<string, string[]> = {};
    for (const qd of byBroker.values()) {
      queueDatas.push(queueDataJson(qd));
      const broker = this.brokerAddrTable.get(qd.brokerName);
      if (!broker) continue;
      brokerDatas.push(brokerDataJson(broker));
      for (const addr of broker.brokerAddrs.values()) {
        const servers = this.filterServerTable.get(addr);
        if (servers) filterServerTable[addr] = [...servers];
      }
    }
    if (brokerDatas.length === 0) return undefined;
    // Keys in fastjson's (alphabetical) order, so the JSON reads like a Java NameServer's.
    const conf = this.orderMessageEnable ? this.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, topic) : undefined;
    if (conf !== undefined) return { brokerDatas, filterServerTable, orderTopicConf: conf, queueDatas };
    return { brokerDatas, filterServerTable, queueDatas };
  }

  getClusterInfo(): ClusterInfo {
    const brokerAddrTable: Record<string, BrokerData> = {};
    for (const [name, broker] of this.brokerAddrTable) brokerAddrTable[name] = brokerDataJson(broker);
    const clusterAddrTable: Record<string, string[]> = {};
    for (const [cluster, names] of this.clusterAddrTable) clusterAddrTable[cluster] = [...names];
    return { brokerAddrTable, clusterAddrTable };
  }

  getAllTopicList(): TopicList {
    return { topicList: [...this.topicQueueTable.keys()] };
  }

  /** Topics that have a queue on some broker of this cluster. */
  getTopicsByCluster(cluster: string): TopicList {
    const names = this.clusterAddrTable.get(cluster);
    const topicList: string[] = [];
    if (names) {
      for (const [topic, byBroker] of this.topicQueueTable) {
        for (const name of byBroker.keys()) {
          if (names.has(name)) {
            topicList.push(topic);
            break;
          }
        }
      }
    }
    return { topicList };
  }

  /** Cluster names and broker names (the topics every broker creates for itself), plus one broker address. */
  getSystemTopicList(): TopicList {
    const topics = new Set<string>();
    for (const [cluster, names] of this.clusterAddrTable) {
      topics.add(cluster);
      for (const name of names) topics.add(name);
    }
    const list: TopicList = { topicList: [...topics] };
    for (const broker of this.brokerAddrTable.values()) {
      const first = broker.brokerAddrs.get(MASTER_ID) ?? broker.brokerAddrs.values().next().value;
      if (first !== undefined) {
        list.brokerAddr = first;
        break;
      }
    }
    return list;
  }

  /** DELETE_TOPIC_IN_NAMESRV; with a cluster name only that cluster's queues go. */
  deleteTopic(topic: string, clusterName?: string): void {
    if (clusterName === undefined || clusterName === "") {
      this.topicQueueTable.delete(topic);
      return;
    }
    const byBroker = this.topicQueueTable.get(topic);
    const names = this.clusterAddrTable.get(clusterName);
    if (!byBroker || !names) return;
    for (const name of names) byBroker.delete(name);
    if (byBroker.size === 0) this.topicQueueTable.delete(topic);
  }

  /** Clears the write bit of every queue of this broker; returns how many topics changed. */
  wipeWritePermOfBroker(brokerName: string): number {
    return this.operateWritePerm(brokerName, (perm) => perm & ~Perm.WRITE);
  }

  /** Sets the write bit again (after a wipe); returns how many topics changed. */
  addWritePermOfBroker(brokerName: string): number {
    return this.operateWritePerm(brokerName, (perm) => perm | Perm.WRITE);
  }

  private operateWritePerm(brokerName: string, change: (perm: number) => number): number {
    let count = 0;
    for (const byBroker of this.topicQueueTable.values()) {
      const qd = byBroker.get(brokerName);
      if (!qd) continue;
      qd.perm = change(qd.perm);
      count++;
    }
    return count;
  }

  // ---- KV config ----

  putKVConfig(namespace: string, key: string, value: string): void {
    this.kv.put(namespace, key, value);
  }

  getKVConfig(namespace: string, key: string): string | undefined {
    return this.kv.get(namespace, key);
  }

  deleteKVConfig(namespace: string, key: string): void {
    this.kv.delete(namespace, key);
  }

  getKVListByNamespace(namespace: string): Record<string, string> | undefined {
    return this.kv.list(namespace);
  }
}

function queueDataJson(qd: QueueData): QueueData {
  return {
    brokerName: qd.brokerName,
    perm: qd.perm,
    readQueueNums: qd.readQueueNums,
    topicSysFlag: qd.topicSysFlag,
    writeQueueNums: qd.writeQueueNums,
  };
}

function brokerDataJson(broker: BrokerEntry): BrokerData {
  const brokerAddrs: Record<string, string> = {};
  for (const id of [...broker.brokerAddrs.keys()].sort((a, b) => a - b)) {
    brokerAddrs[String(id)] = broker.brokerAddrs.get(id)!;
  }
  return { brokerAddrs, brokerName: broker.brokerName, cluster: broker.cluster };
}

function positiveOr(v: number | undefined, fallback: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
}

function num(v: unknown, fallback: number): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? Math.trunc(n) : fallback;
}

/** A DataVersion from a body we do not control: missing or malformed fields read as 0. */
export function normalizeDataVersion(v: unknown): DataVersion {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const out: DataVersion & { stateVersion?: number } = {
    timestamp: num(o.timestamp, 0),
    counter: num(o.counter, 0),
  };
  if (o.stateVersion !== undefined) out.stateVersion = num(o.stateVersion, 0);
  return out;
}

export function dataVersionEquals(a: DataVersion, b: DataVersion): boolean {
  const sa = (a as { stateVersion?: number }).stateVersion ?? 0;
  const sb = (b as { stateVersion?: number }).stateVersion ?? 0;
  return a.timestamp === b.timestamp && a.counter === b.counter && sa === sb;
}

/** The usable topic configs of a registration; entries without a topic name are skipped. */
function validTopicConfigs(table: unknown): TopicConfig[] {
  if (typeof table !== "object" || table === null) return [];
  const out: TopicConfig[] = [];
  for (const [key, raw] of Object.entries(table as Record<string, unknown>)) {
    if (typeof raw !== "object" || raw === null) continue;
    const t = raw as Record<string, unknown>;
    const topicName = typeof t.topicName === "string" && t.topicName !== "" ? t.topicName : key;
    if (topicName === "") continue;
    out.push({
      topicName,
      readQueueNums: num(t.readQueueNums, 0),
      writeQueueNums: num(t.writeQueueNums, 0),
      perm: num(t.perm, Perm.READ | Perm.WRITE),
      topicFilterType: t.topicFilterType === "MULTI_TAG" ? "MULTI_TAG" : "SINGLE_TAG",
      topicSysFlag: num(t.topicSysFlag, 0),
      order: t.order === true,
    });
  }
  return out;
}
