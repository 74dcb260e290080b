/**
 * A small log-linear latency histogram in microseconds (HdrHistogram's layout with 512
 * sub-buckets per power of two: every recorded value is kept within 0.2 %). Values below
 * 1024 µs are exact. Fixed size (11,776 counters, 92 KiB), no allocation per record, so
 * the bench tool can record every response without a dependency.
 */
const EXACT = 1024; // values 0..1023 µs get one bucket each
const SUB_BITS = 9; // 512 sub-buckets per power of two above EXACT
const SUB = 1 << SUB_BITS;
/** Largest value kept as is: 2^31 − 1 µs ≈ 35.8 minutes; larger values are clamped. */
export const MAX_TRACKABLE_US = 0x7fffffff;
const BUCKETS = EXACT + (31 - SUB_BITS - 1) * SUB;

function indexOf(us: number): number {
  if (us < EXACT) return us;
  const msb = 31 - Math.clz32(us); // >= 10
  const shift = msb - SUB_BITS; // >= 1; (us >>> shift) is in [512, 1023]
  return EXACT + (shift - 1) * SUB + ((us >>> shift) - SUB);
}

/** Middle of the range of values that share bucket `i` (what percentiles report). */
function bucketValue(i: number): number {
  if (i < EXACT) return i;
  const shift = Math.floor((i - EXACT) / SUB) + 1;
  const sub = ((i - EXACT) % SUB) + SUB;
  const low = sub * 2 ** shift;
  return low + (2 ** shift - 1) / 2;
}

export interface LatencySummary {
  count: number;
  /** All in milliseconds, 3 decimals. */
  min: number;
  avg: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sumUs = 0;
  private minUs = Number.POSITIVE_INFINITY;
  private maxUs = 0;

  get count(): number {
    return this.total;
  }

  /** Records one latency given in microseconds (fractions rounded; negatives count as 0). */
  record(us: number): void {
    let v = Math.round(us);
    if (!(v > 0)) v = 0; // also NaN
    if (v > MAX_TRACKABLE_US) v = MAX_TRACKABLE_US;
    this.counts[indexOf(v)]! += 1;
    this.total++;
    this.sumUs += v;
    if (v < this.minUs) this.minUs = v;
    if (v > this.maxUs) this.maxUs = v;
  }

  /** Adds every count of `other` to this one. */
  add(other: LatencyHistogram): void {
    if (other.total === 0) return;
    for (let i = 0; i < BUCKETS; i++) {
      const c = other.counts[i]!;
      if (c !== 0) this.counts[i]! += c;
    }
    this.total += other.total;
    this.sumUs += other.sumUs;
    if (other.minUs < this.minUs) this.minUs = other.minUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  reset(): void {
    if (this.total === 0) return;
    this.counts.fill(0);
    this.total = 0;
    this.sumUs = 0;
    this.minUs = Number.POSITIVE_INFINITY;
    this.maxUs = 0;
  }

  /** Value (µs) at or below which `p` percent of the recorded values lie; 0 when empty. */
  percentileUs(p: number): number {
    if (this.total === 0) return 0;
    if (p >= 100) return this.maxUs;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.maxUs, Math.max(this.minUs, bucketValue(i)));
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    if (this.total === 0) return { count: 0, min: 0, avg: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    return {
      count: this.total,
      min: ms(this.minUs),
      avg: ms(this.sumUs / this.total),
      p50: ms(this.percentileUs(50)),
      p90: ms(this.percentileUs(90)),
      p99: ms(this.percentileUs(99)),
      p999: ms(this.percentileUs(99.9)),
      max: ms(this.maxUs),
    };
  }
}
