/**
 * Latency-based fault avoidance (RocketMQ's MQFaultStrategy / LatencyFaultToleranceImpl,
 * with the 5.x tables): a broker whose send was slow or failed is "not available" for a
 * while, and queue selection prefers the others. Time is passed in, so tests drive it.
 */
export interface FaultToleranceOptions {
  /** Latency thresholds (ms), ascending. */
  latencyMax?: number[];
  /** How long (ms) a broker is avoided when its latency reached the matching threshold. */
  notAvailableDuration?: number[];
  /** Latency to charge for a failed send (ms); maps to 10 s of avoidance with the default tables. */
  isolationLatency?: number;
}

interface FaultItem {
  latency: number;
  availableAt: number;
}

export class LatencyFaultTolerance {
  private readonly latencyMax: number[];
  private readonly notAvailable: number[];
  private readonly isolationLatency: number;
  private readonly items = new Map<string, FaultItem>();
  /** Bound on tracked brokers, so an unbounded set of names cannot grow the map. */
  private static readonly MAX_ITEMS = 4096;

  constructor(o: FaultToleranceOptions = {}) {
    this.latencyMax = o.latencyMax ?? [50, 100, 550, 1800, 3000, 5000, 15000];
    this.notAvailable = o.notAvailableDuration ?? [0, 0, 2000, 5000, 6000, 10000, 30000];
    if (this.latencyMax.length !== this.notAvailable.length) {
      throw new RangeError("latencyMax and notAvailableDuration must have the same length");
    }
    this.isolationLatency = o.isolationLatency ?? 10_000;
  }

  /** How long a broker with this latency is avoided. */
  computeNotAvailableDuration(latency: number): number {
    for (let i = this.latencyMax.length - 1; i >= 0; i--) {
      if (latency >= this.latencyMax[i]!) return this.notAvailable[i]!;
    }
    return 0;
  }

  /** Records a send's outcome: its latency, or `isolation` for a failure. */
  update(brokerName: string, latency: number, isolation: boolean, now: number): void {
    const effective = isolation ? this.isolationLatency : latency;
    const duration = this.computeNotAvailableDuration(effective);
    if (!this.items.has(brokerName) && this.items.size >= LatencyFaultTolerance.MAX_ITEMS) {
      const oldest = this.items.keys().next().value;
      if (oldest !== undefined) this.items.delete(oldest);
    }
    this.items.set(brokerName, { latency: effective, availableAt: now + duration });
  }

  isAvailable(brokerName: string, now: number): boolean {
    const item = this.items.get(brokerName);
    return !item || now >= item.availableAt;
  }

  remove(brokerName: string): void {
    this.items.delete(brokerName);
  }

  /** Among avoided brokers, the one that becomes available first (ties: lower latency). */
  pickOneAtLeast(candidates: Iterable<string>): string | undefined {
    let best: [string, FaultItem] | undefined;
    for (const name of candidates) {
      const item = this.items.get(name);
      if (!item) return name;
      if (
        !best ||
        item.availableAt < best[1].availableAt ||
        (item.availableAt === best[1].availableAt && item.latency < best[1].latency)
      ) {
        best = [name, item];
      }
    }
    return best?.[0];
  }
}
