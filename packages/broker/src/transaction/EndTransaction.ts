import {
  createResponse,
  decodeHeader,
  decodeMessage,
  type EndTransactionEntry,
  EndTransactionRequestHeader,
  type EndTransactionResult,
  encodeEndTransactionResults,
  endTransactionEntryCount,
  isOneway,
  type MessageExt,
  MessageSysFlag,
  type RemotingCommand,
  ResponseCode,
  readEndTransactionEntry,
  TideMQError,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { BrokerContext } from "../context.js";
import { fail } from "../processors/responses.js";
import { TRANS_HALF_TOPIC } from "../TopicValidator.js";
import { type DecisionWriter, notStored } from "./DecisionWriter.js";
import { type Decision, type HalfAction, type HalfEvent, type HalfStatus, step } from "./HalfLifecycle.js";
import { HALF_QUEUE_ID } from "./HalfMessage.js";
import type { HalfTable, Pending } from "./HalfTable.js";
import type { HalfRecord, RecentHalves } from "./RecentHalves.js";

/**
 * END_TRANSACTION and END_TRANSACTION_BATCH (spec §5.2): finds the half the producer names,
 * checks it is that producer's, and lets the HalfLifecycle machine say whether the decision is
 * stored, a duplicate, or a conflict with one already taken.
 */
export class EndTransaction {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly table: HalfTable,
    private readonly writer: DecisionWriter,
    /** Halves the send path just stored (END_TRANSACTION then needs no log read). */
    private readonly recent: RecentHalves,
  ) {}

  async endTransaction(req: RemotingCommand, conn: Connection): Promise<RemotingCommand | undefined> {
    try {
      const res = await this.end(req);
      return isOneway(req) ? undefined : res;
    } catch (err) {
      if (!isOneway(req)) throw err;
      // Java producers send END_TRANSACTION oneway: nobody reads an answer, so say it here.
      this.ctx.logger.warn(
        `END_TRANSACTION from ${conn.remoteAddress}:${conn.remotePort} refused: ${(err as Error).message}`,
      );
      return undefined;
    }
  }

  private async end(req: RemotingCommand): Promise<RemotingCommand> {
    const h = decodeHeader(EndTransactionRequestHeader, req.extFields, "END_TRANSACTION");
    const r = await this.decide(h.producerGroup, h);
    if (r.code !== ResponseCode.SUCCESS) fail(r.code, r.remark ?? "END_TRANSACTION refused");
    return createResponse(req, r.code, r.remark);
  }

  /** END_TRANSACTION_BATCH: each entry decided as its own END_TRANSACTION, answered one result each. */
  async endBatch(req: RemotingCommand): Promise<RemotingCommand> {
    const group = req.extFields?.producerGroup;
    if (!group) fail(ResponseCode.SYSTEM_ERROR, "END_TRANSACTION_BATCH without producerGroup");
    let count: number;
    try {
      count = endTransactionEntryCount(req.body);
    } catch (err) {
      fail(ResponseCode.SYSTEM_ERROR, (err as Error).message);
    }
    if (this.ctx.config.brokerRole === "SLAVE") {
      fail(ResponseCode.SLAVE_NOT_AVAILABLE, "a slave broker cannot end transactions");
    }
    const results = await this.decideAll(group, req.body!, count);
    return createResponse(
      req,
      ResponseCode.SUCCESS,
      undefined,
      undefined,
      encodeEndTransactionResults(results),
    );
  }

  /**
   * The entries of one END_TRANSACTION_BATCH, each decided as decide() would. Those whose
   * half is at hand (pending, or just stored by the send path) are settled synchronously and
   * their writes stored with one append and one promise; the rest (a half to read from the
   * log first) go through decide() one by one.
   */
  private async decideAll(group: string, body: Buffer, count: number): Promise<EndTransactionResult[]> {
    const results: Array<EndTransactionResult | Promise<EndTransactionResult>> = new Array(count);
    const writes: Pending[] = [];
    const writeAt: number[] = [];
    // Results that are promises (a half to read first): only then is Promise.all needed.
    let waits = 0;
    // Each entry read into one object in turn (judge keeps nothing of it); one of its own
    // only for an entry that waits for a read.
    const e: EndTransactionEntry = { tranStateTableOffset: 0, commitLogOffset: 0, commitOrRollback: 0 };
    for (let i = 0; i < count; i++) {
      readEndTransactionEntry(body, i, e);
      try {
        const decision = decisionOf(e);
        const found = this.findNow(e.tranStateTableOffset, e.commitLogOffset);
        if (!found) {
          results[i] = this.decide(group, { ...e });
          waits++;
          continue;
        }
        const r = this.judge(group, e, decision, found);
        if ("code" in r) results[i] = r;
        else if (r.state.resolving !== "rollback" && !r.record) {
          results[i] = this.written(r, r.state.resolving!).catch(refusal);
          waits++;
        } else {
          writes.push(r);
          writeAt.push(i);
        }
      } catch (err) {
        results[i] = refusal(err);
      }
    }
    if (writes.length > 0) {
      // The decisions being written (a failed write moves the states back to pending).
      const decisionsOf = writes.map((p) => p.state.resolving!);
      await this.writer.writeAll(writes).then(
        () => {
          for (const i of writeAt) results[i] = OK;
        },
        (err: unknown) => {
          for (let k = 0; k < writes.length; k++) {
            const w = writes[k]!;
            results[writeAt[k]!] = refusal(notStored(w.queueOffset, decisionsOf[k]!, err));
          }
        },
      );
    }
    // Promise.all over plain values would still make a promise and a reaction per entry.
    return waits > 0 ? Promise.all(results) : (results as EndTransactionResult[]);
  }

  /** One half's END_TRANSACTION: the response code and remark it gets (never throws). */
  private async decide(group: string, e: EndTransactionEntry): Promise<EndTransactionResult> {
    try {
      return await this.decideOrThrow(group, e);
    } catch (err) {
      return refusal(err);
    }
  }

  private async decideOrThrow(group: string, h: EndTransactionEntry): Promise<EndTransactionResult> {
    const decision = decisionOf(h);
    if (this.ctx.config.brokerRole === "SLAVE") {
      fail(ResponseCode.SLAVE_NOT_AVAILABLE, "a slave broker cannot end transactions");
    }
    const found =
      this.findNow(h.tranStateTableOffset, h.commitLogOffset) ??
      (await this.find(h.tranStateTableOffset, h.commitLogOffset));
    const r = this.judge(group, h, decision, found);
    return "code" in r ? r : this.written(r, r.state.resolving!);
  }

  private written(p: Pending, decision: Decision): Promise<EndTransactionResult> {
    return this.writer.write(p, decision).then(() => OK);
  }

  /**
   * What the machine says of this decision on the half found: an answer (a duplicate, or
   * SUCCESS), a write to store (the half, moved to resolving: its state says which), or a
   * refusal (thrown).
   */
  private judge(
    group: string,
    h: EndTransactionEntry,
    decision: "commit" | "rollback" | "unknown",
    found: Found,
  ): EndTransactionResult | Pending {
    const offset = h.tranStateTableOffset;
    if (found.kind === "missing") {
      fail(ResponseCode.SYSTEM_ERROR, `Find prepared transaction message failed: no ${what(h)}`);
    }
    if (found.kind === "forgotten") {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `the ${what(h)} was resolved long ago (its decision is no longer remembered); nothing stored`,
      );
    }
    if (found.kind === "resolved") {
      return this.answer(
        h,
        decision,
        found.status,
        step({ status: found.status, checks: 0 }, END[decision]).action,
      );
    }
    const p = found;
    if (p.commitLogOffset !== h.commitLogOffset) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `The commit log offset wrong: the half at queue offset ${offset} is at commit-log offset ${p.commitLogOffset}, not ${h.commitLogOffset}`,
      );
    }
    if (p.group !== group) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `The producer group wrong: the ${what(h)} belongs to producer group ${p.group}, not ${group}`,
      );
    }
    const { next, action } = step(p.state, END[decision]);
    p.state = next;
    if (action.kind === "write") return p;
    return this.answer(h, decision, p.state.status, action);
  }

  private answer(
    h: EndTransactionEntry,
    decision: string,
    status: HalfStatus,
    action: HalfAction,
  ): EndTransactionResult {
    if (action.kind === "conflict") {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `the ${what(h)} is already ${describe(status, action.resolving)}; the ${decision} is refused and nothing is stored`,
      );
    }
    if (action.kind === "duplicate") {
      // A duplicate of the decision being written is that decision.
      const resolving = status === "resolving" ? (decision as Decision) : undefined;
      return {
        code: ResponseCode.SUCCESS,
        remark: `the ${what(h)} is already ${describe(status, resolving)}; nothing stored`,
      };
    }
    return { code: ResponseCode.SUCCESS };
  }

  /**
   * The half without a wait: known (pending or resolved), or just stored by the send path;
   * undefined when it must be read from the log (find).
   */
  private findNow(offset: number, commitLogOffset: number): Found | undefined {
    if (!Number.isSafeInteger(offset) || offset < 0) return MISSING;
    const k = this.table.known(offset);
    if (k) return k;
    const m = this.recent.take(offset, commitLogOffset);
    return m ? this.adopt(offset, m) : undefined;
  }

  /** The half read from the log (findNow found nothing at hand). */
  private async find(offset: number, commitLogOffset: number): Promise<Found> {
    // Not read yet (halves are read in bulk by the check round; a commit usually comes first)
    // or resolved and forgotten: read where the request says it is.
    const m = await this.readHalfAt(offset, commitLogOffset);
    if (!m || m.topic !== TRANS_HALF_TOPIC || m.queueOffset !== offset) return MISSING;
    return this.table.known(offset) ?? this.adopt(offset, m);
  }

  /** A half record found for `offset`: pending from now on (forgotten if the scan passed it). */
  private adopt(offset: number, m: HalfRecord): Found {
    if (m.topic !== TRANS_HALF_TOPIC || m.queueOffset !== offset) return MISSING;
    if (offset < this.table.halfScanned) return { kind: "forgotten" };
    const p = this.table.addHalf(m);
    if (!p) return MISSING;
    p.record = m;
    return p;
  }

  /**
   * The half at this queue offset: through its queue entry (one log read of the exact size)
   * when the entry is there, else at the commit-log offset the request names.
   */
  private async readHalfAt(offset: number, commitLogOffset: number): Promise<MessageExt | undefined> {
    try {
      const r = await this.ctx.store.getMessage(TRANS_HALF_TOPIC, HALF_QUEUE_ID, offset, 1);
      if (r.status === "FOUND") {
        const m = decodeMessage(r.body);
        if (m.commitLogOffset === commitLogOffset) return m;
      }
      const rec = await this.ctx.store.lookMessageByOffset(commitLogOffset);
      return rec ? decodeMessage(rec) : undefined;
    } catch {
      return undefined;
    }
  }
}

type Found = Pending | { kind: "resolved"; status: HalfStatus } | { kind: "forgotten" } | { kind: "missing" };

const MISSING: Found = { kind: "missing" };

/** The END_TRANSACTION events, shared (one per decision, not one per request). */
const END: Record<"commit" | "rollback" | "unknown", HalfEvent> = {
  commit: Object.freeze({ kind: "end", decision: "commit" }),
  rollback: Object.freeze({ kind: "end", decision: "rollback" }),
  unknown: Object.freeze({ kind: "end", decision: "unknown" }),
};

/** The half an END_TRANSACTION names, in a refusal or remark (built only then). */
function what(h: EndTransactionEntry): string {
  return `half message at queue offset ${h.tranStateTableOffset} (commit-log offset ${h.commitLogOffset})`;
}
const OK: EndTransactionResult = Object.freeze({ code: ResponseCode.SUCCESS });

function decisionOf(h: EndTransactionEntry): "commit" | "rollback" | "unknown" {
  return h.commitOrRollback === MessageSysFlag.TRANSACTION_COMMIT_TYPE
    ? "commit"
    : h.commitOrRollback === MessageSysFlag.TRANSACTION_ROLLBACK_TYPE
      ? "rollback"
      : h.commitOrRollback === MessageSysFlag.TRANSACTION_NOT_TYPE
        ? "unknown"
        : fail(
            ResponseCode.SYSTEM_ERROR,
            `commitOrRollback ${h.commitOrRollback} is not 0 (unknown), 8 (commit) or 12 (rollback)`,
          );
}

/** A decision's refusal as its result. */
function refusal(err: unknown): EndTransactionResult {
  return err instanceof TideMQError
    ? { code: err.code, remark: err.message }
    : { code: ResponseCode.SYSTEM_ERROR, remark: (err as Error).message };
}

function describe(status: HalfStatus, resolving?: Decision): string {
  switch (status) {
    case "committed":
      return "committed";
    case "rolledBack":
      return "rolled back";
    case "discarded":
      return "discarded after too many checks";
    case "resolving":
      return resolving === "commit"
        ? "being committed"
        : resolving === "rollback"
          ? "being rolled back"
          : "being discarded";
    default:
      return status;
  }
}
