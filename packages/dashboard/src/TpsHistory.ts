/**
 * TPS over time for the Dashboard page's live chart: a bounded ring of samples per series
 * (a broker's put/get TPS, a topic's put TPS). Pure: the sampler feeds it, tests drive it.
 */
export interface Point {
  t: number;
  v: number;
}

export class Series {
  private readonly points: Point[] = [];
  constructor(private readonly capacity: number) {}

  push(t: number, v: number): void {
    this.points.push({ t, v });
    if (this.points.length > this.capacity) this.points.shift();
  }

  list(): Point[] {
    return [...this.points];
  }

  last(): number {
    return this.points.at(-1)?.v ?? 0;
  }
}

/**
 * Put TPS of topics from successive sums of their queues' max offsets: the broker counts
 * messages per queue, so (Σ max offset now − Σ before) / seconds is the topic's put rate,
 * with no per-topic counter needed in the broker. A topic seen for the first time, or whose
 * offsets went back (deleted and recreated), has no rate until the next sample.
 */
export class TopicRates {
  private readonly last = new Map<string, { t: number; sum: number }>();
  readonly series = new Map<string, Series>();

  constructor(private readonly capacity: number) {}

  /** Records one sweep: topic → Σ max offset at time `t`. Topics absent from the sweep are forgotten. */
  record(t: number, sums: Map<string, number>): void {
    for (const [topic, sum] of sums) {
      const prev = this.last.get(topic);
      this.last.set(topic, { t, sum });
      if (!prev || sum < prev.sum || t <= prev.t) continue;
      let s = this.series.get(topic);
      if (!s) {
        s = new Series(this.capacity);
        this.series.set(topic, s);
      }
      s.push(t, ((sum - prev.sum) * 1000) / (t - prev.t));
    }
    for (const topic of [...this.last.keys()]) {
      if (!sums.has(topic)) {
        this.last.delete(topic);
        this.series.delete(topic);
      }
    }
  }

  /** The `n` topics with the highest latest rate (ties by name), then by total traffic seen. */
  top(n: number): string[] {
    return [...this.series.entries()]
      .map(([topic, s]) => ({ topic, last: s.last(), sum: s.list().reduce((a, p) => a + p.v, 0) }))
      .filter((x) => x.sum > 0)
      .sort((a, b) => b.last - a.last || b.sum - a.sum || (a.topic < b.topic ? -1 : 1))
      .slice(0, n)
      .map((x) => x.topic);
  }
}
