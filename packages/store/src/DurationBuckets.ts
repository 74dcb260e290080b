/**
 * A fixed-bounds histogram of durations, cheap enough for a hot path: one short linear scan
 * and three number updates per observation, no allocation, no labels. Exporters read
 * `counts`, `sum` and `count` at scrape time.
 */
export class DurationBuckets {
  /** Per bound (values ≤ bound and > the previous one), plus a last slot for the rest. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError("histogram bounds must be ascending");
    }
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}
