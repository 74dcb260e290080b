import { decodeMessage, type MessageExt, ResponseCode, TideMQError } from "@tidemq/protocol";
import type { MessageInput, RecordCopy } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { fail } from "../processors/responses.js";
import { type Decision, type HalfEvent, step } from "./HalfLifecycle.js";
import type { HalfTable, Pending } from "./HalfTable.js";
import { commitCopyOf, copyRecord, type HalfInfo, opRecords } from "./TransactionRecords.js";

const WRITTEN_OK: HalfEvent = Object.freeze({ kind: "written", ok: true });
const WRITTEN_FAILED: HalfEvent = Object.freeze({ kind: "written", ok: false });

/** Decisions waiting for this turn's append: their copies, and the halves their op records name. */
interface QueuedAppend {
  copies: Array<MessageInput | RecordCopy>;
  /** The halves decided (queue offsets) and their decisions, side by side. */
  offsets: readonly number[];
  decisions: readonly Decision[];
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * Stores decisions (commit, rollback, discard) for END_TRANSACTION and the check-back: the
 * decisions of one loop turn as one append — every copy, then one op record per kind of
 * decision naming all their halves (opRecords). The op records come last, so one on disk
 * means the copies before it are too: a write torn by power loss loses op records first, and
 * a copy left without its op record is found by start-up (StartupRebuild's copy look-up).
 */
export class DecisionWriter {
  private appendQueue: QueuedAppend[] = [];

  constructor(
    private readonly ctx: BrokerContext,
    private readonly table: HalfTable,
  ) {}

  /**
   * Stores a decision as one append (the copy and its op record together, so a crash keeps
   * both or neither), then moves the half out of the pending table.
   */
  async write(p: Pending, decision: Decision): Promise<void> {
    const offset = p.queueOffset;
    try {
      const copies: Array<MessageInput | RecordCopy> = [];
      if (decision === "commit") {
        const half = p.record ?? (await this.readHalf(p.info));
        copies.push(commitCopyOf(half));
      } else if (decision === "discard") {
        // A half retention already removed is discarded by its op record alone.
        const half = p.record ?? (await this.readHalf(p.info).catch(() => undefined));
        if (half) copies.push(copyRecord(half, decision));
      }
      await this.append(copies, [offset], [decision]);
    } catch (err) {
      this.failed(p);
      throw notStored(offset, decision, err);
    }
    this.stored(p);
  }

  /**
   * Several decisions whose halves are at hand (`p.record` for a commit or discard; a
   * rollback needs none), each the one its half is resolving to (state.resolving), as write()
   * stores each but with one append and one promise for all (END_TRANSACTION_BATCH: no
   * promise chain per half). Rejects with the append's error, after marking every one not stored.
   */
  writeAll(items: readonly Pending[]): Promise<void> {
    const copies: Array<MessageInput | RecordCopy> = [];
    const offsets: number[] = new Array(items.length);
    const decisions: Decision[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const p = items[i]!;
      const decision = p.state.resolving!;
      if (decision === "commit" && p.record) copies.push(commitCopyOf(p.record));
      else if (decision === "discard" && p.record) copies.push(copyRecord(p.record, decision));
      offsets[i] = p.queueOffset;
      decisions[i] = decision;
    }
    return this.append(copies, offsets, decisions).then(
      () => {
        for (const p of items) this.stored(p);
      },
      (err: unknown) => {
        for (const p of items) this.failed(p);
        throw err;
      },
    );
  }

  private stored(p: Pending): void {
    p.record = undefined;
    p.state = step(p.state, WRITTEN_OK).next;
    this.table.pending.delete(p.queueOffset);
    this.table.remember(p.queueOffset, p.state.status);
  }

  private failed(p: Pending): void {
    p.record = undefined;
    p.state = step(p.state, WRITTEN_FAILED).next;
  }

  /** The half itself, read at its commit-log offset (for its copy or a check-back). */
  async readHalf(info: HalfInfo): Promise<MessageExt> {
    const rec = await this.ctx.store.lookMessageByOffset(info.commitLogOffset);
    if (!rec) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `the half message at commit-log offset ${info.commitLogOffset} is no longer in the commit log (retention removed it)`,
      );
    }
    return decodeMessage(rec);
  }

  /**
   * Appends the records of every decision taken in this turn with one putMessagesBatch (one
   * write): the copies, then the op records (see the class comment); the store takes all or none.
   */
  private append(
    copies: Array<MessageInput | RecordCopy>,
    offsets: readonly number[],
    decisions: readonly Decision[],
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      this.appendQueue.push({ copies, offsets, decisions, resolve, reject });
      // After this loop iteration's I/O callbacks: the decisions whose reads completed together share a write.
      if (this.appendQueue.length === 1) setImmediate(() => this.flushAppends());
    });
  }

  private flushAppends(): void {
    const batch = this.appendQueue;
    this.appendQueue = [];
    this.table.putRecords(decisionRecords(batch, this.table.host, Date.now())).then(
      () => {
        for (const b of batch) b.resolve();
      },
      (err: Error) => {
        for (const b of batch) b.reject(err);
      },
    );
  }
}

/**
 * The records of a turn's decisions: every copy, then the op records, one run per kind of
 * decision. Takes over the copies array of a lone append.
 */
export function decisionRecords(
  batch: ReadonlyArray<Pick<QueuedAppend, "copies" | "offsets" | "decisions">>,
  host: { host: string; port: number },
  now: number,
): Array<MessageInput | RecordCopy> {
  const only = batch.length === 1 ? batch[0]! : undefined;
  if (only?.decisions.every((d) => d === only.decisions[0])) {
    // One END_TRANSACTION_BATCH of one kind of decision (the usual turn): its own arrays serve
    // (its copies array becomes the records: nothing else reads it once queued).
    const out = only.copies;
    if (only.offsets.length > 0) {
      for (const r of opRecords(only.offsets, only.decisions[0]!, host, now)) out.push(r);
    }
    return out;
  }
  const out: Array<MessageInput | RecordCopy> = [];
  for (const b of batch) for (const c of b.copies) out.push(c);
  const byKind = new Map<Decision, number[]>();
  for (const b of batch) {
    for (let i = 0; i < b.offsets.length; i++) {
      const decision = b.decisions[i]!;
      const list = byKind.get(decision);
      if (list) list.push(b.offsets[i]!);
      else byKind.set(decision, [b.offsets[i]!]);
    }
  }
  for (const [decision, offsets] of byKind)
    for (const r of opRecords(offsets, decision, host, now)) out.push(r);
  return out;
}

/** The error a decision whose append failed answers with (the append's code when it has one). */
export function notStored(offset: number, decision: Decision, err: unknown): TideMQError {
  const code = err instanceof TideMQError ? err.code : ResponseCode.SYSTEM_ERROR;
  return new TideMQError(
    code,
    `the ${decision} of the half message at queue offset ${offset} was not stored: ${(err as Error).message}`,
  );
}
