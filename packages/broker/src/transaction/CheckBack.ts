import { createOffsetMsgId, createRequest, encodeMessage, RequestCode } from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { BrokerContext } from "../context.js";
import type { ProducerManager } from "../ProducerManager.js";
import type { DecisionWriter } from "./DecisionWriter.js";
import { step } from "./HalfLifecycle.js";
import type { HalfTable, Pending } from "./HalfTable.js";
import { opRecords } from "./TransactionRecords.js";

/** Most check-backs one round sends (the rest wait for the next round). */
const MAX_CHECKS_PER_ROUND = 10_000;

/**
 * The check-back (spec §5.2, §8.8): every transactionCheckInterval, halves past their immunity
 * are asked about at a live producer of their group (CHECK_TRANSACTION_STATE), and a half
 * checked transactionCheckMax times without an answer is discarded, never delivered.
 */
export class CheckBack {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly table: HalfTable,
    private readonly writer: DecisionWriter,
    private readonly producers: ProducerManager,
  ) {}

  /** Runs a round every transactionCheckInterval (the next armed once the last is done). */
  arm(): void {
    if (this.table.stopped) return;
    const interval = Math.max(10, this.ctx.config.transactionCheckInterval);
    this.timer = setTimeout(() => {
      this.table
        .track(this.checkRound(Date.now()))
        .catch((err: Error) => this.ctx.logger.error(`transaction check round failed: ${err.message}`))
        .finally(() => this.arm());
    }, interval);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** One check round: halves past their immunity get a check-back, or are discarded past checkMax. */
  async checkRound(now: number): Promise<void> {
    // A slave holds copies of the halves; only the master asks producers and decides.
    if (this.checking || this.table.stopped || this.ctx.config.brokerRole === "SLAVE") return;
    this.checking = true;
    try {
      await this.table.catchUp();
      const { config } = this.ctx;
      const checked: number[] = [];
      const targets: Array<{ p: Pending; channel: Connection }> = [];
      const discards: Pending[] = [];
      for (const p of this.table.pending.values()) {
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
          checked.push(p.info.queueOffset);
          targets.push({ p, channel });
        }
      }
      if (checked.length > 0) await this.table.putRecords(opRecords(checked, "check", this.table.host, now));
      for (const t of targets) await this.sendCheck(t.p, t.channel);
      for (const p of discards) {
        await this.writer.write(p, "discard");
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
      const half = await this.writer.readHalf(p.info);
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
}
