import { createRequest, RequestCode } from "@tidemq/protocol";
import type { Connection, Logger } from "@tidemq/remoting";
import type { BrokerConfig } from "./BrokerConfig.js";
import { ConsumerManager } from "./ConsumerManager.js";
import { ConsumerOffsetManager } from "./ConsumerOffsetManager.js";
import type {
  BrokerContext,
  ConsumerManagerApi,
  ConsumerOffsetManagerApi,
  SubscriptionGroupManagerApi,
} from "./context.js";
import { followSqlSubscriptions } from "./filter/followSqlSubscriptions.js";
import { ProducerManager } from "./ProducerManager.js";
import { type ClientProcessorDeps, registerClientProcessors } from "./processors/client/index.js";
import { RebalanceLockManager } from "./RebalanceLockManager.js";
import { SubscriptionGroupManager } from "./SubscriptionGroupManager.js";

/**
 * The broker's client side: who is connected (consumer and producer groups), where
 * each group stands (offsets), how groups are configured, and the request handlers for
 * heartbeats, offsets, queries, send-back and the consumer admin codes.
 */
export interface ClientServices {
  subscriptionGroups: SubscriptionGroupManagerApi;
  consumers: ConsumerManagerApi;
  offsets: ConsumerOffsetManagerApi;
  producers: ProducerManager;
  /** Registers the request handlers on ctx.server and starts the timers. */
  register(ctx: BrokerContext): void;
  /** Stops the timers, persists offsets and subscription groups. */
  stop(): Promise<void>;
}

/**
 * RocketMQ scans for silent client channels every 10 s (spec §4.4); a shorter
 * channelExpiredTimeout (tests, tuned setups) is scanned at a quarter of it.
 */
function expiryScanInterval(channelExpiredTimeout: number): number {
  return Math.min(10_000, Math.max(100, Math.floor(channelExpiredTimeout / 4)));
}

export async function createClientServices(opts: {
  configDir: string;
  config: BrokerConfig;
  logger: Logger;
}): Promise<ClientServices> {
  const groups = await SubscriptionGroupManager.load({
    configDir: opts.configDir,
    autoCreateSubscriptionGroup: opts.config.autoCreateSubscriptionGroup,
    logger: opts.logger,
  });
  const offsets = await ConsumerOffsetManager.load({ configDir: opts.configDir });
  return new ClientServicesImpl(opts.config, opts.logger, groups, offsets);
}

class ClientServicesImpl implements ClientServices {
  readonly consumers: ConsumerManager<Connection>;
  readonly producers: ProducerManager;
  readonly locks: RebalanceLockManager;
  private readonly watched = new WeakSet<Connection>();
  private readonly timers: NodeJS.Timeout[] = [];
  private ctx: BrokerContext | undefined;
  private stopped = false;

  constructor(
    private readonly config: BrokerConfig,
    private readonly logger: Logger,
    readonly subscriptionGroups: SubscriptionGroupManager,
    readonly offsets: ConsumerOffsetManager,
  ) {
    this.consumers = new ConsumerManager<Connection>({ channelExpiredTimeout: config.channelExpiredTimeout });
    this.producers = new ProducerManager({ channelExpiredTimeout: config.channelExpiredTimeout });
    this.locks = new RebalanceLockManager(config.rebalanceLockMaxLiveTime);
  }

  register(ctx: BrokerContext): void {
    if (this.ctx) throw new Error("client services are registered already");
    this.ctx = ctx;
    const deps: ClientProcessorDeps = {
      ctx,
      consumers: this.consumers,
      producers: this.producers,
      offsets: this.offsets,
      groups: this.subscriptionGroups,
      locks: this.locks,
      notifyConsumerIdsChanged: (group) => this.notifyConsumerIdsChanged(group),
      watchConnection: (conn) => this.watchConnection(conn),
    };
    registerClientProcessors(deps);
    followSqlSubscriptions(this.consumers, ctx);
    this.timers.push(
      setInterval(() => this.scanExpired(), expiryScanInterval(this.config.channelExpiredTimeout)),
    );
    this.timers.push(
      setInterval(
        () => {
          this.offsets
            .persist()
            .catch((err: Error) => this.logger.error(`persisting consumer offsets failed: ${err.message}`));
        },
        Math.max(100, this.config.flushConsumerOffsetInterval),
      ),
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    await this.offsets.persist();
    await this.subscriptionGroups.persist();
  }

  /**
   * NOTIFY_CONSUMER_IDS_CHANGED (40, oneway) to every channel of the group, unless the
   * broker's or the group's notifyConsumerIdsChangedEnable is off (spec §5.1). Java
   * consumers rebalance at once; ali-ons ignores it.
   */
  notifyConsumerIdsChanged(group: string): void {
    if (!this.config.notifyConsumerIdsChangedEnable) return;
    if (this.subscriptionGroups.get(group)?.notifyConsumerIdsChangedEnable === false) return;
    const request = createRequest(
      RequestCode.NOTIFY_CONSUMER_IDS_CHANGED,
      { consumerGroup: group },
      undefined,
      {
        oneway: true,
      },
    );
    for (const conn of this.consumers.channelsOf(group)) {
      if (conn.closed) continue;
      conn.invokeOneway(request).catch((err: Error) => {
        this.logger.debug(
          `NOTIFY_CONSUMER_IDS_CHANGED to ${conn.remoteAddress}:${conn.remotePort} failed: ${err.message}`,
        );
      });
    }
  }

  /** A closed connection leaves every group at once (not after the expiry timeout). */
  private watchConnection(conn: Connection): void {
    if (this.watched.has(conn)) return;
    this.watched.add(conn);
    conn.onClose(() => {
      const left = this.consumers.removeChannel(conn);
      this.producers.removeChannel(conn);
      for (const group of left) {
        this.logger.info(
          `consumer connection ${conn.remoteAddress}:${conn.remotePort} of group ${group} closed`,
        );
        this.notifyConsumerIdsChanged(group);
      }
    });
  }

  /** Drops channels silent for channelExpiredTimeout and closes connections left with no role. */
  private scanExpired(): void {
    const consumers = this.consumers.scanExpired();
    const producers = this.producers.scanExpired();
    const silent = new Set<Connection>();
    const groups = new Set<string>();
    const seconds = Math.round(this.config.channelExpiredTimeout / 1000);
    for (const r of consumers) {
      this.logger.warn(`consumer ${r.clientId} of group ${r.group} expired: no heartbeat for ${seconds} s`, {
        group: r.group,
      });
      silent.add(r.channel);
      groups.add(r.group);
    }
    for (const r of producers) {
      this.logger.warn(`producer ${r.clientId} of group ${r.group} expired: no heartbeat for ${seconds} s`);
      silent.add(r.channel);
    }
    for (const group of groups) this.notifyConsumerIdsChanged(group);
    for (const conn of silent) {
      if (this.consumers.groupsOf(conn).length === 0 && !this.producers.isRegistered(conn) && !conn.closed)
        conn.close();
    }
  }
}
