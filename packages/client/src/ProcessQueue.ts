/**
 * Messages pulled from one queue and not yet consumed (RocketMQ's ProcessQueue). Pure state:
 * the pull loop puts, consumption removes, and the offset to commit is always the smallest
 * offset still held, so a crash redelivers rather than loses (at-least-once).
 */
export interface CachedMessage {
  queueOffset: number;
  body: Buffer;
  /** body.length, when the message can tell it without materialising the body. */
  readonly bodySize?: number;
}

function bodySize(m: CachedMessage): number {
  return m.bodySize ?? m.body.length;
}

export interface FlowControlLimits {
  /** Pause pulling when this many messages are cached for the queue. Default 1000. */
  maxCachedMessages: number;
  /** Pause pulling when the cached bodies reach this many bytes. Default 100 MiB. */
  maxCachedBytes: number;
  /** Pause when first and last cached offsets are this far apart (a stuck message). Default 2000; 0 = off. */
  maxSpan: number;
}

export const DEFAULT_FLOW_CONTROL: FlowControlLimits = {
  maxCachedMessages: 1000,
  maxCachedBytes: 100 * 1024 * 1024,
  maxSpan: 2000,
};

export type FlowControlDecision = { pause: false } | { pause: true; reason: "count" | "size" | "span" };

/**
 * Held messages are kept in two parallel arrays in ascending offset order (pulls ascend), so
 * a put appends and the usual removal (the oldest message) is found at the head: no hash
 * table to grow, rehash and shrink for every pulled batch, as a Map keyed by offset needs.
 * A removed message leaves a hole until the head passes it.
 */
export class ProcessQueue<T extends CachedMessage = CachedMessage> {
  private slots: Array<T | undefined> = [];
  private offsets: number[] = [];
  /** Index of the first held message (or slots.length when none is held). */
  private head = 0;
  private held = 0;
  private bytes = 0;
  private maxOffset = -1;
  dropped = false;
  lastPullTimestamp = Date.now();
  lastConsumeTimestamp = Date.now();

  get count(): number {
    return this.held;
  }
  get size(): number {
    return this.bytes;
  }
  /** Highest queue offset ever put, −1 if none. */
  get queueOffsetMax(): number {
    return this.maxOffset;
  }

  /**
   * Adds pulled messages (in offset order); duplicates of held offsets are ignored. Returns
   * those added: `messages` itself when there was no duplicate (the usual case).
   */
  put(messages: T[]): T[] {
    let added: T[] | undefined;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (!this.insert(m)) {
        added ??= messages.slice(0, i);
        continue;
      }
      this.held++;
      this.bytes += bodySize(m);
      if (m.queueOffset > this.maxOffset) this.maxOffset = m.queueOffset;
      added?.push(m);
    }
    return added ?? messages;
  }

  /** Appends past the last offset (the usual case) or inserts in order; false for a held offset. */
  private insert(m: T): boolean {
    const n = this.offsets.length;
    const offset = m.queueOffset;
    if (n === this.head || offset > this.offsets[n - 1]!) {
      this.slots.push(m);
      this.offsets.push(offset);
      return true;
    }
    const i = this.lowerBound(offset);
    if (i < n && this.offsets[i] === offset) {
      if (this.slots[i] !== undefined) return false;
      this.slots[i] = m;
    } else {
      this.slots.splice(i, 0, m);
      this.offsets.splice(i, 0, offset);
    }
    return true;
  }

  /** First index at or after the head whose offset is >= `offset`. */
  private lowerBound(offset: number): number {
    let lo = this.head;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid]! < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of a held offset, or −1. The oldest message, the usual one asked for, is checked first. */
  private indexOf(offset: number): number {
    const i = this.offsets[this.head] === offset ? this.head : this.lowerBound(offset);
    return i < this.offsets.length && this.offsets[i] === offset && this.slots[i] !== undefined ? i : -1;
  }

  has(offset: number): boolean {
    return this.indexOf(offset) >= 0;
  }

  get(offset: number): T | undefined {
    const i = this.indexOf(offset);
    return i < 0 ? undefined : this.slots[i];
  }

  /** Messages held, in offset order. */
  *values(): IterableIterator<T> {
    for (let i = this.head; i < this.slots.length; i++) {
      const m = this.slots[i];
      if (m !== undefined) yield m;
    }
  }

  /** Smallest offset held, or undefined. */
  firstOffset(): number | undefined {
    return this.head < this.offsets.length ? this.offsets[this.head] : undefined;
  }

  /**
   * Removes consumed messages; returns the offset to commit: the smallest offset still held,
   * or queueOffsetMax + 1 when none is. −1 when nothing was ever held.
   */
  remove(offsets: number[]): number {
    for (const o of offsets) this.removeOne(o);
    return this.commitOffset();
  }

  /** Removes one consumed message (no array, no offset computation: the per-message path). */
  removeOne(offset: number): void {
    const i = this.indexOf(offset);
    if (i < 0) return;
    this.bytes -= bodySize(this.slots[i]!);
    this.slots[i] = undefined;
    this.held--;
    if (i === this.head) this.advanceHead();
  }

  /** Moves the head past holes; drops the consumed prefix once it is most of the arrays. */
  private advanceHead(): void {
    const n = this.slots.length;
    let h = this.head;
    while (h < n && this.slots[h] === undefined) h++;
    if (h === n) {
      this.slots = [];
      this.offsets = [];
      h = 0;
    } else if (h > 1024 && h * 2 > n) {
      this.slots = this.slots.slice(h);
      this.offsets = this.offsets.slice(h);
      h = 0;
    }
    this.head = h;
  }

  /**
   * The offset to commit after removals, stamping the consume time: the smallest offset
   * still held, or queueOffsetMax + 1 when none is; −1 when nothing was ever held.
   */
  commitOffset(): number {
    if (this.maxOffset < 0) return -1;
    this.lastConsumeTimestamp = Date.now();
    return this.firstOffset() ?? this.maxOffset + 1;
  }

  /** Drops everything (queue reassigned or consumer stopping). */
  clear(): void {
    this.slots = [];
    this.offsets = [];
    this.head = 0;
    this.held = 0;
    this.bytes = 0;
  }

  /** Whether the pull loop should wait before pulling again (Java DefaultMQPushConsumerImpl.pullMessage). */
  flowControl(limits: FlowControlLimits): FlowControlDecision {
    if (this.held >= limits.maxCachedMessages) return { pause: true, reason: "count" };
    if (this.bytes >= limits.maxCachedBytes) return { pause: true, reason: "size" };
    if (limits.maxSpan > 0 && this.held > 0) {
      const first = this.firstOffset()!;
      if (this.maxOffset - first > limits.maxSpan) return { pause: true, reason: "span" };
    }
    return { pause: false };
  }
}
