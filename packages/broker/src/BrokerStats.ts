import type { BrokerStats } from "./context.js";

/** Longest window reported (RocketMQ prints 10 s, 60 s and 600 s rates). */
const SLOTS = 600;

/**
 * Counts per second in a ring of 600 one-second slots, so a rate over the last 10, 60 or
 * 600 s is a sum of slots; constant memory whatever the traffic. The clock is injectable
 * so tests drive it without sleeping.
 */
export class SlidingCounter {
  private readonly slots = new Float64Array(SLOTS);
  private lastSecond: number;
  total = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.lastSecond = Math.floor(now() / 1000);
  }

  add(n: number): void {
    this.advance();
    this.slots[this.lastSecond % SLOTS]! += n;
    this.total += n;
  }

  /** Mean per second over the last `seconds` complete seconds (the current one excluded). */
  rate(seconds: number): number {
    this.advance();
    const span = Math.min(seconds, SLOTS - 1);
    let sum = 0;
    for (let i = 1; i <= span; i++) sum += this.slots[(this.lastSecond - i + SLOTS * 2) % SLOTS]!;
    return sum / span;
  }

  private advance(): void {
    const sec = Math.floor(this.now() / 1000);
    if (sec <= this.lastSecond) return;
    const gap = Math.min(sec - this.lastSecond, SLOTS);
    for (let i = 1; i <= gap; i++) this.slots[(this.lastSecond + i) % SLOTS] = 0;
    this.lastSecond = sec;
  }
}

function formatTps(c: SlidingCounter): string {
  return `${c.rate(10).toFixed(2)} ${c.rate(60).toFixed(2)} ${c.rate(600).toFixed(2)}`;
}

/** Put/get counters of one broker, plus the day-boundary snapshots clusterList -m prints. */
export class BrokerStatsImpl implements BrokerStats {
  readonly putMsgs: SlidingCounter;
  readonly getMsgs: SlidingCounter;
  private day: number;
  /** Before this time the local day cannot have changed (the next UTC minute). */
  private dayCheckedUntil: number;
  /** Totals at the start of today and of yesterday (local time). */
  putTodayMorning = 0;
  putYesterdayMorning = 0;
  getTodayMorning = 0;
  getYesterdayMorning = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.putMsgs = new SlidingCounter(now);
    this.getMsgs = new SlidingCounter(now);
    this.day = dayOf(now());
    this.dayCheckedUntil = nextMinute(now());
  }

  recordPut(n: number): void {
    this.rollDay();
    this.putMsgs.add(n);
  }

  recordGet(n: number): void {
    this.rollDay();
    this.getMsgs.add(n);
  }

  putTps(): string {
    return formatTps(this.putMsgs);
  }

  getTps(): string {
    return formatTps(this.getMsgs);
  }

  putTotal(): number {
    return this.putMsgs.total;
  }

  getTotal(): number {
    return this.getMsgs.total;
  }

  /**
   * Shifts the morning snapshots when the local day changes. Local midnight always falls on
   * a UTC minute boundary (zone offsets are whole minutes), so the costly local-date work is
   * done once a minute, not once per request.
   */
  rollDay(): void {
    const now = this.now();
    if (now < this.dayCheckedUntil && now >= this.dayCheckedUntil - 60_000) return;
    this.dayCheckedUntil = nextMinute(now);
    const d = dayOf(now);
    if (d === this.day) return;
    const gap = d - this.day;
    this.putYesterdayMorning = gap === 1 ? this.putTodayMorning : this.putMsgs.total;
    this.getYesterdayMorning = gap === 1 ? this.getTodayMorning : this.getMsgs.total;
    this.putTodayMorning = this.putMsgs.total;
    this.getTodayMorning = this.getMsgs.total;
    this.day = d;
  }
}

function nextMinute(ms: number): number {
  return (Math.floor(ms / 60_000) + 1) * 60_000;
}

function dayOf(ms: number): number {
  const d = new Date(ms);
  return Math.floor((ms - d.getTimezoneOffset() * 60000) / 86_400_000);
}
