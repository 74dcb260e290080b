import { decodeMessages, type MessageExt } from "@tidemq/protocol";
import type { MessageInput, PutResult, RecordCopy } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import { FRESH_PENDING, type HalfState, type HalfStatus } from "./HalfLifecycle.js";
import { HALF_QUEUE_ID } from "./HalfMessage.js";
import type { HalfRecord } from "./RecentHalves.js";
import { RESOLVED_REMEMBERED, ResolvedHalves } from "./ResolvedHalves.js";
import { OpProgress } from "./TransactionCheckpoint.js";
import { type HalfInfo, halfInfoOf } from "./TransactionRecords.js";

/** Records read per store call while scanning the half and op queues. */
const SCAN_BATCH = 256;

/**
 * A half nobody has decided yet, with its place in the HalfLifecycle machine. It is its own
 * HalfInfo (`info` is the same object): one object per pending half, made straight from the
 * half record (a transaction used to make a HalfInfo and a Pending holding it).
 */
export class Pending implements HalfInfo {
  /** A pending half is its own END_TRANSACTION look-up result (no wrapper object per half). */
  readonly kind = "pending" as const;
  /** The half as read by the END_TRANSACTION that found it (saves a second read for its copy). */
  record: HalfRecord | undefined = undefined;

  constructor(
    readonly queueOffset: number,
    readonly commitLogOffset: number,
    readonly storeTimestamp: number,
    readonly group: string,
    readonly realTopic: string,
    readonly realQueueId: number,
    readonly uniqKey: string | undefined,
    readonly immunityMs: number | undefined,
    public state: HalfState,
  ) {}

  /** What the service knows of the half: this object. */
  get info(): HalfInfo {
    return this;
  }

  /** A pending half in `state` for what is known of it (start-up: from the checkpoint or log). */
  static of(i: HalfInfo, state: HalfState): Pending {
    return new Pending(
      i.queueOffset,
      i.commitLogOffset,
      i.storeTimestamp,
      i.group,
      i.realTopic,
      i.realQueueId,
      i.uniqKey,
      i.immunityMs,
      state,
    );
  }
}

/** halfInfoOf's maker for a fresh pending half. */
function freshPending(
  queueOffset: number,
  commitLogOffset: number,
  storeTimestamp: number,
  group: string,
  realTopic: string,
  realQueueId: number,
  uniqKey: string | undefined,
  immunityMs: number | undefined,
): Pending {
  return new Pending(
    queueOffset,
    commitLogOffset,
    storeTimestamp,
    group,
    realTopic,
    realQueueId,
    uniqKey,
    immunityMs,
    FRESH_PENDING,
  );
}

/**
 * What the transaction service knows, shared by its parts (start-up rebuild, END_TRANSACTION,
 * check-back, checkpoint, status): the pending and resolved halves, how far the half queue has
 * been read, which op records are reflected, and the appends and tasks still under way. Kept in
 * one place so every part sees one truth; the parts hold the logic that changes it.
 */
export class HalfTable {
  readonly pending = new Map<number, Pending>();
  readonly resolved = new ResolvedHalves(RESOLVED_REMEMBERED, () => {
    // Only halves the scan has passed may be forgotten; first step it over the known ones.
    if (!this.scanning) this.passKnown();
    return this.halfScanned;
  });
  /** Every half below this queue offset has been read (it is pending or resolved). */
  halfScanned = 0;
  /** Which op records are reflected in memory (for the checkpoint). */
  readonly ops: OpProgress;
  stopped = false;
  /** This broker's address, written into the op records it stores. */
  readonly host: { host: string; port: number };
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly ctx: BrokerContext) {
    const i = ctx.brokerAddr.lastIndexOf(":");
    this.host = { host: ctx.brokerAddr.slice(0, i), port: Number(ctx.brokerAddr.slice(i + 1)) };
    this.ops = new OpProgress((offset) =>
      ctx.logger.warn(
        `transactions: op records not written by this broker lie above op-queue offset ${offset}; the checkpoint keeps that offset until a restart`,
      ),
    );
  }

  /** Remembers a task so stop() can wait for it. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Settles once every tracked task has. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /**
   * Calls `each` for every record of queue 0 of `topic` from `from`; returns the next offset.
   * Records at offsets `skip` names are not read at all (runs of them are stepped over).
   */
  async scan(
    topic: string,
    from: number,
    each: (m: MessageExt) => void,
    skip?: (offset: number) => boolean,
  ): Promise<number> {
    const { store } = this.ctx;
    let offset = Math.max(from, store.getMinOffsetInQueue(topic, HALF_QUEUE_ID));
    const end = store.getMaxOffsetInQueue(topic, HALF_QUEUE_ID);
    while (offset < end) {
      let count = SCAN_BATCH;
      if (skip) {
        while (offset < end && skip(offset)) offset++;
        if (offset >= end) break;
        count = 1;
        while (count < SCAN_BATCH && offset + count < end && !skip(offset + count)) count++;
      }
      const r = await store.getMessage(topic, HALF_QUEUE_ID, offset, count);
      if (r.status === "FOUND") {
        for (const m of decodeMessages(r.body)) each(m);
      }
      if (r.nextBeginOffset <= offset) break;
      offset = r.nextBeginOffset;
    }
    return offset;
  }

  /** Reads halves stored since the last scan (serialized; a call during a scan runs one more). */
  catchUp(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    const run = async (): Promise<void> => {
      do {
        this.rescan = false;
        // Halves END_TRANSACTION already found (pending or resolved) are not read again: under
        // load that is nearly all of them, and reading each back cost a decode per transaction.
        this.halfScanned = await this.scan(
          TRANS_HALF_TOPIC,
          this.halfScanned,
          (m) => this.addHalf(m),
          (offset) => this.pending.has(offset) || this.resolved.has(offset),
        );
      } while (this.rescan && !this.stopped);
    };
    this.scanning = run().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  addHalf(m: HalfRecord): Pending | undefined {
    // halfInfoOf's queue offset is the record's: known ones are passed before anything is made.
    if (this.pending.has(m.queueOffset) || this.resolved.has(m.queueOffset)) return undefined;
    const p = halfInfoOf(m, freshPending);
    if (p) this.pending.set(p.queueOffset, p);
    return p;
  }

  /**
   * Remembers a resolved half. Only halves the scan has passed may be forgotten (a later scan
   * would take a forgotten one for pending); past the cap a scan is started to move on.
   */
  remember(offset: number, status: HalfStatus): void {
    this.resolved.set(offset, status);
    if (this.resolved.size > RESOLVED_REMEMBERED && !this.scanning && !this.stopped) {
      this.track(this.catchUp()).catch((err: Error) =>
        this.ctx.logger.error(`transactions: reading half messages failed: ${err.message}`),
      );
    }
  }

  /**
   * Moves halfScanned over the halves already known (pending or resolved) without reading
   * them; not while a scan runs (it sets halfScanned when done).
   */
  private passKnown(): void {
    const end = this.ctx.store.getMaxOffsetInQueue(TRANS_HALF_TOPIC, HALF_QUEUE_ID);
    let h = this.halfScanned;
    while (h < end && (this.pending.has(h) || this.resolved.has(h))) h++;
    this.halfScanned = h;
  }

  known(offset: number): Pending | { kind: "resolved"; status: HalfStatus } | undefined {
    const p = this.pending.get(offset);
    if (p) return p;
    const s = this.resolved.get(offset);
    if (s) return { kind: "resolved", status: s };
    return undefined;
  }

  /** Appends records of this service (op records among them), noting the op records' queue offsets. */
  putRecords(inputs: ReadonlyArray<MessageInput | RecordCopy>): Promise<PutResult[]> {
    this.ops.writes++;
    // Decisions free the segments unresolved halves keep: taken on a full disk too (store reserve).
    // Nobody reads these records' msgIds (a copy is found by its UNIQ_KEY): none are made.
    return this.ctx.store.putMessagesBatch(inputs, { reserve: true, msgIds: false }).then(
      (results) => {
        this.ops.writes--;
        for (let i = 0; i < inputs.length; i++) {
          if (inputs[i]!.topic === TRANS_OP_HALF_TOPIC) this.ops.written(results[i]!.queueOffset);
        }
        return results;
      },
      (err: unknown) => {
        this.ops.writes--;
        throw err;
      },
    );
  }
}
