import { decodeMessage, type MessageExt, ResponseCode, TideMQError } from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { fail } from "../processors/responses.js";
import { type Decision, step } from "./HalfLifecycle.js";
import type { HalfTable, Pending } from "./HalfTable.js";
import { copyRecord, type HalfInfo, opRecord } from "./TransactionRecords.js";

/**
 * Stores decisions (commit, rollback, discard) for END_TRANSACTION and the check-back: the copy
 * and the op record of each as one append, the appends of one loop turn as one write.
 */
export class DecisionWriter {
  private appendQueue: Array<{ inputs: MessageInput[]; resolve: () => void; reject: (e: Error) => void }> =
    [];

  constructor(
    private readonly ctx: BrokerContext,
    private readonly table: HalfTable,
  ) {}

  /**
   * Stores a decision as one append (the copy and its op record together, so a crash keeps
   * both or neither), then moves the half out of the pending table.
   */
  async write(p: Pending, decision: Decision): Promise<void> {
    const offset = p.info.queueOffset;
    try {
      const inputs: MessageInput[] = [];
      if (decision === "commit") {
        const half = p.record ?? (await this.readHalf(p.info));
        inputs.push(copyRecord(half, decision));
      } else if (decision === "discard") {
        // A half retention already removed is discarded by its op record alone.
        const half = p.record ?? (await this.readHalf(p.info).catch(() => undefined));
        if (half) inputs.push(copyRecord(half, decision));
      }
      inputs.push(opRecord(offset, decision, this.table.host, Date.now()));
      await this.append(inputs);
    } catch (err) {
      this.failed(p);
      throw notStored(offset, decision, err);
    }
    this.stored(p);
  }

  /**
   * Several decisions whose halves are at hand (`p.record` for a commit or discard; a
   * rollback needs none), as write() stores each but with one append and one promise for all
   * (END_TRANSACTION_BATCH: no promise chain per half). Each decision's records stay
   * adjacent. Rejects with the append's error, after marking every one not stored.
   */
  writeAll(items: ReadonlyArray<{ p: Pending; decision: Decision }>): Promise<void> {
    const inputs: MessageInput[] = [];
    const now = Date.now();
    for (const { p, decision } of items) {
      if (decision !== "rollback" && p.record) inputs.push(copyRecord(p.record, decision));
      inputs.push(opRecord(p.info.queueOffset, decision, this.table.host, now));
    }
    return this.append(inputs).then(
      () => {
        for (const it of items) this.stored(it.p);
      },
      (err: unknown) => {
        for (const it of items) this.failed(it.p);
        throw err;
      },
    );
  }

  private stored(p: Pending): void {
    p.record = undefined;
    p.state = step(p.state, { kind: "written", ok: true }).next;
    this.table.pending.delete(p.info.queueOffset);
    this.table.remember(p.info.queueOffset, p.state.status);
  }

  private failed(p: Pending): void {
    p.record = undefined;
    p.state = step(p.state, { kind: "written", ok: false }).next;
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
   * write): each decision's records stay adjacent, and the store takes all or none.
   */
  private append(inputs: MessageInput[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.appendQueue.push({ inputs, resolve, reject });
      // After this loop iteration's I/O callbacks: the decisions whose reads completed together share a write.
      if (this.appendQueue.length === 1) setImmediate(() => this.flushAppends());
    });
  }

  private flushAppends(): void {
    const batch = this.appendQueue;
    this.appendQueue = [];
    const all = batch.length === 1 ? batch[0]!.inputs : batch.flatMap((b) => b.inputs);
    this.table.putRecords(all).then(
      () => {
        for (const b of batch) b.resolve();
      },
      (err: Error) => {
        for (const b of batch) b.reject(err);
      },
    );
  }
}

/** The error a decision whose append failed answers with (the append's code when it has one). */
export function notStored(offset: number, decision: Decision, err: unknown): TideMQError {
  const code = err instanceof TideMQError ? err.code : ResponseCode.SYSTEM_ERROR;
  return new TideMQError(
    code,
    `the ${decision} of the half message at queue offset ${offset} was not stored: ${(err as Error).message}`,
  );
}
