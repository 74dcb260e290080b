import { join } from "node:path";
import type { TransactionStatusBody } from "@tidemq/protocol";
import type { BrokerContext } from "../context.js";
import { TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import { HALF_QUEUE_ID } from "./HalfMessage.js";
import type { HalfTable } from "./HalfTable.js";
import { readCheckpoint, type TransactionCheckpoint, writeCheckpoint } from "./TransactionCheckpoint.js";

/** How long a checkpoint waits for the log to be flushed over what it covers. */
const CHECKPOINT_FLUSH_WAIT_MS = 10_000;

/**
 * The transaction state's checkpoint file (config/transactionState.json): read at start so a
 * restart reads only the records after it, written every transactionCheckpointInterval and at
 * stop, and only over a log flushed past everything it covers.
 */
export class Checkpointer {
  private readonly path: string;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<unknown> | undefined;
  /** halfScanned/opApplied of the last checkpoint written (nothing new: nothing to write). */
  private written = "";
  /** What the checkpoint on disk refers to (a restart needs those records: retention keeps them). */
  durable: { halfScanned: number; opScanned: number; oldestPendingLog: number } | undefined;
  /** The last checkpoint written by this process (for the status report). */
  last: TransactionStatusBody["checkpoint"];

  constructor(
    private readonly ctx: BrokerContext,
    private readonly table: HalfTable,
  ) {
    this.path = join(ctx.config.storePathRootDir, "config", "transactionState.json");
  }

  /** A usable checkpoint, or undefined (none, damaged, or ahead of the log: a full scan then). */
  async load(): Promise<TransactionCheckpoint | undefined> {
    let cp: TransactionCheckpoint | undefined;
    try {
      cp = await readCheckpoint(this.path);
    } catch (err) {
      this.ctx.logger.warn(
        `transactions: ${this.path} not used (${(err as Error).message}); reading every half and op record instead`,
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
        `transactions: ${this.path} not used (${ahead}: the log was cut back); reading every half and op record instead`,
      );
      return undefined;
    }
    return cp;
  }

  /** Notes what the file on disk holds (a restart from it reads the records after it again). */
  onDisk(cp: TransactionCheckpoint | undefined): void {
    this.written = cp ? `${cp.halfScanned}/${cp.opScanned}` : "";
    this.durable = cp ? durableRefs(cp) : undefined;
  }

  /** A slave's state follows the master's log; only the master writes checkpoints. */
  private on(): boolean {
    return this.ctx.config.transactionCheckpointInterval > 0 && this.ctx.config.brokerRole !== "SLAVE";
  }

  /** Writes one every transactionCheckpointInterval (the next armed once the last is done). */
  arm(): void {
    if (this.table.stopped || !this.on()) return;
    this.timer = setTimeout(() => {
      this.writing = this.checkpoint()
        .catch((err: Error) => this.ctx.logger.warn(`transactions: checkpoint not written: ${err.message}`))
        .finally(() => {
          this.writing = undefined;
          this.arm();
        });
    }, this.ctx.config.transactionCheckpointInterval);
    this.timer.unref?.();
  }

  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** At stop, after the last decisions: a clean restart then reads nothing but this file. */
  async final(): Promise<void> {
    await this.writing?.catch(() => undefined);
    if (this.on()) {
      await this.checkpoint().catch((err: Error) =>
        this.ctx.logger.warn(`transactions: checkpoint at stop not written: ${err.message}`),
      );
    }
  }

  /**
   * Writes the state as it is now, once the log is flushed (and committed) over everything it
   * covers. Resolves false when there was nothing new or no quiet moment to take it.
   */
  async checkpoint(): Promise<boolean> {
    const { table } = this;
    let cp = this.snapshot();
    for (let i = 0; !cp && i < 50; i++) {
      if (this.written === `${table.halfScanned}/${table.ops.applied}`) return false;
      await new Promise((r) => setTimeout(r, 20));
      cp = this.snapshot();
    }
    if (!cp) return false;
    const key = `${cp.halfScanned}/${cp.opScanned}`;
    if (key === this.written) return false;
    const { store } = this.ctx;
    const deadline = Date.now() + CHECKPOINT_FLUSH_WAIT_MS;
    while (store.stats.flushedOffset < cp.logEnd || store.visibleOffset < cp.logEnd) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    await writeCheckpoint(this.path, cp);
    this.written = key;
    this.durable = durableRefs(cp);
    this.last = {
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
    const { table } = this;
    // A half scan under way is no obstacle: the halves it adds lie at or above halfScanned,
    // which the snapshot leaves to the next start-up's scan.
    if (table.ops.writes > 0) return undefined;
    const halfScanned = table.halfScanned;
    const pending: TransactionCheckpoint["pending"] = [];
    for (const p of table.pending.values()) {
      // Halves at or above halfScanned are read again from the log at restart.
      if (p.info.queueOffset < halfScanned) pending.push({ info: p.info, checks: p.state.checks });
    }
    return {
      halfScanned,
      opScanned: table.ops.applied,
      logEnd: this.ctx.store.maxPhysicalOffset,
      pending,
      resolved: table.resolved.runs(),
    };
  }
}

function durableRefs(cp: TransactionCheckpoint): NonNullable<Checkpointer["durable"]> {
  let oldestPendingLog = Number.POSITIVE_INFINITY;
  for (const p of cp.pending) oldestPendingLog = Math.min(oldestPendingLog, p.info.commitLogOffset);
  return { halfScanned: cp.halfScanned, opScanned: cp.opScanned, oldestPendingLog };
}
