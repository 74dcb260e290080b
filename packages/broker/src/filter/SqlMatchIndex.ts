import { StoredMessage } from "@tidemq/protocol";
import type { MessageStore } from "@tidemq/store";
import { MatchBits } from "./MatchBits.js";
import { RawProperties } from "./RawProperties.js";
import type { Sql92Filter } from "./sql92/index.js";

/** The store calls the index uses. */
export type IndexedStore = Pick<MessageStore, "getMessage" | "getMaxOffsetInQueue" | "onMessageArrived">;

export interface SqlMatchIndexOptions {
  /**
   * Offsets remembered per (queue, expression): 1 bit each, the newest kept (default 2^21 =
   * 256 KiB: a consumer up to 2 M messages behind is served from the bits; with maxTracked
   * 256, at most 64 MiB in all). Bits grow as messages arrive: 256 B to start.
   */
  maxBitsPerExpression?: number;
  /** An expression no pull used for this long, and no heartbeat declares, is no longer evaluated, ms. */
  idleMs?: number;
  /** Most (queue, expression) pairs followed; beyond, the least recently pulled (or declared) goes first. */
  maxTracked?: number;
  /**
   * Whether this broker answers pulls on the queue (its topic config: readable, queueId below
   * readQueueNums). A followed topic's queue it does not serve is not followed when messages
   * arrive on it. Default: every queue.
   */
  serves?: (topic: string, queueId: number) => boolean;
}

/** Messages read per catch-up step. */
const STEP = 256;

interface Tracked {
  readonly filter: Sql92Filter;
  readonly bits: MatchBits;
  lastUsed: number;
}

interface QueueEntry {
  readonly topic: string;
  readonly queueId: number;
  readonly tracked: Map<string, Tracked>;
  running: boolean;
  /** The catch-up under way (settled() awaits it rather than polling). */
  pending: Promise<void> | undefined;
}

/**
 * SQL92 subscriptions evaluated once per message as messages arrive, not on every pull: for
 * each queue an SQL92 consumer pulls, each expression's match bits (MatchBits) are extended
 * in queue order from the record bytes (RawProperties, as the pull path reads them), in one
 * pass for all of the queue's expressions. A pull over covered offsets then reads only the
 * consume queue for the others and the commit log only for the matches — the cost of a tag
 * filter — instead of reading and evaluating every stored message (RocketMQ: the bloom
 * filter of matching groups in the consume-queue extension, written at dispatch).
 *
 * An expression is followed from the heartbeat that declares it (follow(), wired by
 * followSqlSubscriptions) or, failing that, from the first pull that uses it, in both cases
 * from the queue's end at that time; messages stored before, and all messages stored before
 * a restart (the bits are in memory only), are not covered and a pull evaluates them as
 * without the index. The bits only ever skip
 * offsets known not to match: everything a pull delivers is evaluated again (sqlPull).
 */
export class SqlMatchIndex {
  private readonly queues = new Map<string, Map<number, QueueEntry>>();
  private readonly maxBits: number;
  private readonly idleMs: number;
  private readonly maxTracked: number;
  private readonly serves: (topic: string, queueId: number) => boolean;
  private trackedCount = 0;
  /** topic → expression → filter: subscriptions consumers declared by heartbeat (follow()). */
  private readonly followed = new Map<string, Map<string, Sql92Filter>>();
  private readonly props = new RawProperties();
  /** Messages evaluated by catch-up (diagnostics, bench). */
  evaluated = 0;

  constructor(
    private readonly store: IndexedStore,
    o: SqlMatchIndexOptions = {},
  ) {
    this.maxBits = o.maxBitsPerExpression ?? 1 << 21;
    this.idleMs = o.idleMs ?? 10 * 60_000;
    this.maxTracked = o.maxTracked ?? 256;
    this.serves = o.serves ?? (() => true);
    store.onMessageArrived(this.arrived);
  }

  /**
   * The match bits of `filter` on (topic, queueId), followed from now on: from the queue's
   * end, or from `from` (a bench or test indexing what is already stored). Marks it used.
   */
  track(topic: string, queueId: number, filter: Sql92Filter, from?: number, now = Date.now()): MatchBits {
    const q = this.queue(topic, queueId);
    let t = q.tracked.get(filter.expression);
    if (t === undefined) {
      if (this.trackedCount >= this.maxTracked) this.dropLeastUsed();
      const start = from ?? this.store.getMaxOffsetInQueue(topic, queueId);
      t = { filter, bits: new MatchBits(start, this.maxBits), lastUsed: now };
      q.tracked.set(filter.expression, t);
      this.trackedCount++;
      if (start < this.store.getMaxOffsetInQueue(topic, queueId)) this.catchUp(q);
    }
    t.lastUsed = now;
    return t.bits;
  }

  /**
   * A subscription a consumer declared (HEART_BEAT): its bits fill from now on for each of
   * `queueIds` (the topic's queues; a queue that appears later is followed from its first
   * arrival), and are not dropped for want of pulls, only by unfollow() or the bound.
   */
  follow(topic: string, filter: Sql92Filter, queueIds: readonly number[], now = Date.now()): void {
    let byExpression = this.followed.get(topic);
    if (byExpression === undefined) {
      byExpression = new Map();
      this.followed.set(topic, byExpression);
    }
    if (byExpression.has(filter.expression)) return;
    byExpression.set(filter.expression, filter);
    for (const queueId of queueIds) this.track(topic, queueId, filter, undefined, now);
  }

  /** No consumer declares the subscription any more: its bits go (a later pull tracks it again). */
  unfollow(topic: string, expression: string): void {
    const byExpression = this.followed.get(topic);
    if (byExpression?.delete(expression) !== true) return;
    if (byExpression.size === 0) this.followed.delete(topic);
    for (const q of this.queues.get(topic)?.values() ?? []) {
      if (q.tracked.delete(expression)) this.trackedCount--;
    }
  }

  /** Whether the bits of (topic, queueId, expression) are kept now (tests, diagnostics). */
  bitsOf(topic: string, queueId: number, expression: string): MatchBits | undefined {
    return this.queues.get(topic)?.get(queueId)?.tracked.get(expression)?.bits;
  }

  /** (queue, expression) pairs followed now; at most maxTracked. */
  get size(): number {
    return this.trackedCount;
  }

  /** Resolves once every followed queue has evaluated what is stored now (bench, tests). */
  async settled(): Promise<void> {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const running: Promise<void>[] = [];
      for (const byQueue of this.queues.values())
        for (const q of byQueue.values()) {
          if (!q.running && this.behind(q)) this.catchUp(q);
          if (q.pending !== undefined) running.push(q.pending);
        }
      if (running.length === 0) return;
      // Awaited, not polled: a setImmediate loop would spin the CPU while reads are under way.
      await Promise.all(running);
    }
  }

  private queue(topic: string, queueId: number): QueueEntry {
    let byQueue = this.queues.get(topic);
    if (byQueue === undefined) {
      byQueue = new Map();
      this.queues.set(topic, byQueue);
    }
    let q = byQueue.get(queueId);
    if (q === undefined) {
      q = { topic, queueId, tracked: new Map(), running: false, pending: undefined };
      byQueue.set(queueId, q);
    }
    return q;
  }

  private readonly arrived = (topic: string, queueId: number): void => {
    let q = this.queues.get(topic)?.get(queueId);
    const followed = this.followed.get(topic);
    if (q === undefined && followed !== undefined && this.serves(topic, queueId)) {
      // A queue of a followed topic seen for the first time (the topic or queue was made
      // after the heartbeat): followed from here; what arrived before is evaluated by pulls.
      // Not a queue no pull can reach here (beyond readQueueNums): it would only take a pair.
      for (const filter of followed.values()) this.track(topic, queueId, filter);
      q = this.queues.get(topic)?.get(queueId);
    }
    if (q === undefined || q.running) return;
    const now = Date.now();
    for (const [expression, t] of q.tracked) {
      if (now - t.lastUsed > this.idleMs && followed?.has(expression) !== true) {
        q.tracked.delete(expression);
        this.trackedCount--;
      }
    }
    if (q.tracked.size === 0) {
      this.queues.get(topic)?.delete(queueId);
      return;
    }
    this.catchUp(q);
  };

  private behind(q: QueueEntry): boolean {
    const max = this.store.getMaxOffsetInQueue(q.topic, q.queueId);
    for (const t of q.tracked.values()) if (t.bits.end < max) return true;
    return false;
  }

  private catchUp(q: QueueEntry): void {
    if (q.running) return;
    q.running = true;
    q.pending = this.run(q)
      .catch(() => {
        // The store is shut down or a read failed: what is covered stays right; the next
        // arrival tries again, and pulls evaluate what is not covered.
      })
      .finally(() => {
        q.running = false;
        q.pending = undefined;
      });
  }

  /** Extends every expression of the queue up to the queue's end, one read per step for all. */
  private async run(q: QueueEntry): Promise<void> {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const max = this.store.getMaxOffsetInQueue(q.topic, q.queueId);
      let from = Number.POSITIVE_INFINITY;
      for (const t of q.tracked.values()) if (t.bits.end < from) from = t.bits.end;
      if (!(from < max)) return;
      const r = await this.store.getMessage(q.topic, q.queueId, from, STEP);
      if (r.status === "OFFSET_TOO_SMALL") {
        // The queue's start moved past these offsets: start again where it is now.
        for (const t of q.tracked.values())
          if (t.bits.end < r.nextBeginOffset) t.bits.restart(r.nextBeginOffset);
        continue;
      }
      if (r.status !== "FOUND" && r.status !== "MESSAGE_WAS_REMOVING") return;
      const list = [...q.tracked.values()];
      const props = this.props;
      let pos = 0;
      for (let i = 0; i < r.messageCount; i++) {
        const record = new StoredMessage(r.body, pos);
        const size = record.storeSize;
        const queueOffset = r.queueOffsets[i]!;
        props.reset(r.body, record.propertiesStart, pos + size);
        for (const t of list) {
          const bits = t.bits;
          if (bits.end > queueOffset) continue; // already known (started later than `from`)
          bits.skipTo(queueOffset); // entries the store skipped: no longer in the log
          let match = false;
          try {
            match = t.filter.matches(props.get);
          } catch {
            // Not an evaluation error (matches() answers false for those): a candidate, so
            // the pull evaluates it again and answers as it would without the index.
            match = true;
          }
          bits.push(match);
        }
        pos += size;
        this.evaluated++;
      }
      for (const t of list) if (t.bits.end >= from) t.bits.skipTo(r.nextBeginOffset);
    }
  }

  private dropLeastUsed(): void {
    let oldest: { q: QueueEntry; expression: string; at: number } | undefined;
    for (const byQueue of this.queues.values())
      for (const q of byQueue.values())
        for (const [expression, t] of q.tracked)
          if (oldest === undefined || t.lastUsed < oldest.at) oldest = { q, expression, at: t.lastUsed };
    if (oldest === undefined) return;
    oldest.q.tracked.delete(oldest.expression);
    this.trackedCount--;
  }
}

const indexes = new WeakMap<object, SqlMatchIndex>();
/** The bounds a broker set for its store's index (configureSqlMatchIndex), used when it is made. */
const configured = new WeakMap<object, SqlMatchIndexOptions>();

/**
 * The bounds of the store's index when it is made (the broker's sqlMatchIndexMaxPairs /
 * sqlMatchIndexBitsPerPair); `maxTracked: 0` turns it off (activeSqlMatchIndexOf answers
 * undefined, pulls evaluate as they read). Call before the first pull or heartbeat.
 */
export function configureSqlMatchIndex(store: IndexedStore, options: SqlMatchIndexOptions): void {
  configured.set(store, options);
}

/** The store's index, or undefined when its broker turned it off (0 pairs). */
export function activeSqlMatchIndexOf(store: IndexedStore): SqlMatchIndex | undefined {
  if (configured.get(store)?.maxTracked === 0) return undefined;
  return sqlMatchIndexOf(store);
}

/** The store's SQL92 match index (one per store, made on first use, with `options` then). */
export function sqlMatchIndexOf(store: IndexedStore, options?: SqlMatchIndexOptions): SqlMatchIndex {
  let index = indexes.get(store);
  if (index === undefined) {
    index = new SqlMatchIndex(store, options ?? configured.get(store));
    indexes.set(store, index);
  }
  return index;
}
