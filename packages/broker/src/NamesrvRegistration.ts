import { crc32 } from "node:zlib";
import {
  createRequest,
  encodeRegisterBrokerBody,
  type RegisterBrokerBody,
  RequestCode,
  ResponseCode,
  responseCodeName,
} from "@tidemq/protocol";
import type { Logger, RemotingClient } from "@tidemq/remoting";
import type { BrokerConfig } from "./BrokerConfig.js";
import { splitNamesrvAddr } from "./loadBrokerConfig.js";
import type { TopicConfigManager } from "./TopicConfigManager.js";

/** Above this many topics the registration body uses the compressed form (spec §3.1). */
export const COMPRESS_ABOVE_TOPICS = 1000;
const REGISTER_TIMEOUT_MS = 6000;

/**
 * Keeps this broker known to every NameServer (spec §3.1, §3.2): REGISTER_BROKER at start,
 * every registerNameServerPeriod, and at once after a topic change; UNREGISTER_BROKER at a
 * clean stop. A NameServer that is down is logged and retried on the next round; it never
 * stops the broker. Registrations never overlap: a change during one schedules one more.
 */
export class NamesrvRegistration {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** NameServer address → last registration outcome, for logs and tests. */
  readonly lastResult = new Map<string, { ok: boolean; at: number; error?: string }>();

  constructor(
    private readonly opts: {
      config: BrokerConfig;
      brokerAddr: string;
      topics: TopicConfigManager;
      client: RemotingClient;
      logger: Logger;
      /** The HA listener's address (master/slave replication); default listenPort + 1. */
      haServerAddr?: () => string;
      /** A NameServer's answer to a slave: the live master's address and HA address (spec §1.3). */
      onMasterInfo?: (masterAddr: string | undefined, haServerAddr: string | undefined) => void;
    },
  ) {
    opts.topics.onChange(() => {
      this.registerAll().catch(() => undefined);
    });
  }

  get namesrvAddrs(): string[] {
    return splitNamesrvAddr(this.opts.config.namesrvAddr);
  }

  async start(): Promise<void> {
    await this.registerAll();
    const period = this.opts.config.registerNameServerPeriod;
    this.timer = setInterval(() => {
      this.registerAll().catch(() => undefined);
    }, period);
    this.timer.unref();
  }

  /** Registers with every NameServer; concurrent calls coalesce into one follow-up round. */
  registerAll(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const round = async () => {
      do {
        this.again = false;
        await this.registerRound();
      } while (this.again && !this.stopped);
    };
    this.running = round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async registerRound(): Promise<void> {
    const { config, brokerAddr, topics, client, logger } = this.opts;
    const addrs = this.namesrvAddrs;
    if (addrs.length === 0) return;
    const wrapper = topics.wrapper();
    const body: RegisterBrokerBody = { topicConfigSerializeWrapper: wrapper, filterServerList: [] };
    const compressed = Object.keys(wrapper.topicConfigTable).length > COMPRESS_ABOVE_TOPICS;
    const encoded = encodeRegisterBrokerBody(body, compressed);
    const [host, port] = splitAddr(brokerAddr);
    const header = {
      brokerName: config.brokerName,
      brokerAddr,
      clusterName: config.brokerClusterName,
      haServerAddr: this.opts.haServerAddr?.() ?? `${host}:${port + 1}`,
      brokerId: config.brokerId,
      compressed,
      bodyCrc32: crc32(encoded) & 0x7fffffff,
    };
    await Promise.all(
      addrs.map(async (ns) => {
        try {
          const res = await client.invoke(
            ns,
            createRequest(RequestCode.REGISTER_BROKER, header, encoded),
            REGISTER_TIMEOUT_MS,
          );
          if (res.code !== ResponseCode.SUCCESS) {
            throw new Error(`${responseCodeName(res.code)}: ${res.remark ?? ""}`);
          }
          if (config.brokerId !== 0) {
            const f = res.extFields ?? {};
            this.opts.onMasterInfo?.(f.masterAddr || undefined, f.haServerAddr || undefined);
          }
          const was = this.lastResult.get(ns);
          if (!was?.ok)
            logger.info(
              `registered with NameServer ${ns} (${Object.keys(wrapper.topicConfigTable).length} topics)`,
            );
          this.lastResult.set(ns, { ok: true, at: Date.now() });
        } catch (err) {
          const message = (err as Error).message ?? String(err);
          const was = this.lastResult.get(ns);
          if (was?.ok !== false || was.error !== message) {
            logger.warn(
              `cannot register with NameServer ${ns}: ${message}; retrying every ${config.registerNameServerPeriod} ms`,
            );
          }
          this.lastResult.set(ns, { ok: false, at: Date.now(), error: message });
        }
      }),
    );
  }

  /**
   * Stops the timer and unregisters from every NameServer (best effort, bounded time: `attempts`
   * tries of 3 s each per NameServer; a shutdown gives one, a replica removed from its DLedger
   * group more, since it keeps running and a missed unregister leaves clients routed to it).
   */
  async stop(attempts = 1): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.running) await this.running.catch(() => undefined);
    const { config, brokerAddr, client, logger } = this.opts;
    const request = () =>
      createRequest(RequestCode.UNREGISTER_BROKER, {
        brokerName: config.brokerName,
        brokerAddr,
        clusterName: config.brokerClusterName,
        brokerId: config.brokerId,
      });
    await Promise.all(
      this.namesrvAddrs.map(async (ns) => {
        for (let attempt = 1; attempt <= attempts; attempt++) {
          try {
            const res = await client.invoke(ns, request(), 3000);
            if (res.code !== ResponseCode.SUCCESS)
              logger.warn(`unregister from ${ns}: ${responseCodeName(res.code)}`);
            return;
          } catch (err) {
            const more = attempt < attempts ? "; trying again" : "";
            logger.warn(`cannot unregister from NameServer ${ns}: ${(err as Error).message}${more}`);
          }
        }
      }),
    );
  }
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}
