import { DurationBuckets } from "@tidemq/store";

/** Messages and bytes, as plain numbers bumped on the hot path. */
export interface Flow {
  messages: number;
  bytes: number;
}

/** A consumer group's reading of one topic: what it pulled, per queue the next offset handed out. */
export interface GroupTopicFlow extends Flow {
  /** Index = queueId; value = nextBeginOffset of the last successful pull (-1 = none yet). */
  pulledNext: number[];
}

/**
 * rocketmq_rpc_latency's bucket bounds (ms), as RocketMQ 5 reports them
 * (value_le_1_ms … 3_s, overflow).
 */
export const RPC_LATENCY_BOUNDS_MS = [1, 3, 5, 10, 100, 1000, 3000];

/** One request in this many is timed for rocketmq_rpc_latency (a power of two). */
export const LATENCY_SAMPLE_EVERY = 16;

/**
 * The broker's traffic counters for the metrics endpoint. Every method here runs on the
 * send or pull path, so each is a map lookup and a few additions: nothing is formatted,
 * labelled or allocated after a topic/group is first seen. The exporter reads the maps at
 * scrape time.
 */
export class TrafficCounters {
  /** topic → messages/bytes stored (rocketmq_messages_in_total, rocketmq_throughput_in_total). */
  readonly in = new Map<string, Flow>();
  /** group → topic → messages/bytes delivered by pulls, and how far each queue was read. */
  readonly out = new Map<string, Map<string, GroupTopicFlow>>();
  /** Send request handling time, ms, from decode to response (all outcomes; sampled, see startTiming). */
  readonly sendLatency = new DurationBuckets(RPC_LATENCY_BOUNDS_MS);
  /** Pull request handling time, ms, for pulls answered at once (not parked ones; sampled). */
  readonly pullLatency = new DurationBuckets(RPC_LATENCY_BOUNDS_MS);
  private sendTick = 0;
  private pullTick = 0;

  /**
   * The start time of a send to time, or -1: one send in LATENCY_SAMPLE_EVERY is timed. Two
   * clock reads cost ~0.1-0.2 µs, a few % of a single send's broker CPU; a sample of the
   * requests gives the same latency distribution at a sixteenth of that.
   */
  startSendTiming(): number {
    return (++this.sendTick & (LATENCY_SAMPLE_EVERY - 1)) === 0 ? performance.now() : -1;
  }

  /** As startSendTiming, for pulls (its own count, so each kind is sampled evenly). */
  startPullTiming(): number {
    return (++this.pullTick & (LATENCY_SAMPLE_EVERY - 1)) === 0 ? performance.now() : -1;
  }

  recordIn(topic: string, messages: number, bytes: number): void {
    const f = this.in.get(topic);
    if (f) {
      f.messages += messages;
      f.bytes += bytes;
    } else {
      this.in.set(topic, { messages, bytes });
    }
  }

  recordOut(
    group: string,
    topic: string,
    queueId: number,
    messages: number,
    bytes: number,
    nextOffset: number,
  ): void {
    let byTopic = this.out.get(group);
    if (!byTopic) {
      byTopic = new Map();
      this.out.set(group, byTopic);
    }
    let f = byTopic.get(topic);
    if (!f) {
      f = { messages: 0, bytes: 0, pulledNext: [] };
      byTopic.set(topic, f);
    }
    f.messages += messages;
    f.bytes += bytes;
    const p = f.pulledNext;
    while (p.length <= queueId) p.push(-1);
    p[queueId] = nextOffset;
  }

  /**
   * Forgets topics and groups that no longer exist (called at scrape time), so a cluster that
   * churns through topics does not grow these maps without bound. Prometheus treats the
   * series' disappearance as the end of the series.
   */
  prune(topicExists: (topic: string) => boolean, groupExists: (group: string) => boolean): void {
    for (const topic of this.in.keys()) if (!topicExists(topic)) this.in.delete(topic);
    for (const [group, byTopic] of this.out) {
      if (!groupExists(group)) {
        this.out.delete(group);
        continue;
      }
      for (const topic of byTopic.keys()) if (!topicExists(topic)) byTopic.delete(topic);
    }
  }
}
