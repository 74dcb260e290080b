import { join } from "node:path";
import { createRequest, createResponse, decodeJson, RequestCode, ResponseCode } from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import type { BrokerContext } from "../context.js";
import { floorToPublish, REPLICATED_FLOOR_GUARD, RETENTION_FLOOR_MS } from "../dledger/RetentionFloor.js";
import { HaClient } from "./HaClient.js";
import { HaService } from "./HaService.js";
import { SlaveRetentionFloor } from "./SlaveRetentionFloor.js";
import { SlaveSynchronize } from "./SlaveSynchronize.js";

/** How often a slave copies the master's metadata (RocketMQ: 10 s). */
export const SLAVE_SYNC_INTERVAL_MS = 3000;

/** Replication state for /metrics (MasterSlaveReplication.replicationStatus). */
export type ReplicationStatus =
  | { kind: "master"; confirmedOffset: number; slaves: Array<{ addr: string; ackOffset: number }> }
  | {
      kind: "slave";
      confirmedOffset: number;
      connected: boolean;
      masterAddr?: string;
      masterMaxOffset?: number;
    };

/** What a SYNC_MASTER send waits for; what the send processor asks after each put. */
export interface ReplicaAck {
  /**
   * Response code for a put whose records end at or below `end`: SUCCESS once a slave has
   * them, FLUSH_SLAVE_TIMEOUT after syncFlushTimeout, SLAVE_NOT_AVAILABLE with no slave.
   */
  awaitSlave(end: number): Promise<number>;
}

/**
 * Classic master/slave replication (brokerRole): a master (ASYNC_MASTER / SYNC_MASTER)
 * serves slaves on haListenPort; a SLAVE copies the master's commit log and metadata, and
 * its store takes no local appends. No automatic failover: roles are what the config says.
 */
export class MasterSlaveReplication implements ReplicaAck {
  readonly service: HaService | undefined;
  readonly client: HaClient | undefined;
  readonly sync: SlaveSynchronize | undefined;
  private lookupTimer: NodeJS.Timeout | undefined;
  /** A slave: the master's retention floor it keeps to. */
  readonly slaveFloor: SlaveRetentionFloor | undefined;
  /** A master: the floor its slaves learn (undefined until its services' guards exist). */
  private publishedFloor: number | undefined;
  private floorTimer: NodeJS.Timeout | undefined;
  /** Registers with the NameServers now (their answer names the master). */
  registerNow: () => void = () => {};

  constructor(
    private readonly ctx: BrokerContext,
    private readonly remoting: RemotingClient,
  ) {
    const { config, store, logger } = ctx;
    const heartbeatMs = config.haSendHeartbeatInterval;
    const housekeepingMs = config.haHousekeepingInterval;
    if (config.brokerRole === "SLAVE") {
      store.refuseLocalAppends(
        `broker ${config.brokerName} (brokerId ${config.brokerId}) is a slave: it stores only what it copies from its master; send to the master`,
      );
      this.client = new HaClient({ store, logger, heartbeatMs, housekeepingMs, reconnectMs: 1000 });
      this.slaveFloor = new SlaveRetentionFloor(store, logger, join(config.storePathRootDir, "config"));
      this.sync = new SlaveSynchronize({
        client: remoting,
        logger,
        topics: ctx.topics,
        groups: ctx.subscriptionGroups,
        offsets: ctx.offsets,
        intervalMs: SLAVE_SYNC_INTERVAL_MS,
        selfAddr: ctx.brokerAddr,
        retentionFloor: this.slaveFloor,
      });
    } else {
      // listenPort 0 (ephemeral) → an ephemeral HA port too; else haListenPort, default listenPort + 1.
      const port =
        config.haListenPort > 0 ? config.haListenPort : config.listenPort === 0 ? 0 : ctx.server.port + 1;
      this.service = new HaService({
        store,
        logger,
        port,
        batchBytes: config.haTransferBatchSize,
        heartbeatMs,
        housekeepingMs,
      });
    }
  }

  async start(): Promise<void> {
    const { config, server, offsets } = this.ctx;
    if (this.service) {
      await this.service.start();
      // What slaves copy besides the log (topics and groups have their handlers already).
      server.registerHandler(RequestCode.GET_ALL_CONSUMER_OFFSET, (request) =>
        createResponse(
          request,
          ResponseCode.SUCCESS,
          undefined,
          undefined,
          Buffer.from(offsets.encode(), "utf8"),
        ),
      );
      this.ctx.logger.info(`HA: ${config.brokerRole} serving slaves on port ${this.service.port}`);
    }
    if (this.client) {
      await this.slaveFloor!.load();
      if (config.haMasterAddress) this.client.setMasterAddress(config.haMasterAddress);
      this.client.start();
      this.sync!.start();
      // A slave started before its master would otherwise wait a registration period (30 s).
      this.lookupTimer = setInterval(() => {
        if (!this.client!.masterAddress) this.registerNow();
      }, SLAVE_SYNC_INTERVAL_MS);
      this.lookupTimer.unref();
    }
  }

  /** "ip:port" of the HA listener, registered with the NameServers (masters only). */
  haServerAddr(brokerIP: string): string {
    return this.service ? `${brokerIP}:${this.service.port}` : `${brokerIP}:0`;
  }

  /** A NameServer answered a slave's registration with the live master's addresses (spec §1.3). */
  onMasterInfo(masterAddr: string | undefined, haServerAddr: string | undefined): void {
    if (!this.client) return;
    if (haServerAddr && !this.ctx.config.haMasterAddress) this.client.setMasterAddress(haServerAddr);
    this.sync!.setMasterAddr(masterAddr);
  }

  /**
   * Replication state for GET_BROKER_RUNTIME_INFO: on a master the slaves and how far the
   * fastest is behind (bytes), on a slave its master and whether it is connected.
   */
  runtimeInfo(): Record<string, string> {
    const { config, store } = this.ctx;
    const info: Record<string, string> = { brokerRole: config.brokerRole, brokerId: String(config.brokerId) };
    if (this.service) {
      const slaves = this.service.slaves();
      info.haSlaveCount = String(slaves.length);
      info.haSlaves = slaves.map((x) => `${x.addr}@${x.ackOffset}`).join(",");
      info.haSlaveAckOffset = String(this.service.slaveAckOffset);
      info.haReplicationLagBytes = String(
        slaves.length === 0
          ? -1
          : Math.max(0, store.confirmedPhysicalOffset - Math.max(...slaves.map((x) => x.ackOffset))),
      );
    }
    if (this.client) {
      info.haMasterAddress = this.client.masterAddress ?? "";
      info.haMasterConnected = String(this.client.connected);
      info.haSlaveSyncRounds = String(this.sync!.rounds);
    }
    const floor = this.service ? this.publishedFloor : this.slaveFloor?.value;
    if (floor !== undefined) info.retentionFloor = String(floor);
    // The last retention pass kept a segment it would have deleted: which guard, from where.
    const held = store.retentionHeldBy;
    info.retentionHeldBy = held ? `${held.offset} ${held.guard}` : "";
    return info;
  }

  /**
   * For /metrics. A master: its confirmed commit-log end and each slave's acknowledged
   * offset. A slave: its confirmed end, whether the HA stream is connected, and the master's
   * commit-log end asked from the master (GET_BROKER_RUNTIME_INFO, `timeoutMs`; undefined
   * when the master is unknown or does not answer).
   */
  async replicationStatus(timeoutMs = 1000): Promise<ReplicationStatus> {
    const { store } = this.ctx;
    const confirmedOffset = store.confirmedPhysicalOffset;
    if (this.service) return { kind: "master", confirmedOffset, slaves: this.service.slaves() };
    let masterMaxOffset: number | undefined;
    const master = this.sync?.master;
    if (master) {
      try {
        const res = await this.remoting.invoke(
          master,
          createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}),
          timeoutMs,
        );
        const table =
          res.code === ResponseCode.SUCCESS
            ? decodeJson<{ table?: Record<string, string> }>(res.body, "runtime info").table
            : undefined;
        const v = Number(table?.commitLogMaxOffset);
        if (Number.isFinite(v)) masterMaxOffset = v;
      } catch {
        // the master does not answer: the lag is unknown, not 0
      }
    }
    return {
      kind: "slave",
      confirmedOffset,
      connected: this.client?.connected ?? false,
      ...(master ? { masterAddr: master } : {}),
      ...(masterMaxOffset !== undefined ? { masterMaxOffset } : {}),
    };
  }

  awaitSlave(end: number): Promise<number> {
    const service = this.service;
    if (!service || this.ctx.config.brokerRole !== "SYNC_MASTER")
      return Promise.resolve(ResponseCode.SUCCESS);
    if (service.slaveAckOffset >= end) return Promise.resolve(ResponseCode.SUCCESS);
    if (service.slaveCount === 0) return Promise.resolve(ResponseCode.SLAVE_NOT_AVAILABLE);
    return service
      .waitForSlave(end, this.ctx.config.syncFlushTimeout)
      .then((ok) => (ok ? ResponseCode.SUCCESS : ResponseCode.FLUSH_SLAVE_TIMEOUT));
  }

  /**
   * A master, once its delay-level, timer and transaction services have registered their
   * retention guards: from now on their floor is offered to slaves (runtime info
   * `retentionFloor`, refreshed every RETENTION_FLOOR_MS). Asked earlier it would be too high.
   */
  publishRetentionFloor(): void {
    if (!this.service || this.floorTimer) return;
    const { store, logger } = this.ctx;
    let asking = false;
    const ask = async () => {
      // Nobody to tell: skip the guards' work (an older floor is lower, never unsafe).
      if (asking || this.service!.slaves().length === 0) return;
      asking = true;
      try {
        const f = await store.parkedRecordsFloor(REPLICATED_FLOOR_GUARD);
        this.publishedFloor = floorToPublish(f.seenUpTo, f.offset, store.segmentSize);
      } catch (err) {
        logger.warn(`retention floor for slaves not computed: ${(err as Error).message}`);
      } finally {
        asking = false;
      }
    };
    void ask();
    this.floorTimer = setInterval(() => void ask(), RETENTION_FLOOR_MS);
    this.floorTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.floorTimer) clearInterval(this.floorTimer);
    if (this.lookupTimer) clearInterval(this.lookupTimer);
    await this.sync?.stop();
    await this.client?.stop();
    await this.service?.stop();
  }
}
