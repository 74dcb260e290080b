import { MessageConst, MessageSysFlag, ResponseCode, transactionType } from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import { SCHEDULE_TOPIC } from "../TopicValidator.js";
import { delayRequest, dueTime, queueIdOfLevel, retryDelayLevel } from "./DelayLevelTable.js";

/**
 * TideMQ's property holding a scheduled record's due time (epoch ms). The consume-queue tag
 * field holds the same number (spec §8.6); the property is what rebuilds that field when
 * consume queues are recovered from the commit log (the store sees properties only), and
 * what `queryMsgById` shows. Removed again from the delivered copy.
 */
export const DELAY_DUE_MS = "DELAY_DUE_MS";

/** The properties of a send the router looks at (SendProperties has them, scanned). */
export interface DelaySignals {
  delay: string | undefined;
  transactionPrepared: string | undefined;
  startDeliverTime: string | undefined;
  timerDeliverMs: string | undefined;
}

/**
 * Parks a message with a delay level in SCHEDULE_TOPIC_XXXX (spec §8.6): topic and queue
 * become the schedule topic and `level − 1`, REAL_TOPIC / REAL_QID keep where it goes, the
 * tag field becomes its due time. ScheduleMessageService delivers it from there.
 *
 * Not this router's: transaction halves (prepared / rollback, TRAN_MSG) and messages with a
 * timer property (__STARTDELIVERTIME, TIMER_*) — their own services decide, so the router
 * leaves them untouched.
 */
export class DelayLevelRouter {
  constructor(
    private readonly levels: readonly number[],
    private readonly clock: () => number = Date.now,
  ) {}

  get levelCount(): number {
    return this.levels.length;
  }

  /**
   * Rewrites `input` in place when `signals.delay` asks for a level; returns the level (0 =
   * not delayed). A DELAY that is not a whole number is refused (MESSAGE_ILLEGAL).
   */
  route(input: MessageInput, signals: DelaySignals): number {
    if (signals.delay === undefined || this.notMine(input, signals)) return 0;
    const req = delayRequest(signals.delay, this.levels);
    if (req.kind === "invalid") fail(ResponseCode.MESSAGE_ILLEGAL, req.reason);
    if (req.kind === "none") return 0;
    this.park(input, req.level, req.delayMs, req.clamped);
    return req.level;
  }

  /**
   * A copy for `%RETRY%<group>` (send-back, or a client's own resend after a failed
   * send-back): waits its back-off level — the DELAY it carries when > 0, else 3 +
   * (reconsumeTimes − 1), the level CONSUMER_SEND_MSG_BACK would have picked. A first
   * delivery (reconsumeTimes 0, e.g. an admin resend) is not delayed.
   */
  routeRetry(input: MessageInput): number {
    const props = input.properties;
    const req = delayRequest(props[MessageConst.DELAY_TIME_LEVEL], this.levels);
    if (req.kind === "invalid") fail(ResponseCode.MESSAGE_ILLEGAL, req.reason);
    if (req.kind === "level") {
      this.park(input, req.level, req.delayMs, req.clamped);
      return req.level;
    }
    // Clients move RECONSUME_TIME into the header (ali-ons, Java); one that leaves it as a property counts too.
    const times = Math.max(input.reconsumeTimes, Number(props[MessageConst.RECONSUME_TIME]) || 0);
    if (times <= 0) return 0;
    const level = retryDelayLevel(0, times - 1, this.levels.length);
    this.park(input, level, this.levels[level - 1]!, false);
    return level;
  }

  private notMine(input: MessageInput, s: DelaySignals): boolean {
    const tx = transactionType(input.sysFlag);
    if (tx === MessageSysFlag.TRANSACTION_PREPARED_TYPE || tx === MessageSysFlag.TRANSACTION_ROLLBACK_TYPE)
      return true;
    if (
      s.transactionPrepared === "true" ||
      s.startDeliverTime !== undefined ||
      s.timerDeliverMs !== undefined
    )
      return true;
    // TIMER_DELAY_SEC / TIMER_DELAY_MS are not picked out by the send scan: look for them here (rare path).
    const enc = input.encodedProperties;
    if (typeof enc === "string") return enc.includes("TIMER_DELAY_");
    if (enc) return enc.includes("TIMER_DELAY_");
    const p = input.properties;
    return p.TIMER_DELAY_SEC !== undefined || p.TIMER_DELAY_MS !== undefined;
  }

  private park(input: MessageInput, level: number, delayMs: number, clamped: boolean): void {
    const due = dueTime(this.clock(), delayMs);
    const realTopic = input.topic;
    const realQid = input.queueId;
    input.topic = SCHEDULE_TOPIC;
    input.queueId = queueIdOfLevel(level);
    input.tagsCode = due;
    const enc = input.encodedProperties;
    if (enc !== undefined) {
      // Later pairs win for every reader, so appending overrides anything a producer sent.
      let extra = `REAL_TOPIC\u0001${realTopic}\u0002REAL_QID\u0001${realQid}\u0002${DELAY_DUE_MS}\u0001${due}\u0002`;
      if (clamped) extra += `DELAY\u0001${level}\u0002`;
      input.encodedProperties =
        typeof enc === "string" ? enc + extra : Buffer.concat([enc, Buffer.from(extra)]);
    } else {
      const props = { ...input.properties };
      props[MessageConst.REAL_TOPIC] = realTopic;
      props[MessageConst.REAL_QUEUE_ID] = String(realQid);
      props[MessageConst.DELAY_TIME_LEVEL] = String(level);
      props[DELAY_DUE_MS] = String(due);
      input.properties = props;
    }
  }
}

/**
 * The consume-queue tag code of a record when queues are rebuilt from the commit log: the
 * due time for scheduled records, the tag hash otherwise (the store's default rule).
 * Properties as an object or as a getter (what the store hands over).
 */
export function scheduleTagsCode<P extends Record<string, string> | ((name: string) => string | undefined)>(
  topic: string,
  properties: P,
  otherwise: (properties: P) => number,
): number {
  if (topic !== SCHEDULE_TOPIC) return otherwise(properties);
  const due = Number(typeof properties === "function" ? properties(DELAY_DUE_MS) : properties[DELAY_DUE_MS]);
  return Number.isSafeInteger(due) ? due : 0;
}
