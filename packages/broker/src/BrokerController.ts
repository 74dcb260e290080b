import { join } from "node:path";
import { tagsHashCode } from "@tidemq/protocol";
import { createLogger, type Logger, RemotingClient, RemotingServer } from "@tidemq/remoting";
import type { MetricsEndpoint } from "@tidemq/remoting/metrics";
import { MessageStore } from "@tidemq/store";
import type { BrokerConfig } from "./BrokerConfig.js";
import { BrokerStatsImpl } from "./BrokerStats.js";
import { type ClientServices, createClientServices } from "./ClientServices.js";
import { ConsumerOffsetManager } from "./ConsumerOffsetManager.js";
import type { BrokerContext } from "./context.js";
import type { DuplicateDetector } from "./dedup/DuplicateDetector.js";
import { openDuplicateDetection } from "./dedup/openDuplicateDetection.js";
import { DLedgerNode } from "./dledger/DLedgerNode.js";
import { DLedgerReplication } from "./dledger/DLedgerReplication.js";
import { LeaderServices } from "./dledger/LeaderServices.js";
import { ReplicatedMetadata } from "./dledger/ReplicatedMetadata.js";
import { REPLICATED_FLOOR_GUARD, SERVICES_STARTING_GUARD } from "./dledger/RetentionFloor.js";
import { finishStoreReset } from "./dledger/StoreReset.js";
import { MasterSlaveReplication } from "./ha/MasterSlaveReplication.js";
import { checkBrokerRole } from "./loadBrokerConfig.js";
import { installAdminAudit } from "./metrics/AdminAudit.js";
import { startBrokerMetrics } from "./metrics/BrokerMetrics.js";
import { TrafficCounters } from "./metrics/TrafficCounters.js";
import { NamesrvRegistration } from "./NamesrvRegistration.js";
import { PullRequestHoldService } from "./PullRequestHoldService.js";
import { BrokerAdminProcessor } from "./processors/BrokerAdminProcessor.js";
import { PullMessageProcessor } from "./processors/PullMessageProcessor.js";
import { SendMessageProcessor } from "./processors/SendMessageProcessor.js";
import { TopicAdminProcessor } from "./processors/TopicAdminProcessor.js";
import { SubscriptionGroupManager } from "./SubscriptionGroupManager.js";
import { DelayLevelRouter, scheduleTagsCode } from "./schedule/DelayLevelRouter.js";
import { parseDelayLevels } from "./schedule/DelayLevelTable.js";
import { ScheduleMessageService } from "./schedule/ScheduleMessageService.js";
import { TopicConfigManager } from "./TopicConfigManager.js";
import { TimerService } from "./timer/TimerService.js";
import { HalfBatch } from "./transaction/HalfBatch.js";
import { TransactionService } from "./transaction/TransactionService.js";

export interface BrokerControllerOptions {
  logger?: Logger;
  /** Timer wheel positions (1 s each) for a new store; default two days (tests use a few). */
  timerWheelSlots?: number;
}

/**
 * One broker process: the store, the topic table, the client services, the request
 * processors on a RemotingServer (listenPort, plus the VIP port listenPort − 2 that Java
 * clients up to 4.4 use), and the NameServer registration.
 *
 * Start order matters: the server binds first (with listenPort 0 the real port is only
 * known then, and the store stamps it into every record as the store host); requests that
 * arrive before the processors are registered are answered "not supported", and no client
 * can know the broker before it registers with a NameServer, which is the last step.
 */
export class BrokerController {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  private server: RemotingServer | undefined;
  private store: MessageStore | undefined;
  private clients: ClientServices | undefined;
  private topics: TopicConfigManager | undefined;
  private registration: NamesrvRegistration | undefined;
  private holdService: PullRequestHoldService | undefined;
  private sendProcessor: SendMessageProcessor | undefined;
  private dedup: DuplicateDetector | undefined;
  private remotingClient: RemotingClient | undefined;
  private ctx: BrokerContext | undefined;
  private metrics: MetricsEndpoint | undefined;
  /** Send/pull counters behind /metrics (plain numbers bumped on the hot path). */
  readonly traffic = new TrafficCounters();
  private schedule: ScheduleMessageService | undefined;
  private timerService: TimerService | undefined;
  private transactions: TransactionService | undefined;
  private replication: MasterSlaveReplication | undefined;
  private dledger: DLedgerReplication | undefined;
  private metadata: ReplicatedMetadata | undefined;
  private leaderServices: LeaderServices | undefined;
  private state: "new" | "starting" | "running" | "stopping" | "stopped" = "new";

  private readonly timerWheelSlots: number | undefined;

  constructor(config: BrokerConfig, options: BrokerControllerOptions = {}) {
    this.config = config;
    this.timerWheelSlots = options.timerWheelSlots;
    this.logger =
      options.logger ??
      createLogger(`broker ${config.brokerName}`, undefined, {
        component: "broker",
        broker: config.brokerName,
      });
  }

  /** The bound main port (listenPort, or the ephemeral port when listenPort is 0). */
  get port(): number {
    if (!this.server) throw new Error("the broker is not started");
    return this.server.port;
  }

  /** "brokerIP1:port", the address registered with NameServers and stamped into messages. */
  get brokerAddr(): string {
    return `${this.config.brokerIP1}:${this.port}`;
  }

  /** The bound port of the /metrics endpoint, or undefined when metricsPort is -1 (off). */
  get metricsPort(): number | undefined {
    return this.metrics?.port;
  }

  get context(): BrokerContext {
    if (!this.ctx) throw new Error("the broker is not started");
    return this.ctx;
  }

  get namesrvRegistration(): NamesrvRegistration | undefined {
    return this.registration;
  }

  /** Timer messages (status for tests and admin). */
  get timers(): TimerService | undefined {
    return this.leaderServices?.timers ?? this.timerService;
  }

  /** Half messages and END_TRANSACTION (tests read its status). */
  get transactionService(): TransactionService | undefined {
    return this.leaderServices?.transactions ?? this.transactions;
  }

  /** DLedger mode: metadata replicated through the log. */
  get replicatedMetadata(): ReplicatedMetadata | undefined {
    return this.metadata;
  }

  /** DLedger mode: the leader-only services (delay levels, timers, transaction checks). */
  get dledgerLeaderServices(): LeaderServices | undefined {
    return this.leaderServices;
  }

  /**
   * DLedger: topics, groups, offsets and delivery progress go through the log, and the
   * services that write on their own run on the leader only.
   */
  private async startReplicatedMetadata(replication: DLedgerReplication): Promise<void> {
    const ctx = this.context;
    const topics = this.topics!;
    const groups = this.clients!.subscriptionGroups;
    const offsets = this.clients!.offsets;
    if (!(groups instanceof SubscriptionGroupManager) || !(offsets instanceof ConsumerOffsetManager)) {
      throw new Error("DLedger metadata replication needs the broker's own group and offset managers");
    }
    const configDir = join(this.config.storePathRootDir, "config");
    this.metadata = new ReplicatedMetadata(
      ctx.store,
      this.logger,
      this.config.dLegerSelfId,
      configDir,
      topics,
      groups,
      offsets,
    );
    this.metadata.isWritable = () => replication.node.isWritable;
    replication.node.stateMachine = this.metadata;
    replication.node.beforeLocalProposal = () => this.metadata?.localAppend();
    await this.metadata.start();
    const services = new LeaderServices(
      ctx,
      this.metadata,
      this.schedule!,
      this.clients!.producers,
      () => replication.node.isWritable,
      this.timerWheelSlots,
    );
    this.leaderServices = services;
    replication.copyMetadataFromLeader = false;
    replication.beforeTransfer = () => services.handOver();
    replication.roleListeners.add((r) => services.onRole(r));
    // The new leader's de-dup window lacks what it received as a follower: caught up before its first send.
    replication.roleListeners.add((r) => {
      if (r.role === "leader" && this.store) void this.dedup?.catchUp(this.store);
    });
  }

  /** Master/slave replication (HA port, slave connection, metadata sync). */
  get haReplication(): MasterSlaveReplication | undefined {
    return this.replication;
  }

  /** DLedger mode: the Raft replica and its role mapping. */
  get dledgerReplication(): DLedgerReplication | undefined {
    return this.dledger;
  }

  /** Parked long-polling pulls (tests and runtime info look at its size). */
  get pullHoldService(): PullRequestHoldService | undefined {
    return this.holdService;
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`the broker cannot start: it is ${this.state}`);
    this.state = "starting";
    const { config, logger } = this;
    try {
      checkBrokerRole(config);
      const vip = config.listenPort >= 2 ? [config.listenPort - 2] : [];
      this.server = new RemotingServer({ port: config.listenPort, extraPorts: vip, logger });
      await this.server.start();
      const brokerAddr = `${config.brokerIP1}:${this.server.port}`;
      const delayLevels = parseDelayLevels(config.messageDelayLevel);
      // DLedger: the Raft index opens first, the store behind its commit gate.
      if (config.enableDLegerCommitLog) await finishStoreReset(config, logger); // a reset cut short (StoreReset.ts)
      const raft = config.enableDLegerCommitLog ? DLedgerNode.open(config, logger) : undefined;
      const dledgerFlush = config.dLegerSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH";

      this.store = await MessageStore.open({
        ...(raft ? { commitGate: raft.gate } : {}),
        storePathRootDir: config.storePathRootDir,
        storePathCommitLog: config.storePathCommitLog,
        mappedFileSizeCommitLog: config.mappedFileSizeCommitLog,
        consumeQueueEntriesPerFile: Math.max(16, Math.floor(config.mappedFileSizeConsumeQueue / 20)),
        flushDiskType: raft ? dledgerFlush : config.flushDiskType,
        flushIntervalCommitLog: config.flushIntervalCommitLog,
        syncFlushTimeout: config.syncFlushTimeout,
        fileReservedTime: config.fileReservedTime,
        deleteWhen: config.deleteWhen,
        diskMaxUsedSpaceRatio: config.diskMaxUsedSpaceRatio,
        cleanResourceInterval: config.cleanResourceInterval,
        maxMessageSize: config.maxMessageSize,
        storeHost: { host: config.brokerIP1, port: this.server.port },
        tagsCodeOf: (topic, prop) => scheduleTagsCode(topic, prop, (p) => tagsHashCode(p("TAGS"))),
        logger,
      });
      // DLedger / slave: keep everything until the replicated retention floor is loaded
      // (ReplicatedMetadata, SlaveRetentionFloor).
      if (raft || config.brokerRole === "SLAVE") {
        this.store.addRetentionGuard(REPLICATED_FLOOR_GUARD, () => 0);
      } else {
        // A classic master (or a promoted slave): keep everything until its delay-level, timer
        // and transaction services have registered their own guards (a pass may come first).
        this.store.addRetentionGuard(SERVICES_STARTING_GUARD, () => 0);
      }
      const configDir = join(config.storePathRootDir, "config");
      this.topics = await TopicConfigManager.load({ configDir, config, logger });
      this.clients = await createClientServices({ configDir, config, logger });
      const stats = new BrokerStatsImpl();
      this.schedule = new ScheduleMessageService(this.store, delayLevels, config.storePathRootDir, logger);
      this.ctx = {
        config,
        brokerAddr,
        server: this.server,
        store: this.store,
        logger,
        topics: this.topics,
        subscriptionGroups: this.clients.subscriptionGroups,
        consumers: this.clients.consumers,
        offsets: this.clients.offsets,
        stats,
        bootTimestamp: Date.now(),
        traffic: this.traffic,
        schedule: { router: new DelayLevelRouter(delayLevels), service: this.schedule },
      };
      this.holdService = new PullRequestHoldService({ maxHeld: config.pullThreadPoolQueueCapacity });
      const writesFromSends = config.brokerRole !== "SLAVE" && !raft;
      this.dedup = await openDuplicateDetection(config, this.store, logger, writesFromSends);
      this.sendProcessor = new SendMessageProcessor(this.ctx, this.topics, this.dedup);
      this.sendProcessor.register();
      new HalfBatch(this.sendProcessor).register(this.ctx.server);
      // Delivering delayed/timer messages and checking transactions write to the log: a
      // master's work. A slave's store refuses local appends; it gets the results by replication.
      // DLedger: only the leader runs them, started and stopped at role changes (LeaderServices).
      const writesLog = config.brokerRole !== "SLAVE" && !raft;
      if (writesLog) {
        this.timerService = await TimerService.start(this.ctx, { slots: this.timerWheelSlots });
        this.timerService.register();
      }
      new PullMessageProcessor(this.ctx, this.holdService).register();
      new TopicAdminProcessor(this.ctx, this.topics).register();
      this.remotingClient = new RemotingClient({ logger });
      const replication = raft
        ? new DLedgerReplication(this.ctx, this.remotingClient, raft)
        : new MasterSlaveReplication(this.ctx, this.remotingClient);
      if (replication instanceof DLedgerReplication) {
        this.dledger = replication;
        await this.startReplicatedMetadata(replication);
        await replication.start(this.store);
        const dledgerInfo = this.ctx.runtimeInfoExtras;
        const metadata = this.metadata!;
        this.ctx.runtimeInfoExtras = () => ({ ...dledgerInfo?.(), ...metadata.runtimeInfo() });
      } else {
        this.replication = replication;
        if (config.brokerRole === "SYNC_MASTER") this.ctx.replicaAck = replication;
        this.ctx.haRuntimeInfo = () => replication.runtimeInfo();
        await replication.start();
      }
      this.registration = new NamesrvRegistration({
        config,
        brokerAddr,
        topics: this.topics,
        client: this.remotingClient,
        logger,
        haServerAddr: () => replication.haServerAddr(config.brokerIP1),
        onMasterInfo: (master, ha) => replication.onMasterInfo(master, ha),
      });
      const registration = this.registration;
      replication.registerNow = () => {
        registration.registerAll().catch(() => undefined);
      };
      if (replication instanceof DLedgerReplication) replication.unregister = () => registration.stop(5);
      new BrokerAdminProcessor(this.ctx, stats, this.sendProcessor.queue, () => {
        registration.registerAll().catch(() => undefined);
      }).register();
      this.clients.register(this.ctx);
      installAdminAudit(this.server, logger);
      if (config.metricsPort >= 0) {
        const sendQueue = this.sendProcessor.queue;
        this.metrics = await startBrokerMetrics(
          {
            ctx: this.ctx,
            traffic: this.traffic,
            producers: this.clients.producers,
            sendQueueSize: () => sendQueue.size,
            timers: () => this.timers?.status(),
            replication: {
              ...(this.replication ? { masterSlave: this.replication } : {}),
              ...(this.dledger
                ? {
                    dledger: {
                      status: () => this.dledger!.node.status(),
                      group: config.dLegerGroup || config.brokerName,
                    },
                  }
                : {}),
            },
          },
          config.metricsPort,
          config.metricsHost,
        );
        logger.info(`metrics on http://${config.metricsHost}:${this.metrics.port}/metrics`);
      }
      if (writesLog) {
        await this.schedule.start();
        this.transactions = new TransactionService(this.ctx, this.clients.producers);
        await this.transactions.start();
        this.replication?.publishRetentionFloor();
        this.store.removeRetentionGuard(SERVICES_STARTING_GUARD);
      }
      await this.registration.start();
      this.state = "running";
      logger.info(
        `broker ${config.brokerName} (cluster ${config.brokerClusterName}) serving on ${brokerAddr}, store ${config.storePathRootDir}, ${config.enableDLegerCommitLog ? `DLedger replica ${config.dLegerSelfId} (${config.dLegerSyncFlush ? "fsync before ack" : "ack once written"})` : `${config.flushDiskType}, ${config.brokerRole} brokerId ${config.brokerId}`}`,
      );
    } catch (err) {
      this.state = "stopping";
      await this.release().catch(() => undefined);
      this.state = "stopped";
      throw err;
    }
  }

  /**
   * Clean stop: leave the NameServers first (clients stop routing here), stop taking
   * requests, let in-flight sends finish, persist offsets, then close the store (flush +
   * checkpoint), so nothing acknowledged is lost.
   */
  async shutdown(): Promise<void> {
    if (this.state === "stopped" || this.state === "stopping") return;
    this.state = "stopping";
    try {
      await this.release();
    } finally {
      this.state = "stopped";
    }
  }

  private async release(): Promise<void> {
    const errors: unknown[] = [];
    const step = async (what: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
        this.logger.error(`shutdown: ${what} failed: ${(err as Error).message}`);
      }
    };
    await step("unregister", () => this.registration?.stop());
    // DLedger leader: stop the delivery services, write the last metadata batch while leading.
    await step("dledger leader services", () => this.leaderServices?.stop());
    await step("replication", () => this.replication?.stop());
    await step("dledger", () => this.dledger?.stop());
    await step("dledger metadata", () => this.metadata?.stop());
    await step("remoting client", () => this.remotingClient?.close());
    await step("metrics endpoint", () => this.metrics?.stop());
    this.holdService?.shutdown();
    await step("server", () => this.server?.stop());
    await step("transactions", () => this.transactions?.stop());
    await step("in-flight sends", async () => {
      if (!this.sendProcessor) return;
      this.sendProcessor.queue.sweep();
      await this.sendProcessor.queue.idle();
      this.sendProcessor.queue.stop();
    });
    await step("schedule", () => this.schedule?.stop());
    await step("timers", () => this.timerService?.stop());
    await step("client services", () => this.clients?.stop());
    await step("topic config", () => this.topics?.persist());
    // After the last send was answered, before the store closes: the window's last snapshot.
    await step("duplicate window", () => this.dedup?.stop());
    await step("store", async () => {
      await this.store?.shutdown();
      // The store's shutdown flushed every delivered copy: record all delivery progress.
      await this.schedule?.persistAll();
    });
    if (errors.length > 0) throw errors[0];
  }
}
