import type { Logger } from "@tidemq/remoting";
import { fmt, mapLimit } from "./Bounded.js";
import type { ClusterData } from "./ClusterData.js";
import { Series, TopicRates } from "./TpsHistory.js";
import { topicType } from "./topicType.js";

/** Topics swept per round: a bound on the requests one sweep makes (the page says when it was cut). */
export const MAX_SAMPLED_TOPICS = 2000;

export interface SamplerOptions {
  /** Broker TPS sample interval, ms (default 5000). */
  brokerIntervalMs?: number;
  /** Topic offset sweep interval, ms (default 15000). */
  topicIntervalMs?: number;
  /** Samples kept per series (default 360: 30 min at 5 s). */
  capacity?: number;
}

/**
 * Samples broker put/get TPS (from GET_BROKER_RUNTIME_INFO's 10-second rates) and topic put
 * TPS (from sweeps of GET_TOPIC_STATS_INFO max offsets) in the background, so the Dashboard
 * chart has history the moment it opens. The console keeps the history in memory only.
 */
export class TpsSampler {
  readonly brokerPut = new Map<string, Series>();
  readonly brokerGet = new Map<string, Series>();
  readonly topics: TopicRates;
  /** Topics in the last sweep, and how many there were in all. */
  sweep = { sampled: 0, total: 0, at: 0 };
  private timers: NodeJS.Timeout[] = [];
  private readonly capacity: number;
  private busy = { broker: false, topic: false };

  constructor(
    private readonly data: ClusterData,
    private readonly logger: Logger,
    private readonly o: SamplerOptions = {},
  ) {
    this.capacity = o.capacity ?? 360;
    this.topics = new TopicRates(this.capacity);
  }

  start(): void {
    const b = setInterval(() => void this.sampleBrokers(), this.o.brokerIntervalMs ?? 5000);
    const t = setInterval(() => void this.sampleTopics(), this.o.topicIntervalMs ?? 15_000);
    b.unref();
    t.unref();
    this.timers.push(b, t);
    void this.sampleBrokers();
    void this.sampleTopics();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  async sampleBrokers(): Promise<void> {
    if (this.busy.broker) return;
    this.busy.broker = true;
    try {
      const now = Date.now();
      for (const b of await this.data.brokers()) {
        const key = `${b.brokerName}/${b.brokerId}`;
        const table = await this.data.admin.getBrokerRuntimeInfo(b.addr).catch(() => undefined);
        if (!table) continue;
        const put = Number((table.putTps ?? "0").split(" ")[0]) || 0;
        const get = Number((table.getTransferedTps ?? "0").split(" ")[0]) || 0;
        this.series(this.brokerPut, key).push(now, put);
        this.series(this.brokerGet, key).push(now, get);
      }
    } catch (err) {
      this.logger.debug(`broker TPS sample failed: ${(err as Error).message}`);
    } finally {
      this.busy.broker = false;
    }
  }

  async sampleTopics(): Promise<void> {
    if (this.busy.topic) return;
    this.busy.topic = true;
    try {
      const [topics, system, masters] = await Promise.all([
        this.data.topics(),
        this.data.systemNames(),
        this.data.masters(),
      ]);
      const addrOf = new Map(masters.map((m) => [m.brokerName, m.addr]));
      const names = [...topics.value.keys()].filter((t) => topicType(t, system) === "normal").sort();
      const chosen = names.slice(0, MAX_SAMPLED_TOPICS);
      // One request per topic and broker that has it (the topic configs say which), no route lookups.
      const jobs = chosen.flatMap((t) =>
        (topics.value.get(t)?.configs ?? []).map((c) => ({ t, addr: addrOf.get(c.brokerName) })),
      );
      const sums = new Map<string, number>();
      const failed = new Set<string>();
      await mapLimit(jobs, 8, async ({ t, addr }) => {
        const stats = addr
          ? await this.data.admin.getTopicStatsOnBroker(addr, t).catch(() => undefined)
          : undefined;
        if (!stats) failed.add(t);
        else sums.set(t, (sums.get(t) ?? 0) + stats.reduce((s, q) => s + q.maxOffset, 0));
      });
      // A topic with a broker that did not answer has no true sum this round.
      for (const t of failed) sums.delete(t);
      this.topics.record(Date.now(), sums);
      this.sweep = { sampled: chosen.length, total: names.length, at: Date.now() };
    } catch (err) {
      this.logger.debug(`topic TPS sweep failed: ${(err as Error).message}`);
    } finally {
      this.busy.topic = false;
    }
  }

  /** The sweep's honesty line for the page ("" when every topic was sampled). */
  sweepNote(): string {
    const { sampled, total } = this.sweep;
    return sampled < total
      ? `topic TPS sampled for ${fmt(sampled)} of ${fmt(total)} topics (the first by name)`
      : "";
  }

  private series(map: Map<string, Series>, key: string): Series {
    let s = map.get(key);
    if (!s) {
      s = new Series(this.capacity);
      map.set(key, s);
    }
    return s;
  }
}
