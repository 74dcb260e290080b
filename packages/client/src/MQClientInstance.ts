import {
  type ConsumerData,
  createResponse,
  decodeMessage,
  type HeartbeatData,
  isOneway,
  type MessageQueue,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  type TopicRouteData,
  toStorableIPv4,
} from "@tidemq/protocol";
import { type Connection, type Logger, RemotingClient } from "@tidemq/remoting";
import { objectKeyMapField } from "./bodies.js";
import { buildClientId } from "./clientId.js";
import { answerConsumeMessageDirectly, type DirectConsumer } from "./directConsume.js";
import { NoRouteError, type RouteLookupOutcome } from "./errors.js";
import { MQClientAPI, type Transport } from "./MQClientAPI.js";
import type { ResolvedClientOptions } from "./options.js";
import { anyAddr, masterAddr, routeAddrs } from "./TopicRoute.js";

/** What a producer registers with its client instance. */
export interface ProducerHandle {
  readonly group: string;
  topics(): Iterable<string>;
  /** CHECK_TRANSACTION_STATE from a broker (a transactional producer answers it). Must not throw. */
  checkTransaction?(request: RemotingCommand, brokerAddr: string | undefined): void;
}

/** A client's answer to a broker's request (none for oneway requests). */
type ServerRequestAnswer = RemotingCommand | undefined | Promise<RemotingCommand | undefined>;

/** What a consumer registers with its client instance. */
export interface ConsumerHandle {
  readonly group: string;
  topics(): Iterable<string>;
  consumerData(): ConsumerData;
  /** A route of one of its topics changed (queues appeared or went away). */
  onRouteChanged(topic: string): void;
  /** Rebalance now (timer, NOTIFY_CONSUMER_IDS_CHANGED). Must not throw. */
  rebalance(reason: string): Promise<void>;
  /** Commit offsets now (timer). Must not throw. */
  persistOffsets(): Promise<void>;
  readonly rebalanceInterval: number;
  readonly persistInterval: number;
  /** RESET_CONSUMER_CLIENT_OFFSET from a broker (an operator reset the group's offsets). */
  resetOffset?(topic: string, offsets: Array<[MessageQueue, number]>): Promise<void>;
  /** GET_CONSUMER_RUNNING_INFO: the ConsumerRunningInfo JSON text (spec §5.4). */
  runningInfo?(): string;
  /** CONSUME_MESSAGE_DIRECTLY: run the listener on one message (push consumers). */
  consumeMessageDirectly?: DirectConsumer["consumeMessageDirectly"];
}

/** Auto-create template topic (spec §8.2): its route stands in for a topic that does not exist yet. */
export const AUTO_CREATE_TOPIC_KEY = "TBW102";

const registry = new Map<string, MQClientInstance>();

/**
 * One per client id and NameServer list in a process (RocketMQ's MQClientInstance): the
 * connections, the route table, and the timers shared by every producer and consumer of
 * the process — route refresh, heartbeats, rebalance and offset commits.
 */
export class MQClientInstance {
  readonly clientId: string;
  readonly api: MQClientAPI;
  readonly logger: Logger;
  readonly nameServers: string[];
  private readonly key: string;
  private nsIndex = 0;
  private readonly routes = new Map<string, TopicRouteData>();
  private readonly producers = new Map<string, { handle: ProducerHandle; refs: number }>();
  private readonly consumers = new Map<string, ConsumerHandle>();
  private readonly clients = new Set<ResolvedClientOptions>();
  private readonly tasks = new Map<
    string,
    { timer: NodeJS.Timeout; armedMs: number; busy: boolean; interval: () => number; arm: () => void }
  >();
  private running = true;
  private closing: Promise<void> | undefined;

  /** The shared instance for these options; every acquire needs one release. */
  static acquire(
    options: ResolvedClientOptions,
    transportFactory?: (onRequest: (req: RemotingCommand) => ServerRequestAnswer) => Transport,
  ): MQClientInstance {
    const clientId = buildClientId(options.instanceName);
    const key = `${clientId}|${options.nameServers.join(";")}`;
    let instance = registry.get(key);
    if (!instance?.running) {
      instance = new MQClientInstance(key, clientId, options, transportFactory);
      registry.set(key, instance);
    }
    instance.clients.add(options);
    instance.tighten();
    return instance;
  }

  private constructor(
    key: string,
    clientId: string,
    options: ResolvedClientOptions,
    transportFactory?: (onRequest: (req: RemotingCommand) => ServerRequestAnswer) => Transport,
  ) {
    this.key = key;
    this.clientId = clientId;
    this.logger = options.logger;
    this.nameServers = options.nameServers;
    this.clients.add(options);
    const onRequest = (req: RemotingCommand, conn?: Connection) => this.onServerRequest(req, conn);
    const transport =
      transportFactory?.(onRequest) ??
      new RemotingClient({ requestTimeoutMs: options.requestTimeout, onRequest, logger: options.logger });
    this.api = new MQClientAPI(transport, options.requestTimeout);
    this.schedule(
      "routes",
      () => this.minOf((o) => o.pollNameServerInterval),
      () => this.refreshAllRoutes(),
    );
    this.schedule(
      "heartbeat",
      () => this.minOf((o) => o.heartbeatBrokerInterval),
      () => this.sendHeartbeatToAllBrokers(),
    );
    this.schedule(
      "rebalance",
      () => this.minConsumer((c) => c.rebalanceInterval, 20_000),
      async () => {
        await Promise.all([...this.consumers.values()].map((c) => c.rebalance("timer")));
      },
    );
    this.schedule(
      "persist",
      () => this.minConsumer((c) => c.persistInterval, 5000),
      async () => {
        await Promise.all([...this.consumers.values()].map((c) => c.persistOffsets()));
      },
    );
  }

  get isRunning(): boolean {
    return this.running;
  }

  private minOf(f: (o: ResolvedClientOptions) => number): number {
    let v = Number.POSITIVE_INFINITY;
    for (const o of this.clients) v = Math.min(v, f(o));
    return Number.isFinite(v) ? v : 30_000;
  }

  private minConsumer(f: (c: ConsumerHandle) => number, fallback: number): number {
    let v = Number.POSITIVE_INFINITY;
    for (const c of this.consumers.values()) v = Math.min(v, f(c));
    return Number.isFinite(v) ? v : fallback;
  }

  /** A periodic task, re-armed after each run so runs never overlap; unref'd so it never holds the process. */
  private schedule(name: string, interval: () => number, task: () => Promise<void>): void {
    const arm = () => {
      if (!this.running) return;
      const ms = interval();
      const entry = {
        timer: undefined as unknown as NodeJS.Timeout,
        armedMs: ms,
        busy: false,
        interval,
        arm,
      };
      entry.timer = setTimeout(async () => {
        entry.busy = true;
        try {
          await task();
        } catch (err) {
          this.logger.warn(`${name} task failed: ${(err as Error).message}`);
        }
        entry.busy = false;
        arm();
      }, ms);
      entry.timer.unref();
      this.tasks.set(name, entry);
    };
    arm();
  }

  /** A client with a shorter interval joined: re-arm the timers that now wait too long. */
  private tighten(): void {
    for (const t of this.tasks.values()) {
      if (t.busy || t.interval() >= t.armedMs) continue;
      clearTimeout(t.timer);
      t.arm();
    }
  }

  // ---- registration ----

  registerProducer(handle: ProducerHandle): void {
    const cur = this.producers.get(handle.group);
    if (cur) cur.refs++;
    else this.producers.set(handle.group, { handle, refs: 1 });
  }

  async unregisterProducer(group: string): Promise<void> {
    const cur = this.producers.get(group);
    if (!cur) return;
    if (--cur.refs > 0) return;
    this.producers.delete(group);
    await this.unregisterClientEverywhere(group, undefined);
  }

  /** Returns false when this instance already has a consumer of the group. */
  registerConsumer(handle: ConsumerHandle): boolean {
    if (this.consumers.has(handle.group)) return false;
    this.consumers.set(handle.group, handle);
    this.tighten();
    return true;
  }

  async unregisterConsumer(group: string): Promise<void> {
    if (!this.consumers.delete(group)) return;
    await this.unregisterClientEverywhere(undefined, group);
  }

  private async unregisterClientEverywhere(
    producerGroup: string | undefined,
    consumerGroup: string | undefined,
  ) {
    await Promise.all(
      this.allBrokerAddrs().map((addr) =>
        this.api.unregisterClient(addr, this.clientId, producerGroup, consumerGroup).catch((err: Error) => {
          this.logger.debug(`unregister at ${addr} failed: ${err.message}`);
        }),
      ),
    );
  }

  /** Drops one client's use; the last one stops the timers and closes the connections. */
  async release(options: ResolvedClientOptions): Promise<void> {
    this.clients.delete(options);
    if (this.clients.size > 0 || this.producers.size > 0 || this.consumers.size > 0) return;
    this.closing ??= this.close();
    await this.closing;
  }

  private async close(): Promise<void> {
    this.running = false;
    for (const t of this.tasks.values()) clearTimeout(t.timer);
    this.tasks.clear();
    if (registry.get(this.key) === this) registry.delete(this.key);
    await this.api.transport.close();
  }

  // ---- routes ----

  getRoute(topic: string): TopicRouteData | undefined {
    return this.routes.get(topic);
  }

  /** Asks the NameServers (starting with the last one that answered) for a route. */
  async fetchRoute(topic: string): Promise<{ route?: TopicRouteData; outcomes: RouteLookupOutcome[] }> {
    const outcomes: RouteLookupOutcome[] = [];
    const n = this.nameServers.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.nsIndex + i) % n;
      const ns = this.nameServers[idx]!;
      try {
        const route = await this.api.getRouteInfo(ns, topic);
        this.nsIndex = idx;
        if (route && route.queueDatas.length > 0) return { route, outcomes };
        outcomes.push({ nameServer: ns, outcome: "TOPIC_NOT_EXIST" });
      } catch (err) {
        outcomes.push({ nameServer: ns, outcome: "error", detail: (err as Error).message });
      }
    }
    return { outcomes };
  }

  /** Refreshes one topic's route and returns it; throws NoRouteError when no NameServer has it. */
  async updateRoute(topic: string): Promise<TopicRouteData> {
    const { route, outcomes } = await this.fetchRoute(topic);
    if (!route) {
      // Keep a known route when NameServers are merely unreachable; drop it when they say it is gone.
      if (outcomes.every((o) => o.outcome === "TOPIC_NOT_EXIST")) this.setRoute(topic, undefined);
      throw new NoRouteError(topic, outcomes);
    }
    this.setRoute(topic, route);
    return route;
  }

  private setRoute(topic: string, route: TopicRouteData | undefined): void {
    const before = this.routes.get(topic);
    if (route) this.routes.set(topic, route);
    else this.routes.delete(topic);
    if (JSON.stringify(before) !== JSON.stringify(route)) {
      for (const c of this.consumers.values()) {
        for (const t of c.topics()) if (t === topic) c.onRouteChanged(topic);
      }
    }
  }

  /** Every topic some producer or consumer of this instance uses. */
  private topicsInUse(): Set<string> {
    const topics = new Set<string>();
    for (const { handle } of this.producers.values()) for (const t of handle.topics()) topics.add(t);
    for (const c of this.consumers.values()) for (const t of c.topics()) topics.add(t);
    return topics;
  }

  async refreshAllRoutes(): Promise<void> {
    const topics = this.topicsInUse();
    const before = new Set(this.allBrokerAddrs());
    await Promise.all(
      [...topics].map((t) =>
        this.updateRoute(t).catch((err: Error) => this.logger.debug(`route refresh of ${t}: ${err.message}`)),
      ),
    );
    for (const t of [...this.routes.keys()]) if (!topics.has(t)) this.routes.delete(t);
    // Connections to brokers no route mentions any more are closed (Java cleanOfflineBroker).
    const after = new Set(this.allBrokerAddrs());
    for (const addr of before) if (!after.has(addr)) this.api.transport.closeConnection(addr);
  }

  allBrokerAddrs(): string[] {
    const out = new Set<string>();
    for (const r of this.routes.values()) for (const a of routeAddrs(r)) out.add(a);
    return [...out];
  }

  findMasterAddr(brokerName: string): string | undefined {
    for (const r of this.routes.values()) {
      const a = masterAddr(r, brokerName);
      if (a) return a;
    }
    return undefined;
  }

  /** The master of a broker group, or a replica when the master is gone (reads only). */
  findAnyAddr(brokerName: string): string | undefined {
    return (
      this.findMasterAddr(brokerName) ??
      [...this.routes.values()].map((r) => anyAddr(r, brokerName)).find(Boolean)
    );
  }

  // ---- heartbeats ----

  heartbeatData(): HeartbeatData {
    return {
      clientID: this.clientId,
      producerDataSet: [...this.producers.keys()].map((groupName) => ({ groupName })),
      consumerDataSet: [...this.consumers.values()].map((c) => c.consumerData()),
    };
  }

  /** To every broker in the known routes (masters only when there is no consumer, as Java). */
  async sendHeartbeatToAllBrokers(): Promise<void> {
    if (this.producers.size === 0 && this.consumers.size === 0) return;
    const data = this.heartbeatData();
    const addrs = new Set<string>();
    for (const r of this.routes.values()) {
      for (const bd of r.brokerDatas) {
        for (const [id, addr] of Object.entries(bd.brokerAddrs)) {
          if (addr && (id === "0" || this.consumers.size > 0)) addrs.add(addr);
        }
      }
    }
    await Promise.all(
      [...addrs].map((addr) =>
        this.api
          .heartbeat(addr, data)
          .catch((err: Error) => this.logger.warn(`heartbeat to ${addr}: ${err.message}`)),
      ),
    );
  }

  // ---- requests from brokers ----

  /** Hands a check-back to the producer of the half's group (its PGROUP property). */
  private onCheckTransaction(req: RemotingCommand, conn: Connection | undefined): void {
    let group: string | undefined;
    try {
      group = req.body ? decodeMessage(req.body, 0, { headersOnly: false }).properties.PGROUP : undefined;
    } catch (err) {
      this.logger.warn(`CHECK_TRANSACTION_STATE with an unreadable message: ${(err as Error).message}`);
      return;
    }
    const p = group === undefined ? undefined : this.producers.get(group);
    if (!p?.handle.checkTransaction) {
      this.logger.warn(
        `CHECK_TRANSACTION_STATE for producer group ${group}: no transactional producer of it here`,
      );
      return;
    }
    // Answer the broker that asked (the record's store host may be an address it no longer has).
    const from = conn ? `${toStorableIPv4(conn.remoteAddress)}:${conn.remotePort}` : undefined;
    p.handle.checkTransaction(req, from);
  }

  private onServerRequest(req: RemotingCommand, conn?: Connection): ServerRequestAnswer {
    if (req.code === RequestCode.CONSUME_MESSAGE_DIRECTLY) {
      return answerConsumeMessageDirectly(req, this.consumers.get(req.extFields?.consumerGroup ?? ""));
    }
    if (req.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) {
      const group = req.extFields?.consumerGroup;
      const c = group === undefined ? undefined : this.consumers.get(group);
      if (c) void c.rebalance("NOTIFY_CONSUMER_IDS_CHANGED");
      return isOneway(req) ? undefined : createResponse(req, ResponseCode.SUCCESS);
    }
    if (req.code === RequestCode.RESET_CONSUMER_CLIENT_OFFSET) {
      const c = this.consumers.get(req.extFields?.group ?? "");
      const topic = req.extFields?.topic;
      if (c?.resetOffset && topic) {
        let table: Array<[MessageQueue, number]> = [];
        try {
          table = objectKeyMapField<number>(req.body?.toString("utf8") ?? "{}", "offsetTable");
        } catch (err) {
          this.logger.warn(`RESET_CONSUMER_CLIENT_OFFSET with an unreadable body: ${(err as Error).message}`);
        }
        c.resetOffset(topic, table).catch((err: Error) =>
          this.logger.warn(`offset reset failed: ${err.message}`),
        );
      }
      return isOneway(req) ? undefined : createResponse(req, ResponseCode.SUCCESS);
    }
    if (req.code === RequestCode.CHECK_TRANSACTION_STATE) {
      this.onCheckTransaction(req, conn);
      return isOneway(req) ? undefined : createResponse(req, ResponseCode.SUCCESS);
    }
    if (req.code === RequestCode.GET_CONSUMER_RUNNING_INFO) {
      const c = this.consumers.get(req.extFields?.consumerGroup ?? "");
      if (!c?.runningInfo) {
        return createResponse(
          req,
          ResponseCode.SYSTEM_ERROR,
          `no consumer of group ${req.extFields?.consumerGroup} here`,
        );
      }
      return createResponse(
        req,
        ResponseCode.SUCCESS,
        undefined,
        undefined,
        Buffer.from(c.runningInfo(), "utf8"),
      );
    }
    if (isOneway(req)) return undefined;
    return createResponse(
      req,
      ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
      `TideMQ client does not handle request ${req.code}`,
    );
  }
}
