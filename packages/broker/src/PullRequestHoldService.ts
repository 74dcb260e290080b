import type { Connection } from "@tidemq/remoting";

/** One parked pull. */
export interface HeldPull {
  readonly key: string;
  readonly conn: Connection;
  /** Offset the pull asked for: an arrival moving maxOffset past it wakes the pull. */
  readonly pullFromOffset: number;
  readonly deadline: number;
  /** Re-executes the pull (once). */
  readonly resume: (reason: "arrival" | "timeout") => void;
  /** Gives up without answering (connection closed, broker stopping). */
  readonly cancel: () => void;
  done: boolean;
}

export interface PullRequestHoldServiceOptions {
  /** Most pulls parked at once; beyond it a pull is answered at once instead of parked. */
  maxHeld: number;
  now?: () => number;
}

export function pullKey(topic: string, queueId: number): string {
  return `${topic}@${queueId}`;
}

/**
 * Long polling (spec §4.3, §8.7): pulls that found nothing wait here under `topic@queueId`
 * until a message lands in that queue (the store's arrival notice wakes them — no polling
 * timer) or their hold time ends. Deadlines sit in one min-heap served by a single timer
 * armed for the earliest one, so thousands of parked pulls cost one timer.
 */
export class PullRequestHoldService {
  private readonly byKey = new Map<string, Set<HeldPull>>();
  private readonly byConn = new Map<Connection, Set<HeldPull>>();
  private heap: HeldPull[] = [];
  private held = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: PullRequestHoldServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.held;
  }

  /** Parks a pull; false when the service is full or stopped (the caller answers at once). */
  hold(
    topic: string,
    queueId: number,
    pullFromOffset: number,
    holdMs: number,
    conn: Connection,
    resume: HeldPull["resume"],
    cancel: HeldPull["cancel"],
  ): boolean {
    if (this.stopped || conn.closed || this.held >= this.options.maxHeld) return false;
    const item: HeldPull = {
      key: pullKey(topic, queueId),
      conn,
      pullFromOffset,
      deadline: this.now() + holdMs,
      resume,
      cancel,
      done: false,
    };
    let set = this.byKey.get(item.key);
    if (!set) {
      set = new Set();
      this.byKey.set(item.key, set);
    }
    set.add(item);
    let connSet = this.byConn.get(conn);
    if (!connSet) {
      connSet = new Set();
      this.byConn.set(conn, connSet);
      conn.onClose(() => this.dropConnection(conn));
    }
    connSet.add(item);
    this.held++;
    heapPush(this.heap, item);
    this.armTimer();
    return true;
  }

  /** The store's arrival notice: wakes every pull on the queue that the new maxOffset satisfies. */
  notifyMessageArriving(topic: string, queueId: number, maxOffset: number): number {
    const set = this.byKey.get(pullKey(topic, queueId));
    if (!set) return 0;
    let woken = 0;
    // No copy of the set (this runs on every dispatch): deleting the visited entry is safe
    // in a Set iteration, and a woken pull re-executes asynchronously, never re-parking here.
    for (const item of set) {
      if (maxOffset > item.pullFromOffset) {
        this.remove(item);
        woken++;
        item.resume("arrival");
      }
    }
    return woken;
  }

  /** Answers every expired pull; re-arms the timer for the next deadline. */
  expire(): number {
    const now = this.now();
    let expired = 0;
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (top.done) {
        heapPop(this.heap);
        continue;
      }
      if (top.deadline > now) break;
      heapPop(this.heap);
      this.remove(top);
      expired++;
      top.resume("timeout");
    }
    this.armTimer();
    return expired;
  }

  /** Cancels every parked pull and stops the timer. */
  shutdown(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const set of this.byKey.values()) {
      for (const item of set) {
        item.done = true;
        item.cancel();
      }
    }
    this.byKey.clear();
    this.byConn.clear();
    this.heap = [];
    this.held = 0;
  }

  private dropConnection(conn: Connection): void {
    const set = this.byConn.get(conn);
    this.byConn.delete(conn);
    if (!set) return;
    for (const item of set) {
      if (item.done) continue;
      this.remove(item);
      item.cancel();
    }
  }

  private remove(item: HeldPull): void {
    if (item.done) return;
    item.done = true;
    this.held--;
    const set = this.byKey.get(item.key);
    if (set) {
      set.delete(item);
      if (set.size === 0) this.byKey.delete(item.key);
    }
    const connSet = this.byConn.get(item.conn);
    if (connSet) connSet.delete(item);
    // Done items stay in the heap until they surface; rebuild when they dominate it.
    if (this.heap.length > 64 && this.heap.length > this.held * 2) {
      this.heap = this.heap.filter((h) => !h.done);
      heapify(this.heap);
    }
  }

  private armTimer(): void {
    while (this.heap.length > 0 && this.heap[0]!.done) heapPop(this.heap);
    const next = this.heap[0]?.deadline;
    if (next === undefined) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.expire();
      },
      Math.max(0, next - this.now()),
    );
    this.timer.unref();
  }
}

// ---- a small binary min-heap on deadline ----
function heapPush(h: HeldPull[], item: HeldPull): void {
  h.push(item);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]!.deadline <= h[i]!.deadline) break;
    [h[p], h[i]] = [h[i]!, h[p]!];
    i = p;
  }
}

function heapPop(h: HeldPull[]): HeldPull | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length > 0 && last) {
    h[0] = last;
    siftDown(h, 0);
  }
  return top;
}

function siftDown(h: HeldPull[], start: number): void {
  let i = start;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && h[l]!.deadline < h[m]!.deadline) m = l;
    if (r < h.length && h[r]!.deadline < h[m]!.deadline) m = r;
    if (m === i) return;
    [h[m], h[i]] = [h[i]!, h[m]!];
    i = m;
  }
}

function heapify(h: HeldPull[]): void {
  for (let i = (h.length >> 1) - 1; i >= 0; i--) siftDown(h, i);
}
