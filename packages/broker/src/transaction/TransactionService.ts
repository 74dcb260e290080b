import { join } from "node:path";
import {
  createOffsetMsgId,
  createRequest,
  createResponse,
  decodeEndTransactionBatch,
  decodeHeader,
  decodeMessage,
  decodeMessages,
  type EndTransactionEntry,
  EndTransactionRequestHeader,
  type EndTransactionResult,
  encodeEndTransactionResults,
  encodeMessage,
  isOneway,
  type MessageExt,
  MessageSysFlag,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  TideMQError,
  TransactionRequestCode,
  type TransactionStatusBody,
  transactionType,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { MessageInput, PutResult } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import type { ProducerManager } from "../ProducerManager.js";
import { fail } from "../processors/responses.js";
import { TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import {
  type Decision,
  type HalfAction,
  type HalfState,
  type HalfStatus,
  type LogFact,
  replay,
  step,
} from "./HalfLifecycle.js";
import { HALF_QUEUE_ID } from "./HalfMessage.js";
import { type HalfRecord, type RecentHalves, recentHalvesOf } from "./RecentHalves.js";
import {
  OpProgress,
  readCheckpoint,
  type TransactionCheckpoint,
  writeCheckpoint,
} from "./TransactionCheckpoint.js";
import { copyRecord, type HalfInfo, halfInfoOf, opOf, opRecord } from "./TransactionRecords.js";

/** Resolved halves remembered by offset (for duplicate or late END_TRANSACTION); oldest forgotten first. */
const MAX_REMEMBERED_RESOLVED = 200_000;
/** Records read per store call while scanning the half and op queues. */
const SCAN_BATCH = 256;
/** Most check-backs one round sends (the rest wait for the next round). */
const MAX_CHECKS_PER_ROUND = 10_000;
/** How long a checkpoint waits for the log to be flushed over what it covers. */
const CHECKPOINT_FLUSH_WAIT_MS = 10_000;

interface Pending {
  info: HalfInfo;
  /** The half as read by the END_TRANSACTION that found it (saves a second read for its copy). */
  record?: HalfRecord;
  state: HalfState;
}

/** What `tidemq admin transactionStatus` prints. */
export type TransactionStatus = TransactionStatusBody & {
  half?: { queueOffset: number; status: HalfStatus | "unknown"; checks?: number };
};

/**
 * Transactional messages (spec §4.12, §5.2, §8.8): the halves the send path stored in
 * RMQ_SYS_TRANS_HALF_TOPIC, END_TRANSACTION, the check-back, and the discard after
 * transactionCheckMax checks. Everything it knows is rebuilt from the log at start (half
 * and op records are ordinary records), so it survives restarts and kill -9 and replicates
 * with the log. Decisions go through the pure HalfLifecycle machine: one decision per half.
 */
export class TransactionService {
  private readonly pending = new Map<number, Pending>();
  private readonly resolved = new Map<number, HalfStatus>();
  /** Every half below this queue offset has been read (it is pending or resolved). */
  private halfScanned = 0;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private stopped = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private appendQueue: Array<{ inputs: MessageInput[]; resolve: () => void; reject: (e: Error) => void }> =
    [];
  private readonly host: { host: string; port: number };
  /** Halves the send path just stored (END_TRANSACTION then needs no log read). */
  private readonly recent: RecentHalves;
  /** Which op records are reflected in memory (for the checkpoint). */
  private readonly ops: OpProgress;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<unknown> | undefined;
  /** halfScanned/opApplied of the last checkpoint written (nothing new: nothing to write). */
  private checkpointed = "";
  private readonly checkpointPath: string;
  private startup: TransactionStatusBody["startup"];
  private lastCheckpoint: TransactionStatusBody["checkpoint"];

  constructor(
    private readonly ctx: BrokerContext,
    private readonly producers: ProducerManager,
  ) {
    const i = ctx.brokerAddr.lastIndexOf(":");
    this.host = { host: ctx.brokerAddr.slice(0, i), port: Number(ctx.brokerAddr.slice(i + 1)) };
    this.recent = recentHalvesOf(ctx.store);
    this.ops = new OpProgress((offset) =>
      ctx.logger.warn(
        `transactions: op records not written by this broker lie above op-queue offset ${offset}; the checkpoint keeps that offset until a restart`,
      ),
    );
    this.checkpointPath = join(ctx.config.storePathRootDir, "config", "transactionState.json");
  }

  /** Rebuilds the state from the log, then serves END_TRANSACTION and runs the check timer. */
  async start(): Promise<void> {
    await this.rebuild();
    this.ctx.server.registerHandler(RequestCode.END_TRANSACTION, (req, conn) =>
      this.track(this.endTransaction(req, conn)),
    );
    this.ctx.server.registerHandler(TransactionRequestCode.END_TRANSACTION_BATCH, (req) =>
      this.track(this.endBatch(req)),
    );
    this.ctx.server.registerHandler(TransactionRequestCode.TRANSACTION_STATUS, (req) =>
      this.statusRequest(req),
    );
    this.armTimer();
    this.armCheckpoint();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    await Promise.allSettled([...this.inflight]);
    await this.checkpointing?.catch(() => undefined);
    // A clean restart then reads nothing but this file.
    if (this.checkpointsOn()) {
      await this.checkpoint().catch((err: Error) =>
        this.ctx.logger.warn(`transactions: checkpoint at stop not written: ${err.message}`),
      );
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private armTimer(): void {
    if (this.stopped) return;
    const interval = Math.max(10, this.ctx.config.transactionCheckInterval);
    this.timer = setTimeout(() => {
      this.track(this.checkRound(Date.now()))
        .catch((err: Error) => this.ctx.logger.error(`transaction check round failed: ${err.message}`))
        .finally(() => this.armTimer());
    }, interval);
    this.timer.unref?.();
  }

  // ------------------------------------------------------------ log scans

  /** Calls `each` for every record of queue 0 of `topic` from `from`; returns the next offset. */
  private async scan(topic: string, from: number, each: (m: MessageExt) => void): Promise<number> {
    const { store } = this.ctx;
    let offset = Math.max(from, store.getMinOffsetInQueue(topic, HALF_QUEUE_ID));
    const end = store.getMaxOffsetInQueue(topic, HALF_QUEUE_ID);
    while (offset < end) {
      const r = await store.getMessage(topic, HALF_QUEUE_ID, offset, SCAN_BATCH);
      if (r.status === "FOUND") {
        for (const m of decodeMessages(r.body)) each(m);
      }
      if (r.nextBeginOffset <= offset) break;
      offset = r.nextBeginOffset;
    }
    return offset;
  }

  private async rebuild(): Promise<void> {
    const t0 = performance.now();
    let halvesRead = 0;
    let opsRead = 0;
    const facts: LogFact[] = [];
    const infos = new Map<number, HalfInfo>();
    const cp = await this.loadCheckpoint();
    const cpResolved = cp?.resolved ?? new Map<number, HalfStatus>();
    for (const { info, checks } of cp?.pending ?? []) {
      infos.set(info.queueOffset, info);
      facts.push({ kind: "half", half: info.queueOffset });
      for (let i = 0; i < checks; i++) facts.push({ kind: "op", half: info.queueOffset, op: "check" });
    }
    this.halfScanned = await this.scan(TRANS_HALF_TOPIC, cp?.halfScanned ?? 0, (m) => {
      halvesRead++;
      const info = halfInfoOf(m);
      if (!info || cpResolved.has(info.queueOffset) || infos.has(info.queueOffset)) return;
      infos.set(info.queueOffset, info);
      facts.push({ kind: "half", half: info.queueOffset });
    });
    this.ops.applied = await this.scan(TRANS_OP_HALF_TOPIC, cp?.opScanned ?? 0, (m) => {
      opsRead++;
      const op = opOf(m);
      if (op) facts.push({ kind: "op", half: op.half, op: op.op });
    });
    // A commit whose op record was torn away (power loss) left its copy: find it by id.
    const states0 = replay(facts);
    const repaired: number[] = [];
    for (const [offset, s] of states0) {
      if (s.status !== "pending") continue;
      const info = infos.get(offset);
      if (info && (await this.copyExists(info))) {
        facts.push({ kind: "copy", half: offset });
        repaired.push(offset);
      }
    }
    const states = repaired.length > 0 ? replay(facts) : states0;
    if (repaired.length > 0) {
      const now = Date.now();
      await this.putRecords(repaired.map((o) => opRecord(o, "commit", this.host, now)));
      this.ctx.logger.warn(
        `transactions: ${repaired.length} committed half message(s) had no op record (torn write); op records written`,
      );
    }
    for (const [offset, status] of cpResolved) this.remember(offset, status);
    for (const [offset, state] of states) {
      const info = infos.get(offset);
      if (state.status === "pending" && info) this.pending.set(offset, { info, state });
      else this.remember(offset, state.status);
    }
    if (this.pending.size > 0) {
      this.ctx.logger.info(`transactions: ${this.pending.size} half message(s) pending after start`);
    }
    // What the file on disk holds (a restart from it read the records after it again).
    this.checkpointed = cp ? `${cp.halfScanned}/${cp.opScanned}` : "";
    const ms = Math.round(performance.now() - t0);
    this.startup = { fromCheckpoint: cp !== undefined, halvesRead, opsRead, ms };
    this.ctx.logger.info(
      `transactions: state rebuilt in ${ms} ms from ${cp ? "the checkpoint and " : ""}${halvesRead} half and ${opsRead} op record(s)`,
    );
  }

  // ------------------------------------------------------------ checkpoint

  /** A usable checkpoint, or undefined (none, damaged, or ahead of the log: a full scan then). */
  private async loadCheckpoint(): Promise<TransactionCheckpoint | undefined> {
    let cp: TransactionCheckpoint | undefined;
    try {
      cp = await readCheckpoint(this.checkpointPath);
    } catch (err) {
      this.ctx.logger.warn(
        `transactions: ${this.checkpointPath} not used (${(err as Error).message}); reading every half and op record instead`,
      );
      return undefined;
    }
    if (!cp) return undefined;
    const { store } = this.ctx;
    const ahead =
      cp.logEnd > store.maxPhysicalOffset
        ? `it covers the commit log up to ${cp.logEnd}, the log ends at ${store.maxPhysicalOffset}`
        : cp.halfScanned > store.getMaxOffsetInQueue(TRANS_HALF_TOPIC, HALF_QUEUE_ID)
          ? "it names more half messages than the log holds"
          : cp.opScanned > store.getMaxOffsetInQueue(TRANS_OP_HALF_TOPIC, HALF_QUEUE_ID)
            ? "it names more op records than the log holds"
            : undefined;
    if (ahead) {
      this.ctx.logger.warn(
        `transactions: ${this.checkpointPath} not used (${ahead}: the log was cut back); reading every half and op record instead`,
      );
      return undefined;
    }
    return cp;
  }

  private checkpointsOn(): boolean {
    return this.ctx.config.transactionCheckpointInterval > 0 && this.ctx.config.brokerRole !== "SLAVE";
  }

  private armCheckpoint(): void {
    if (this.stopped || !this.checkpointsOn()) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointing = this.checkpoint()
        .catch((err: Error) => this.ctx.logger.warn(`transactions: checkpoint not written: ${err.message}`))
        .finally(() => {
          this.checkpointing = undefined;
          this.armCheckpoint();
        });
    }, this.ctx.config.transactionCheckpointInterval);
    this.checkpointTimer.unref?.();
  }

  /**
   * Writes the state as it is now, once the log is flushed (and committed) over everything it
   * covers. Resolves false when there was nothing new or no quiet moment to take it.
   */
  async checkpoint(): Promise<boolean> {
    let cp = this.snapshot();
    for (let i = 0; !cp && i < 50; i++) {
      if (this.checkpointed === `${this.halfScanned}/${this.ops.applied}`) return false;
      await new Promise((r) => setTimeout(r, 20));
      cp = this.snapshot();
    }
    if (!cp) return false;
    const key = `${cp.halfScanned}/${cp.opScanned}`;
    if (key === this.checkpointed) return false;
    const { store } = this.ctx;
    const deadline = Date.now() + CHECKPOINT_FLUSH_WAIT_MS;
    while (store.stats.flushedOffset < cp.logEnd || store.visibleOffset < cp.logEnd) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    await writeCheckpoint(this.checkpointPath, cp);
    this.checkpointed = key;
    this.lastCheckpoint = {
      halfScanned: cp.halfScanned,
      opScanned: cp.opScanned,
      pending: cp.pending.length,
      writtenAt: Date.now(),
    };
    return true;
  }

  /**
   * The state at this instant, or undefined while an op record's append is under way (its
   * effect and its queue offset are not both known yet). Halves
   * being resolved count as pending: their op records will lie above opScanned.
   */
  private snapshot(): TransactionCheckpoint | undefined {
    // A half scan under way is no obstacle: the halves it adds lie at or above halfScanned,
    // which the snapshot leaves to the next start-up's scan.
    if (this.ops.writes > 0) return undefined;
    const halfScanned = this.halfScanned;
    const pending: TransactionCheckpoint["pending"] = [];
    for (const p of this.pending.values()) {
      // Halves at or above halfScanned are read again from the log at restart.
      if (p.info.queueOffset < halfScanned) pending.push({ info: p.info, checks: p.state.checks });
    }
    return {
      halfScanned,
      opScanned: this.ops.applied,
      logEnd: this.ctx.store.maxPhysicalOffset,
      pending,
      resolved: new Map(this.resolved),
    };
  }

  /** Appends records of this service (op records among them), noting the op records' queue offsets. */
  private putRecords(inputs: MessageInput[]): Promise<PutResult[]> {
    this.ops.writes++;
    return this.ctx.store.putMessagesBatch(inputs).then(
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

  /** Whether a COMMIT copy of this half is in its real topic (looked up by UNIQ_KEY). */
  private async copyExists(info: HalfInfo): Promise<boolean> {
    if (!info.uniqKey) return false;
    const found = await this.ctx.store.queryMessage(
      info.realTopic,
      info.uniqKey,
      32,
      info.storeTimestamp - 1,
      Number.MAX_SAFE_INTEGER,
    );
    for (const rec of found.messages) {
      const m = decodeMessage(rec, 0, { headersOnly: true });
      if (
        transactionType(m.sysFlag) === MessageSysFlag.TRANSACTION_COMMIT_TYPE &&
        m.preparedTransactionOffset === info.commitLogOffset
      ) {
        return true;
      }
    }
    return false;
  }

  /** Reads halves stored since the last scan (serialized; a call during a scan runs one more). */
  private catchUp(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    const run = async (): Promise<void> => {
      do {
        this.rescan = false;
        this.halfScanned = await this.scan(TRANS_HALF_TOPIC, this.halfScanned, (m) => this.addHalf(m));
      } while (this.rescan && !this.stopped);
    };
    this.scanning = run().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private addHalf(m: HalfRecord): Pending | undefined {
    const info = halfInfoOf(m);
    if (!info || this.pending.has(info.queueOffset) || this.resolved.has(info.queueOffset)) return undefined;
    const p: Pending = { info, state: { status: "pending", checks: 0 } };
    this.pending.set(info.queueOffset, p);
    return p;
  }

  /**
   * Remembers a resolved half. Only halves the scan has passed may be forgotten (a later scan
   * would take a forgotten one for pending); past the cap a scan is started to move on.
   */
  private remember(offset: number, status: HalfStatus): void {
    this.resolved.set(offset, status);
    if (this.resolved.size <= MAX_REMEMBERED_RESOLVED) return;
    for (const oldest of this.resolved.keys()) {
      if (this.resolved.size <= MAX_REMEMBERED_RESOLVED || oldest >= this.halfScanned) break;
      this.resolved.delete(oldest);
    }
    if (this.resolved.size > MAX_REMEMBERED_RESOLVED && !this.scanning && !this.stopped) {
      this.track(this.catchUp()).catch((err: Error) =>
        this.ctx.logger.error(`transactions: reading half messages failed: ${err.message}`),
      );
    }
  }

  // ------------------------------------------------------------ END_TRANSACTION

  private async endTransaction(req: RemotingCommand, conn: Connection): Promise<RemotingCommand | undefined> {
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
  private async endBatch(req: RemotingCommand): Promise<RemotingCommand> {
    const group = req.extFields?.producerGroup;
    if (!group) fail(ResponseCode.SYSTEM_ERROR, "END_TRANSACTION_BATCH without producerGroup");
    let entries: EndTransactionEntry[];
    try {
      entries = decodeEndTransactionBatch(req.body);
    } catch (err) {
      fail(ResponseCode.SYSTEM_ERROR, (err as Error).message);
    }
    if (this.ctx.config.brokerRole === "SLAVE") {
      fail(ResponseCode.SLAVE_NOT_AVAILABLE, "a slave broker cannot end transactions");
    }
    const results = await Promise.all(entries.map((e) => this.decide(group, e)));
    return createResponse(
      req,
      ResponseCode.SUCCESS,
      undefined,
      undefined,
      encodeEndTransactionResults(results),
    );
  }

  /** One half's END_TRANSACTION: the response code and remark it gets (never throws). */
  private async decide(group: string, e: EndTransactionEntry): Promise<EndTransactionResult> {
    try {
      return await this.decideOrThrow(group, e);
    } catch (err) {
      return err instanceof TideMQError
        ? { code: err.code, remark: err.message }
        : { code: ResponseCode.SYSTEM_ERROR, remark: (err as Error).message };
    }
  }

  private async decideOrThrow(group: string, h: EndTransactionEntry): Promise<EndTransactionResult> {
    const decision =
      h.commitOrRollback === MessageSysFlag.TRANSACTION_COMMIT_TYPE
        ? "commit"
        : h.commitOrRollback === MessageSysFlag.TRANSACTION_ROLLBACK_TYPE
          ? "rollback"
          : h.commitOrRollback === MessageSysFlag.TRANSACTION_NOT_TYPE
            ? "unknown"
            : fail(
                ResponseCode.SYSTEM_ERROR,
                `commitOrRollback ${h.commitOrRollback} is not 0 (unknown), 8 (commit) or 12 (rollback)`,
              );
    if (this.ctx.config.brokerRole === "SLAVE") {
      fail(ResponseCode.SLAVE_NOT_AVAILABLE, "a slave broker cannot end transactions");
    }
    const offset = h.tranStateTableOffset;
    const found = await this.find(offset, h.commitLogOffset);
    const what = `half message at queue offset ${offset} (commit-log offset ${h.commitLogOffset})`;
    if (found.kind === "missing") {
      fail(ResponseCode.SYSTEM_ERROR, `Find prepared transaction message failed: no ${what}`);
    }
    if (found.kind === "forgotten") {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `the ${what} was resolved long ago (its decision is no longer remembered); nothing stored`,
      );
    }
    if (found.kind === "resolved") {
      return this.answer(
        what,
        decision,
        found.status,
        step({ status: found.status, checks: 0 }, { kind: "end", decision }).action,
      );
    }
    const p = found.pending;
    if (p.info.commitLogOffset !== h.commitLogOffset) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `The commit log offset wrong: the half at queue offset ${offset} is at commit-log offset ${p.info.commitLogOffset}, not ${h.commitLogOffset}`,
      );
    }
    if (p.info.group !== group) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `The producer group wrong: the ${what} belongs to producer group ${p.info.group}, not ${group}`,
      );
    }
    const { next, action } = step(p.state, { kind: "end", decision });
    p.state = next;
    if (action.kind === "write") {
      await this.write(p, action.decision);
      return { code: ResponseCode.SUCCESS };
    }
    return this.answer(what, decision, p.state.status, action);
  }

  private answer(
    what: string,
    decision: string,
    status: HalfStatus,
    action: HalfAction,
  ): EndTransactionResult {
    if (action.kind === "conflict") {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `the ${what} is already ${describe(status, action.resolving)}; the ${decision} is refused and nothing is stored`,
      );
    }
    if (action.kind === "duplicate") {
      // A duplicate of the decision being written is that decision.
      const resolving = status === "resolving" ? (decision as Decision) : undefined;
      return {
        code: ResponseCode.SUCCESS,
        remark: `the ${what} is already ${describe(status, resolving)}; nothing stored`,
      };
    }
    return { code: ResponseCode.SUCCESS };
  }

  private async find(
    offset: number,
    commitLogOffset: number,
  ): Promise<
    | { kind: "pending"; pending: Pending }
    | { kind: "resolved"; status: HalfStatus }
    | { kind: "forgotten" }
    | { kind: "missing" }
  > {
    if (!Number.isSafeInteger(offset) || offset < 0) return { kind: "missing" };
    const known = () => this.known(offset);
    let k = known();
    if (k) return k;
    // Not read yet (halves are read in bulk by the check round; a commit usually comes first)
    // or resolved and forgotten: the record itself, kept by the send path that just stored
    // it, else read where the request says it is.
    const m = this.recent.take(offset, commitLogOffset) ?? (await this.readHalfAt(offset, commitLogOffset));
    if (!m || m.topic !== TRANS_HALF_TOPIC || m.queueOffset !== offset) return { kind: "missing" };
    k = known();
    if (k) return k;
    if (offset < this.halfScanned) return { kind: "forgotten" };
    const p = this.addHalf(m);
    if (p) p.record = m;
    return p ? { kind: "pending", pending: p } : { kind: "missing" };
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

  private known(
    offset: number,
  ): { kind: "pending"; pending: Pending } | { kind: "resolved"; status: HalfStatus } | undefined {
    const p = this.pending.get(offset);
    if (p) return { kind: "pending", pending: p };
    const s = this.resolved.get(offset);
    if (s) return { kind: "resolved", status: s };
    return undefined;
  }

  /**
   * Stores a decision as one append (the copy and its op record together, so a crash keeps
   * both or neither), then moves the half out of the pending table.
   */
  private async write(p: Pending, decision: Decision): Promise<void> {
    const offset = p.info.queueOffset;
    try {
      const inputs: MessageInput[] = [];
      const now = Date.now();
      if (decision === "commit") {
        const half = p.record ?? (await this.readHalf(p.info));
        inputs.push(copyRecord(half, decision));
      } else if (decision === "discard") {
        // A half retention already removed is discarded by its op record alone.
        const half = p.record ?? (await this.readHalf(p.info).catch(() => undefined));
        if (half) inputs.push(copyRecord(half, decision));
      }
      inputs.push(opRecord(offset, decision, this.host, now));
      await this.append(inputs);
    } catch (err) {
      p.record = undefined;
      p.state = step(p.state, { kind: "written", ok: false }).next;
      const code = err instanceof TideMQError ? err.code : ResponseCode.SYSTEM_ERROR;
      throw new TideMQError(
        code,
        `the ${decision} of the half message at queue offset ${offset} was not stored: ${(err as Error).message}`,
      );
    }
    p.record = undefined;
    p.state = step(p.state, { kind: "written", ok: true }).next;
    this.pending.delete(offset);
    this.remember(offset, p.state.status);
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
    this.putRecords(all).then(
      () => {
        for (const b of batch) b.resolve();
      },
      (err: Error) => {
        for (const b of batch) b.reject(err);
      },
    );
  }

  private async readHalf(info: HalfInfo): Promise<MessageExt> {
    const rec = await this.ctx.store.lookMessageByOffset(info.commitLogOffset);
    if (!rec) {
      fail(
        ResponseCode.SYSTEM_ERROR,
        `the half message at commit-log offset ${info.commitLogOffset} is no longer in the commit log (retention removed it)`,
      );
    }
    return decodeMessage(rec);
  }

  // ------------------------------------------------------------ check-back

  /** One check round: halves past their immunity get a check-back, or are discarded past checkMax. */
  async checkRound(now: number): Promise<void> {
    // A slave holds copies of the halves; only the master asks producers and decides.
    if (this.checking || this.stopped || this.ctx.config.brokerRole === "SLAVE") return;
    this.checking = true;
    try {
      await this.catchUp();
      const { config } = this.ctx;
      const checkOps: MessageInput[] = [];
      const targets: Array<{ p: Pending; channel: Connection }> = [];
      const discards: Pending[] = [];
      for (const p of this.pending.values()) {
        if (targets.length >= MAX_CHECKS_PER_ROUND) break;
        if (p.state.status !== "pending") continue;
        const immunity = p.info.immunityMs ?? config.transactionTimeOut;
        if (now - p.info.storeTimestamp < immunity) continue;
        const channel = this.liveChannel(p.info.group);
        const { next, action } = step(p.state, {
          kind: "checkDue",
          producerOnline: channel !== undefined,
          checkMax: config.transactionCheckMax,
        });
        p.state = next;
        if (action.kind === "write") discards.push(p);
        else if (action.kind === "sendCheck" && channel) {
          checkOps.push(opRecord(p.info.queueOffset, "check", this.host, now));
          targets.push({ p, channel });
        }
      }
      if (checkOps.length > 0) await this.putRecords(checkOps);
      for (const t of targets) await this.sendCheck(t.p, t.channel);
      for (const p of discards) {
        await this.write(p, "discard");
        this.ctx.logger.warn(
          `transaction half message ${p.info.uniqKey ?? ""} (queue offset ${p.info.queueOffset}, topic ${p.info.realTopic}, producer group ${p.info.group}) was checked ${p.state.checks} times without an answer (transactionCheckMax ${config.transactionCheckMax}); discarded to TRANS_CHECK_MAX_TIME_TOPIC, never delivered`,
        );
      }
    } finally {
      this.checking = false;
    }
  }

  private liveChannel(group: string): Connection | undefined {
    const channels = this.producers.connections(group);
    if (!channels) return undefined;
    for (const c of channels.keys()) if (!c.closed) return c;
    return undefined;
  }

  /** CHECK_TRANSACTION_STATE (spec §5.2): the half with its real topic and queue restored. */
  private async sendCheck(p: Pending, channel: Connection): Promise<void> {
    try {
      const half = await this.readHalf(p.info);
      const body = encodeMessage({ ...half, topic: p.info.realTopic, queueId: p.info.realQueueId });
      const header = {
        tranStateTableOffset: p.info.queueOffset,
        commitLogOffset: p.info.commitLogOffset,
        msgId: p.info.uniqKey ?? half.msgId,
        transactionId: p.info.uniqKey ?? half.msgId,
        offsetMsgId: createOffsetMsgId(half.storeHost, half.commitLogOffset),
        topic: p.info.realTopic,
      };
      await channel.invokeOneway(
        createRequest(RequestCode.CHECK_TRANSACTION_STATE, header, body, { oneway: true }),
      );
    } catch (err) {
      this.ctx.logger.warn(
        `transaction check-back of half ${p.info.queueOffset} to producer group ${p.info.group} failed: ${(err as Error).message}`,
      );
    }
  }

  // ------------------------------------------------------------ status

  status(halfOffset?: number): TransactionStatus {
    let oldest = 0;
    const byGroup: Record<string, number> = {};
    for (const p of this.pending.values()) {
      if (oldest === 0 || p.info.storeTimestamp < oldest) oldest = p.info.storeTimestamp;
      byGroup[p.info.group] = (byGroup[p.info.group] ?? 0) + 1;
    }
    const { config } = this.ctx;
    const out: TransactionStatus = {
      pending: this.pending.size,
      oldestStoreTimestamp: oldest,
      byGroup,
      checkInterval: config.transactionCheckInterval,
      timeout: config.transactionTimeOut,
      checkMax: config.transactionCheckMax,
      startup: this.startup,
      checkpoint: this.lastCheckpoint,
    };
    if (halfOffset !== undefined) {
      const p = this.pending.get(halfOffset);
      const s = this.resolved.get(halfOffset);
      out.half = p
        ? { queueOffset: halfOffset, status: p.state.status, checks: p.state.checks }
        : { queueOffset: halfOffset, status: s ?? "unknown" };
    }
    return out;
  }

  private async statusRequest(req: RemotingCommand): Promise<RemotingCommand> {
    const raw = req.extFields?.halfOffset;
    const halfOffset = raw === undefined || raw === "" ? undefined : Number(raw);
    if (halfOffset !== undefined && !Number.isSafeInteger(halfOffset)) {
      fail(ResponseCode.SYSTEM_ERROR, `halfOffset "${raw}" is not an integer`);
    }
    // Halves stored since the last check round are read first, so the count is current.
    await this.catchUp();
    const body = Buffer.from(JSON.stringify(this.status(halfOffset)), "utf8");
    return createResponse(req, ResponseCode.SUCCESS, undefined, undefined, body);
  }
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
