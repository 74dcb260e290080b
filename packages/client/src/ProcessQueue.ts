/**
 * Messages pulled from one queue and not yet consumed (RocketMQ's ProcessQueue). Pure state:
 * the pull loop puts, consumption removes, and the offset to commit is always the smallest
 * offset still held, so a crash redelivers rather than loses (at-least-once).
 */
export interface CachedMessage {
  queueOffset: number;
  body: Buffer;
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

export class ProcessQueue<T extends CachedMessage = CachedMessage> {
  private readonly msgs = new Map<number, T>();
  private bytes = 0;
  private maxOffset = -1;
  dropped = false;
  lastPullTimestamp = Date.now();
  lastConsumeTimestamp = Date.now();

  get count(): number {
    return this.msgs.size;
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
      if (this.msgs.has(m.queueOffset)) {
        added ??= messages.slice(0, i);
        continue;
      }
      this.msgs.set(m.queueOffset, m);
      this.bytes += m.body.length;
      if (m.queueOffset > this.maxOffset) this.maxOffset = m.queueOffset;
      added?.push(m);
    }
    return added ?? messages;
  }

  has(offset: number): boolean {
    return this.msgs.has(offset);
  }

  get(offset: number): T | undefined {
    return this.msgs.get(offset);
  }

  /** Messages held, in offset order. */
  values(): IterableIterator<T> {
    return this.msgs.values();
  }

  /** Smallest offset held, or undefined. Map order is insertion order and pulls ascend, so the first key is usually it. */
  firstOffset(): number | undefined {
    let min: number | undefined;
    for (const k of this.msgs.keys()) {
      if (min === undefined) min = k;
      else if (k < min) min = k;
      else break;
    }
    return min;
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
    const m = this.msgs.get(offset);
    if (!m) return;
    this.msgs.delete(offset);
    this.bytes -= m.body.length;
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
    this.msgs.clear();
    this.bytes = 0;
  }

  /** Whether the pull loop should wait before pulling again (Java DefaultMQPushConsumerImpl.pullMessage). */
  flowControl(limits: FlowControlLimits): FlowControlDecision {
    if (this.msgs.size >= limits.maxCachedMessages) return { pause: true, reason: "count" };
    if (this.bytes >= limits.maxCachedBytes) return { pause: true, reason: "size" };
    if (limits.maxSpan > 0 && this.msgs.size > 0) {
      const first = this.firstOffset()!;
      if (this.maxOffset - first > limits.maxSpan) return { pause: true, reason: "span" };
    }
    return { pause: false };
  }
}
