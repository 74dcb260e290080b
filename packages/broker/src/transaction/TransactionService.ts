import {
  createResponse,
  type RemotingCommand,
  RequestCode,
  ResponseCode,
  TransactionRequestCode,
  type TransactionStatusBody,
} from "@tidemq/protocol";
import type { BrokerContext } from "../context.js";
import type { ProducerManager } from "../ProducerManager.js";
import { fail } from "../processors/responses.js";
import { CheckBack } from "./CheckBack.js";
import { Checkpointer } from "./Checkpointer.js";
import { DecisionWriter } from "./DecisionWriter.js";
import { EndTransaction } from "./EndTransaction.js";
import { HalfTable } from "./HalfTable.js";
import { recentHalvesOf } from "./RecentHalves.js";
import { rebuildFromLog } from "./StartupRebuild.js";
import { TRANSACTION_RETENTION_GUARD, transactionRetentionFloor } from "./TransactionRetention.js";
import { type TransactionStatus, transactionStatusOf } from "./TransactionStatusReport.js";

export type { TransactionStatus } from "./TransactionStatusReport.js";

/**
 * Transactional messages (spec §4.12, §5.2, §8.8): the halves the send path stored in
 * RMQ_SYS_TRANS_HALF_TOPIC, END_TRANSACTION, the check-back, and the discard after
 * transactionCheckMax checks. Everything it knows is rebuilt from the log at start (half
 * and op records are ordinary records), so it survives restarts and kill -9 and replicates
 * with the log. Decisions go through the pure HalfLifecycle machine: one decision per half.
 *
 * This class only wires the parts together and owns their life cycle; the state they share
 * is the HalfTable, the logic lives in StartupRebuild, EndTransaction, DecisionWriter,
 * CheckBack, Checkpointer and TransactionStatusReport.
 */
export class TransactionService {
  private readonly table: HalfTable;
  private readonly checkpoints: Checkpointer;
  private readonly ends: EndTransaction;
  private readonly checks: CheckBack;
  private startup: TransactionStatusBody["startup"];

  constructor(
    private readonly ctx: BrokerContext,
    producers: ProducerManager,
  ) {
    this.table = new HalfTable(ctx);
    this.checkpoints = new Checkpointer(ctx, this.table);
    const writer = new DecisionWriter(ctx, this.table);
    this.ends = new EndTransaction(ctx, this.table, writer, recentHalvesOf(ctx.store));
    this.checks = new CheckBack(ctx, this.table, writer, producers);
  }

  /** Rebuilds the state from the log, then serves END_TRANSACTION and runs the check timer. */
  async start(): Promise<void> {
    this.ctx.store.addRetentionGuard(TRANSACTION_RETENTION_GUARD, () =>
      transactionRetentionFloor(this.ctx, this.table, this.checkpoints),
    );
    this.startup = await rebuildFromLog(this.ctx, this.table, this.checkpoints);
    this.ctx.server.registerHandler(RequestCode.END_TRANSACTION, (req, conn) =>
      this.table.track(this.ends.endTransaction(req, conn)),
    );
    this.ctx.server.registerHandler(TransactionRequestCode.END_TRANSACTION_BATCH, (req) =>
      this.table.track(this.ends.endBatch(req)),
    );
    this.ctx.server.registerHandler(TransactionRequestCode.TRANSACTION_STATUS, (req) =>
      this.statusRequest(req),
    );
    this.checks.arm();
    this.checkpoints.arm();
  }

  async stop(): Promise<void> {
    this.table.stopped = true;
    this.checks.stop();
    this.checkpoints.stopTimer();
    await this.table.settled();
    await this.checkpoints.final();
    this.ctx.store.removeRetentionGuard(TRANSACTION_RETENTION_GUARD);
  }

  /**
   * Writes the state as it is now, once the log is flushed (and committed) over everything it
   * covers. Resolves false when there was nothing new or no quiet moment to take it.
   */
  checkpoint(): Promise<boolean> {
    return this.checkpoints.checkpoint();
  }

  /** One check round: halves past their immunity get a check-back, or are discarded past checkMax. */
  checkRound(now: number): Promise<void> {
    return this.checks.checkRound(now);
  }

  status(halfOffset?: number): TransactionStatus {
    return transactionStatusOf(this.table, this.ctx.config, this.startup, this.checkpoints.last, halfOffset);
  }

  private async statusRequest(req: RemotingCommand): Promise<RemotingCommand> {
    const raw = req.extFields?.halfOffset;
    const halfOffset = raw === undefined || raw === "" ? undefined : Number(raw);
    if (halfOffset !== undefined && !Number.isSafeInteger(halfOffset)) {
      fail(ResponseCode.SYSTEM_ERROR, `halfOffset "${raw}" is not an integer`);
    }
    // Halves stored since the last check round are read first, so the count is current.
    await this.table.catchUp();
    const body = Buffer.from(JSON.stringify(this.status(halfOffset)), "utf8");
    return createResponse(req, ResponseCode.SUCCESS, undefined, undefined, body);
  }
}
