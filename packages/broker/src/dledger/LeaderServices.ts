import type { BrokerContext } from "../context.js";
import type { ProducerManager } from "../ProducerManager.js";
import type { ScheduleMessageService } from "../schedule/ScheduleMessageService.js";
import { TimerService } from "../timer/TimerService.js";
import { TransactionService } from "../transaction/TransactionService.js";
import type { DLedgerRole } from "./DLedgerNode.js";
import type { ReplicatedMetadata } from "./ReplicatedMetadata.js";
import { floorToPublish, REPLICATED_FLOOR_GUARD } from "./RetentionFloor.js";

/**
 * DLedger mode: the services that write to the log on their own — delay-level delivery,
 * timer delivery, transaction check-back — and the metadata writer run on the leader only.
 * (Classic master/slave starts them on masters only; here the role changes at run time.)
 *
 * Becoming the writable leader (its no-op committed, dispatch caught up): the metadata
 * records are applied up to the end first, then the services start from the progress the
 * log carries — delay levels from the previous leader's replicated offsets (or this
 * replica's own file, whichever is further), timers skipping what the previous leader
 * reported delivered, transactions rebuilt from the half/op records. Deposed: they stop at
 * once (their writes would be refused anyway). Transitions run one at a time, in order.
 *
 * What a failover can re-deliver: delayed and timer messages stored by the old leader after
 * its last progress record (written as soon as a delivery is stored, or right after the record
 * in flight: about one commit round trip); nothing is delivered before its due time, and
 * nothing due is skipped (progress only covers committed stores).
 */
export class LeaderServices {
  private chain: Promise<void> = Promise.resolve();
  private generation = 0;
  private leading = false;
  private timerService: TimerService | undefined;
  private transactionService: TransactionService | undefined;
  private stopped = false;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly metadata: ReplicatedMetadata,
    private readonly schedule: ScheduleMessageService,
    private readonly producers: ProducerManager,
    private readonly isWritable: () => boolean,
    private readonly timerWheelSlots: number | undefined,
  ) {}

  get timers(): TimerService | undefined {
    return this.timerService;
  }

  get transactions(): TransactionService | undefined {
    return this.transactionService;
  }

  /** Role change from DLedgerReplication (leader = writable). */
  onRole(r: DLedgerRole): void {
    const gen = ++this.generation;
    this.chain = this.chain
      .then(() => (r.role === "leader" ? this.lead(gen, r.term) : this.follow()))
      .catch((err: Error) => this.ctx.logger.error(`dledger: leader services: ${err.message}`));
  }

  /** Resolves when every queued transition has run (tests). */
  settled(): Promise<void> {
    return this.chain;
  }

  private current(gen: number): boolean {
    return gen === this.generation && !this.stopped && this.isWritable();
  }

  private async lead(gen: number, term: number): Promise<void> {
    if (this.leading || !this.current(gen)) return;
    await this.metadata.caughtUp();
    if (!this.current(gen)) return;
    this.leading = true;
    this.metadata.startLeading();
    const delay = this.metadata.delayOffsets;
    this.schedule.onDelivered = () => this.metadata.progressChanged();
    await this.schedule.start(delay);
    this.metadata.delayProgress = () => {
      const out: Record<string, number> = {};
      for (const l of this.schedule.status()) out[String(l.level)] = l.deliveredOffset;
      return out;
    };
    if (!this.current(gen)) return;
    const skip = this.metadata.timerSkip;
    this.timerService = await TimerService.start(this.ctx, {
      slots: this.timerWheelSlots,
      ...(skip ? { skip } : {}),
    });
    this.timerService.register();
    this.timerService.onDelivered = () => this.metadata.progressChanged();
    const timers = this.timerService;
    this.metadata.timerProgress = () => timers.progress();
    if (!this.current(gen)) return;
    this.transactionService = new TransactionService(this.ctx, this.producers);
    await this.transactionService.start();
    if (!this.current(gen)) return;
    // Every service's guard is registered now: from here the floor they give is what this
    // leader keeps, and it is published to the followers (until now the previous leader's
    // floor, learned from the log, held every replica's retention, this one's included).
    const store = this.ctx.store;
    this.metadata.retentionFloorSource = async () => {
      const f = await store.parkedRecordsFloor(REPLICATED_FLOOR_GUARD);
      return floorToPublish(f.seenUpTo, f.offset, store.segmentSize);
    };
    this.ctx.logger.info(
      `dledger: leader of term ${term}: delay-level, timer and transaction-check services started (metadata applied to ${this.metadata.appliedOffset}${skip ? `, timers before ${new Date(skip.beforeMs).toISOString()} delivered by the previous leader` : ""})`,
    );
  }

  private async follow(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.metadata.retentionFloorSource = undefined;
    this.metadata.stopLeading();
    this.metadata.delayProgress = undefined;
    this.metadata.timerProgress = undefined;
    const tx = this.transactionService;
    const timers = this.timerService;
    this.transactionService = undefined;
    this.timerService = undefined;
    await Promise.allSettled([tx?.stop(), this.schedule.stop(), timers?.stop()]);
    this.ctx.logger.info(
      "dledger: no longer the leader: delay-level, timer and transaction-check services stopped",
    );
  }

  /**
   * Before a leadership transfer: writes the current metadata batch (offsets, delivery
   * progress) so the next leader starts where this one is. The services keep running until
   * this replica is deposed (the transfer may not happen); what they deliver meanwhile may be
   * delivered again by the next leader.
   */
  async handOver(): Promise<void> {
    await this.chain;
    if (this.leading) await this.metadata.flush();
  }

  /**
   * Clean stop: stops the services, then, while this replica still leads, writes the last
   * metadata batch so the next leader re-delivers nothing.
   */
  async stop(): Promise<void> {
    this.generation++;
    this.stopped = true;
    await this.chain;
    const tx = this.transactionService;
    const timers = this.timerService;
    this.metadata.retentionFloorSource = undefined;
    await Promise.allSettled([tx?.stop(), this.schedule.stop(), timers?.stop()]);
    if (this.leading) await this.metadata.flush();
    this.leading = false;
    this.metadata.stopLeading();
  }
}
