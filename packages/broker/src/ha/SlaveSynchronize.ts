import {
  createRequest,
  decodeJson,
  RequestCode,
  ResponseCode,
  responseCodeName,
  type SubscriptionGroupConfig,
  type TopicConfig,
} from "@tidemq/protocol";
import type { Logger, RemotingClient } from "@tidemq/remoting";
import type {
  ConsumerOffsetManagerApi,
  SubscriptionGroupManagerApi,
  TopicConfigManagerApi,
} from "../context.js";
import type { SlaveRetentionFloor } from "./SlaveRetentionFloor.js";

const SYNC_TIMEOUT_MS = 3000;

/**
 * A slave's copy of the master's metadata (spec §1.7): topic configs, subscription groups
 * and consumer offsets, fetched from the master's main port with GET_ALL_TOPIC_CONFIG (21),
 * GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) and GET_ALL_CONSUMER_OFFSET (43) — and the master's
 * retention floor from GET_BROKER_RUNTIME_INFO (28; SlaveRetentionFloor) — every
 * `intervalMs` (RocketMQ: 10 s) and at once when the master address becomes known.
 * Topics missing on the master are deleted here too; subscription groups are added and
 * updated (groups auto-created here by pulls stay); offsets: the master's value wins, as in
 * RocketMQ (offsets committed to this slave while the master is away are overwritten when
 * it returns — consumers may re-consume, never skip).
 */
export class SlaveSynchronize {
  private masterAddr: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastError: string | undefined;
  /** Completed rounds (tests await progress). */
  rounds = 0;

  constructor(
    private readonly opts: {
      client: RemotingClient;
      logger: Logger;
      topics: TopicConfigManagerApi;
      groups: SubscriptionGroupManagerApi;
      offsets: ConsumerOffsetManagerApi;
      intervalMs: number;
      selfAddr: string;
      /** The master's retention floor, learned from its runtime info each round. */
      retentionFloor?: SlaveRetentionFloor;
    },
  ) {}

  setMasterAddr(addr: string | undefined): void {
    if (!addr || addr === this.masterAddr || addr === this.opts.selfAddr) return;
    this.masterAddr = addr;
    void this.syncAll();
  }

  start(): void {
    this.timer = setInterval(() => void this.syncAll(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.running?.catch(() => undefined) ?? Promise.resolve();
  }

  /** The master's broker address this slave copies from (undefined until known). */
  get master(): string | undefined {
    return this.masterAddr;
  }

  /** One round (concurrent calls share it). */
  syncAll(): Promise<void> {
    if (this.running) return this.running;
    const addr = this.masterAddr;
    if (!addr) return Promise.resolve();
    this.running = (async () => {
      try {
        await this.syncTopics(addr);
        await this.syncGroups(addr);
        await this.syncOffsets(addr);
        await this.syncRetentionFloor(addr);
        this.rounds++;
        if (this.lastError !== undefined) this.opts.logger.info(`slave sync from master ${addr} works again`);
        this.lastError = undefined;
      } catch (err) {
        // Once per distinct error: a dead master fails every round until the route drops it.
        const message = (err as Error).message;
        if (message !== this.lastError)
          this.opts.logger.warn(`slave sync from master ${addr} failed: ${message}`);
        this.lastError = message;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async fetch<T>(addr: string, code: number, what: string): Promise<T> {
    const res = await this.opts.client.invoke(addr, createRequest(code, {}), SYNC_TIMEOUT_MS);
    if (res.code !== ResponseCode.SUCCESS) {
      throw new Error(`${what}: ${responseCodeName(res.code)} ${res.remark ?? ""}`);
    }
    return decodeJson<T>(res.body, what);
  }

  private async syncTopics(addr: string): Promise<void> {
    const body = await this.fetch<{ topicConfigTable?: Record<string, TopicConfig> }>(
      addr,
      RequestCode.GET_ALL_TOPIC_CONFIG,
      "GET_ALL_TOPIC_CONFIG",
    );
    const table = body.topicConfigTable ?? {};
    const { topics } = this.opts;
    for (const [name, tc] of Object.entries(table)) {
      const mine = topics.get(name);
      if (!mine || JSON.stringify(mine) !== JSON.stringify({ ...mine, ...tc }))
        await topics.upsert({ ...tc, topicName: name });
    }
    for (const tc of topics.all()) {
      if (!Object.hasOwn(table, tc.topicName)) await topics.delete(tc.topicName);
    }
  }

  private async syncGroups(addr: string): Promise<void> {
    const body = await this.fetch<{ subscriptionGroupTable?: Record<string, SubscriptionGroupConfig> }>(
      addr,
      RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
      "GET_ALL_SUBSCRIPTIONGROUP_CONFIG",
    );
    const { groups } = this.opts;
    for (const [name, g] of Object.entries(body.subscriptionGroupTable ?? {})) {
      const mine = groups.get(name);
      if (!mine || JSON.stringify(mine) !== JSON.stringify({ ...mine, ...g }))
        await groups.upsert({ ...g, groupName: name });
    }
  }

  private async syncRetentionFloor(addr: string): Promise<void> {
    const floor = this.opts.retentionFloor;
    if (!floor) return;
    const body = await this.fetch<{ table?: Record<string, string> }>(
      addr,
      RequestCode.GET_BROKER_RUNTIME_INFO,
      "GET_BROKER_RUNTIME_INFO",
    );
    await floor.learn(body.table?.retentionFloor, addr);
  }

  private async syncOffsets(addr: string): Promise<void> {
    const body = await this.fetch<{ offsetTable?: Record<string, Record<string, number>> }>(
      addr,
      RequestCode.GET_ALL_CONSUMER_OFFSET,
      "GET_ALL_CONSUMER_OFFSET",
    );
    const { offsets } = this.opts;
    for (const [k, queues] of Object.entries(body.offsetTable ?? {})) {
      const at = k.indexOf("@");
      if (at <= 0) continue;
      const topic = k.slice(0, at);
      const group = k.slice(at + 1);
      for (const [q, o] of Object.entries(queues)) {
        const queueId = Number(q);
        if (!Number.isInteger(queueId) || !Number.isSafeInteger(o)) continue;
        if (offsets.query(group, topic, queueId) !== o) offsets.commit(group, topic, queueId, o);
      }
    }
    await offsets.persist();
  }
}
