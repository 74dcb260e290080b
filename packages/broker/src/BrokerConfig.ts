/**
 * Broker settings, named exactly as RocketMQ's broker.conf properties so an existing
 * configuration file reads unchanged (DESIGN.md, command-line contract).
 * Parsing, validation and unknown-key reporting live in loadBrokerConfig.ts.
 */
export interface BrokerConfig {
  brokerClusterName: string;
  brokerName: string;
  /** 0 = master. */
  brokerId: number;
  /** IP clients use to reach this broker (stamped into message ids); default: first non-internal IPv4, else 127.0.0.1. */
  brokerIP1: string;
  listenPort: number;
  /** "host:port;host:port" */
  namesrvAddr: string;
  storePathRootDir: string;
  storePathCommitLog: string;
  mappedFileSizeCommitLog: number;
  /** Bytes per consume-queue file (20 bytes per entry). */
  mappedFileSizeConsumeQueue: number;
  flushDiskType: "ASYNC_FLUSH" | "SYNC_FLUSH";
  flushIntervalCommitLog: number;
  syncFlushTimeout: number;
  brokerRole: "ASYNC_MASTER" | "SYNC_MASTER" | "SLAVE";
  brokerPermission: number;
  autoCreateTopicEnable: boolean;
  autoCreateSubscriptionGroup: boolean;
  defaultTopicQueueNums: number;
  fileReservedTime: number;
  deleteWhen: string;
  diskMaxUsedSpaceRatio: number;
  /** How often (ms) a retention pass may run (it deletes only at deleteWhen or under disk pressure). */
  cleanResourceInterval: number;
  maxMessageSize: number;
  messageDelayLevel: string;
  /** Longest timer (TIMER_DELIVER_MS, __STARTDELIVERTIME, …) accepted, in seconds; further is MESSAGE_ILLEGAL. */
  timerMaxDelaySec: number;
  /** ms; re-register with every NameServer this often. */
  registerNameServerPeriod: number;
  /** ms a send may wait in the queue before SYSTEM_BUSY. */
  waitTimeMillsInSendQueue: number;
  sendThreadPoolQueueCapacity: number;
  /**
   * Groups of sends in flight to the store at once (RocketMQ: send threads). A free slot runs a
   * send at once; sends that queued while every slot was busy start together as one group in
   * one slot, so a SYNC_FLUSH fsync acknowledges a whole group.
   */
  sendMessageThreadPoolNums: number;
  pullThreadPoolQueueCapacity: number;
  /**
   * Most messages one pull returns, whatever it asks for (RocketMQ's default is 32; ours is
   * higher because a backlogged TideMQ consumer asks for more than pullBatchSize and a pull
   * is served with one consume-queue read and one log read).
   */
  maxTransferCountOnMessageInMemory: number;
  longPollingEnable: boolean;
  shortPollingTimeMills: number;
  notifyConsumerIdsChangedEnable: boolean;
  /** ms without heartbeat before a client channel is dropped. */
  channelExpiredTimeout: number;
  /**
   * ms an orderly consumer's queue lock lives without renewal (RocketMQ's system property
   * rocketmq.broker.rebalance.lockMaxLiveTime); then another client of the group may take it.
   */
  rebalanceLockMaxLiveTime: number;
  /** ms between consumer offset persists. */
  flushConsumerOffsetInterval: number;
  enablePropertyFilter: boolean;
  maxMsgsNumBatch: number;
  defaultQueryMaxNum: number;
  regionId: string;
  traceOn: boolean;
  /**
   * Create the message-trace topic (msgTraceTopicName) at start, so clients with tracing on can
   * write to it even when topics are not auto-created. Default true (RocketMQ: false).
   */
  traceTopicEnable: boolean;
  /** Name of the trace topic created at start. Default RMQ_SYS_TRACE_TOPIC. */
  msgTraceTopicName: string;
  clusterTopicEnable: boolean;
  brokerTopicEnable: boolean;
  /** Port of the Prometheus `/metrics` HTTP endpoint; -1 (default) = off, 0 = any free port. */
  metricsPort: number;
  /** Address the metrics endpoint binds; default 127.0.0.1 (set 0.0.0.0 for a remote Prometheus). */
  metricsHost: string;
  /** ms a half message waits for END_TRANSACTION before its first check-back (RocketMQ's transactionTimeOut). */
  transactionTimeOut: number;
  /** ms between check-back rounds over pending half messages. */
  transactionCheckInterval: number;
  /** Check-backs a half gets before it is discarded to TRANS_CHECK_MAX_TIME_TOPIC. */
  transactionCheckMax: number;
  /** ms between writes of the transaction-state checkpoint (config/transactionState.json); 0 = never. */
  transactionCheckpointInterval: number;
  /** Master: port slaves replicate from; 0 = listenPort + 1 (ephemeral when listenPort is 0). */
  haListenPort: number;
  /** Slave: the master's "host:haPort"; empty = learn it from the NameServers. */
  haMasterAddress: string;
  /** ms between a slave's offset reports and the master's heartbeat frames when idle. */
  haSendHeartbeatInterval: number;
  /** ms of silence after which either end drops the replication connection. */
  haHousekeepingInterval: number;
  /** Bytes of records per replication frame. */
  haTransferBatchSize: number;
  /** Let the master send slow consumers to a slave (suggestWhichBrokerId). */
  slaveReadEnable: boolean;
  /** % of physical memory a consumer may lag behind before its pulls are suggested to a slave. */
  accessMessageInMemoryMaxRatio: number;
  /**
   * Producer de-duplication: a send whose (topic, UNIQ_KEY) was stored within
   * duplicateWindowSeconds is answered with the original result instead of stored again.
   */
  duplicateDetectionEnable: boolean;
  /** How long a stored send is remembered for de-duplication, s. */
  duplicateWindowSeconds: number;
  /** Most sends remembered (~32 bytes each, reserved at start, off the JS heap); the oldest are forgotten first. */
  duplicateWindowMaxEntries: number;
  /**
   * At start-up the window is rebuilt from at most this many bytes of the commit log's tail
   * (bounds start-up time; with more recent traffic the rebuilt window is shorter).
   */
  duplicateRebuildMaxBytes: number;
  /**
   * A master writes its de-duplication window to the store directory this often (and at a
   * clean stop), so a start loads it instead of reading the window's log back; after a
   * crash only the log past the last snapshot is read. 0: only at a clean stop.
   */
  duplicateSnapshotIntervalSeconds: number;
  /**
   * SQL92 match index: most (queue, SQL92 subscription) pairs evaluated as messages arrive
   * (least recently used dropped beyond); 0 = no index, every SQL92 pull evaluates as it reads.
   */
  sqlMatchIndexMaxPairs: number;
  /** SQL92 match index: newest messages remembered per pair, 1 bit each (memory ≤ pairs × this / 8 bytes). */
  sqlMatchIndexBitsPerPair: number;
  /** DLedger mode: the commit log is a Raft log replicated within dLegerPeers (brokerId is then derived). */
  enableDLegerCommitLog: boolean;
  /** Raft group name (RocketMQ recommends the brokerName). */
  dLegerGroup: string;
  /** "n0-host:port;n1-host:port;n2-host:port": the Raft port of every replica, identical on all. */
  dLegerPeers: string;
  /** This replica's id in dLegerPeers. */
  dLegerSelfId: string;
  /** The replica that takes leadership whenever it is caught up and reachable (empty: none). */
  preferredLeaderId: string;
  /** true (default): a replica acknowledges entries only once fsynced; false: once written (page cache). */
  dLegerSyncFlush: boolean;
  /** true: with dLegerSyncFlush, acknowledge an entry once its commit-log bytes are fsynced; the
   *  Raft index is fsynced off that path (a power cut may then leave a replica "amnesiac": it
   *  does not vote until caught up — see README, DLedger durability). false (default): both. */
  dLegerLazyIndexSync: boolean;
  /** ms per Raft tick; elections after 100-200 ticks of silence, heartbeats every 10. */
  dLegerTickMs: number;
}

export const DEFAULT_BROKER_CONFIG: BrokerConfig = {
  brokerClusterName: "DefaultCluster",
  brokerName: "broker-a",
  brokerId: 0,
  brokerIP1: "",
  listenPort: 10911,
  namesrvAddr: "",
  storePathRootDir: "",
  storePathCommitLog: "",
  mappedFileSizeCommitLog: 1024 * 1024 * 1024,
  mappedFileSizeConsumeQueue: 300000 * 20,
  flushDiskType: "ASYNC_FLUSH",
  flushIntervalCommitLog: 500,
  syncFlushTimeout: 5000,
  brokerRole: "ASYNC_MASTER",
  brokerPermission: 6,
  autoCreateTopicEnable: true,
  autoCreateSubscriptionGroup: true,
  defaultTopicQueueNums: 8,
  fileReservedTime: 72,
  deleteWhen: "04",
  diskMaxUsedSpaceRatio: 75,
  cleanResourceInterval: 10000,
  maxMessageSize: 4 * 1024 * 1024,
  messageDelayLevel: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
  timerMaxDelaySec: 31_536_000,
  registerNameServerPeriod: 30000,
  waitTimeMillsInSendQueue: 200,
  sendThreadPoolQueueCapacity: 10000,
  sendMessageThreadPoolNums: 16,
  pullThreadPoolQueueCapacity: 100000,
  maxTransferCountOnMessageInMemory: 1024,
  longPollingEnable: true,
  shortPollingTimeMills: 1000,
  notifyConsumerIdsChangedEnable: true,
  channelExpiredTimeout: 120000,
  rebalanceLockMaxLiveTime: 60000,
  flushConsumerOffsetInterval: 5000,
  enablePropertyFilter: true,
  maxMsgsNumBatch: 64,
  defaultQueryMaxNum: 32,
  regionId: "DefaultRegion",
  traceOn: true,
  traceTopicEnable: true,
  msgTraceTopicName: "RMQ_SYS_TRACE_TOPIC",
  clusterTopicEnable: true,
  brokerTopicEnable: true,
  metricsPort: -1,
  metricsHost: "127.0.0.1",
  transactionTimeOut: 6000,
  transactionCheckInterval: 60000,
  transactionCheckMax: 15,
  transactionCheckpointInterval: 5000,
  haListenPort: 0,
  haMasterAddress: "",
  haSendHeartbeatInterval: 5000,
  haHousekeepingInterval: 20000,
  haTransferBatchSize: 256 * 1024,
  slaveReadEnable: false,
  accessMessageInMemoryMaxRatio: 40,
  // Off by default: measured at ~25 % of plain-send throughput on the hot path (see README).
  duplicateDetectionEnable: false,
  duplicateWindowSeconds: 600,
  duplicateWindowMaxEntries: 1_000_000,
  duplicateRebuildMaxBytes: 256 * 1024 * 1024,
  duplicateSnapshotIntervalSeconds: 30,
  sqlMatchIndexMaxPairs: 256,
  sqlMatchIndexBitsPerPair: 1 << 21,
  enableDLegerCommitLog: false,
  dLegerGroup: "",
  dLegerPeers: "",
  dLegerSelfId: "",
  preferredLeaderId: "",
  dLegerSyncFlush: true,
  dLegerLazyIndexSync: false,
  dLegerTickMs: 10,
};
