/**
 * Consumption counters of one consumer per topic over a sliding window (RocketMQ's
 * ConsumerStatsManager, reported as ConsumeStatus in GET_CONSUMER_RUNNING_INFO): messages
 * consumed OK and failed per second and the mean listener time. Pure: the caller passes the
 * clock. One-second buckets in a ring, so recording is a few array writes.
 */
const BUCKETS = 60;

interface TopicCounters {
  /** Second (epoch s) each bucket holds; a stale bucket is reset on first use. */
  second: Float64Array;
  ok: Float64Array;
  failed: Float64Array;
  rtSum: Float64Array;
  failedTotal: number;
}

/** Java's ConsumeStatus fields (statusTable values). */
export interface ConsumeStatus {
  pullRT: number;
  pullTPS: number;
  consumeRT: number;
  consumeOKTPS: number;
  consumeFailedTPS: number;
  /** Failed consumptions since the consumer started. */
  consumeFailedMsgs: number;
}

export class ConsumeStatsWindow {
  private readonly topics = new Map<string, TopicCounters>();

  /** How many seconds (≤ 60, the ring) the rates average over. */
  constructor(private readonly windowSeconds = 10) {}

  record(topic: string, ok: boolean, rtMs: number, nowMs: number): void {
    let t = this.topics.get(topic);
    if (!t) {
      t = {
        second: new Float64Array(BUCKETS).fill(-1),
        ok: new Float64Array(BUCKETS),
        failed: new Float64Array(BUCKETS),
        rtSum: new Float64Array(BUCKETS),
        failedTotal: 0,
      };
      this.topics.set(topic, t);
    }
    const s = Math.floor(nowMs / 1000);
    const i = s % BUCKETS;
    if (t.second[i] !== s) {
      t.second[i] = s;
      t.ok[i] = 0;
      t.failed[i] = 0;
      t.rtSum[i] = 0;
    }
    if (ok) t.ok[i]!++;
    else {
      t.failed[i]!++;
      t.failedTotal++;
    }
    t.rtSum[i]! += rtMs;
  }

  /** Rates over the last windowSeconds full seconds plus the current one, per topic. */
  status(nowMs: number): Map<string, ConsumeStatus> {
    const out = new Map<string, ConsumeStatus>();
    const now = Math.floor(nowMs / 1000);
    const span = Math.min(this.windowSeconds, BUCKETS - 1);
    for (const [topic, t] of this.topics) {
      let ok = 0;
      let failed = 0;
      let rt = 0;
      for (let k = 0; k <= span; k++) {
        const s = now - k;
        const i = ((s % BUCKETS) + BUCKETS) % BUCKETS;
        if (t.second[i] !== s) continue;
        ok += t.ok[i]!;
        failed += t.failed[i]!;
        rt += t.rtSum[i]!;
      }
      const seconds = span + 1;
      out.set(topic, {
        pullRT: 0,
        pullTPS: 0,
        consumeRT: ok + failed > 0 ? rt / (ok + failed) : 0,
        consumeOKTPS: ok / seconds,
        consumeFailedTPS: failed / seconds,
        consumeFailedMsgs: t.failedTotal,
      });
    }
    return out;
  }
}
