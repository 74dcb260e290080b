import {
  createResponse,
  decodeHeader,
  javaStringHashCode,
  MessageConst,
  RecallMessageRequestHeader,
  type RemotingCommand,
  ResponseCode,
  toStorableIPv4,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import { TimerKind, TimerSlots, type TimerStore } from "@tidemq/store";
import type { BrokerContext } from "../context.js";
import { fail } from "../processors/responses.js";
import type { LoadedTimers } from "./LoadedTimers.js";
import { decodeRecallHandle } from "./RecallHandle.js";
import { TIMER_TOPIC } from "./timerSend.js";

/**
 * RECALL_MESSAGE: finds the pending timer message a recall handle names (loaded in memory, in
 * the wheel, or being rolled), cancels it in memory at once and stores a marker record in
 * TIMER_TOPIC so the recall holds across restarts. A message already delivered, recalled or
 * unknown is refused with the reason.
 */
export class TimerRecall {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly timers: TimerStore,
    private readonly memory: LoadedTimers,
    /** Resolves once the timer topic has been read into the wheel (before that a look-up could miss). */
    private readonly ready: () => Promise<void>,
  ) {}

  async recall(req: RemotingCommand, conn: Connection): Promise<RemotingCommand> {
    const header = decodeHeader(RecallMessageRequestHeader, req.extFields, "RECALL_MESSAGE");
    const h = decodeRecallHandle(header.recallHandle);
    if (typeof h === "string") fail(ResponseCode.ILLEGAL_OPERATION, `recall failed: ${h}`);
    const { config } = this.ctx;
    const { cancelled } = this.memory;
    if (h.topic !== header.topic) {
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: the handle is for topic ${h.topic}, not ${header.topic}`,
      );
    }
    if (h.brokerName !== config.brokerName) {
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: the handle belongs to broker ${h.brokerName}; this is ${config.brokerName}`,
      );
    }
    await this.ready();
    const due = new Date(h.dueMs).toISOString();
    const hash = javaStringHashCode(h.uniqKey);
    if (cancelled.get(h.uniqKey) === h.dueMs) {
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: message ${h.uniqKey} (due ${due}) is already recalled`,
      );
    }
    if (TimerSlots.slotSecOf(h.dueMs) < this.timers.loadedUpToSec) {
      // Loaded: pending in memory, or delivered already.
      const list = this.memory.loadedAt(h.dueMs, hash);
      await Promise.all(list.map((x) => x.read));
      const item = list.find((x) => x.uniqKey === h.uniqKey && !x.done);
      if (!item) {
        fail(
          ResponseCode.ILLEGAL_OPERATION,
          `recall failed: message ${h.uniqKey} is not pending: it was due ${due} and has been delivered (or no such timer message was sent)`,
        );
      }
    } else {
      const found = await this.timers.findPending(h.dueMs, hash);
      const rolling = this.memory.rolling.get(h.dueMs) ?? [];
      if (rolling.some((e) => e.uniqHash === hash && e.kind === TimerKind.MESSAGE)) found.message = true;
      if (rolling.some((e) => e.uniqHash === hash && e.kind === TimerKind.RECALL)) found.recalled = true;
      if (!found.message) {
        fail(
          ResponseCode.ILLEGAL_OPERATION,
          `recall failed: no pending timer message ${h.uniqKey} due ${due} on topic ${h.topic} (unknown handle)`,
        );
      }
      if (found.recalled) {
        fail(
          ResponseCode.ILLEGAL_OPERATION,
          `recall failed: message ${h.uniqKey} (due ${due}) is already recalled`,
        );
      }
    }
    // Cancel in memory at once (a load may come before the marker is enqueued), then store
    // the marker so the recall holds across restarts.
    cancelled.set(h.uniqKey, h.dueMs);
    if (this.deliveredMeanwhile(h.dueMs, hash, h.uniqKey)) {
      cancelled.delete(h.uniqKey);
      fail(
        ResponseCode.ILLEGAL_OPERATION,
        `recall failed: message ${h.uniqKey} was delivered at its due time ${due} while the recall was looked up`,
      );
    }
    try {
      await this.ctx.store.putMessage({
        topic: TIMER_TOPIC,
        queueId: 0,
        flag: 0,
        body: Buffer.from("0"),
        properties: {
          [MessageConst.TIMER_DEL_UNIQKEY]: h.uniqKey,
          [MessageConst.TIMER_OUT_MS]: String(h.dueMs),
          [MessageConst.REAL_TOPIC]: h.topic,
          [MessageConst.TAGS]: "_RECALL_TAG_",
          ...(header.producerGroup ? { [MessageConst.PRODUCER_GROUP]: header.producerGroup } : {}),
        },
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost: { host: toStorableIPv4(conn.remoteAddress), port: conn.remotePort },
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      });
    } catch (err) {
      cancelled.delete(h.uniqKey);
      throw err;
    }
    return createResponse(req, ResponseCode.SUCCESS, undefined, {
      msgId: h.uniqKey,
      MSG_REGION: config.regionId,
    });
  }

  /**
   * Whether the slot of a message looked up in the wheel was loaded during the look-up and
   * the message taken for delivery already (so a recall is too late).
   */
  private deliveredMeanwhile(dueMs: number, hash: number, uniqKey: string): boolean {
    if (TimerSlots.slotSecOf(dueMs) >= this.timers.loadedUpToSec) return false;
    const list = this.memory.loadedAt(dueMs, hash);
    // Still loaded and not taken: the cancel just set stops it. Read but gone: delivered.
    if (list.some((x) => !x.done && (x.uniqKey === undefined || x.uniqKey === uniqKey))) return false;
    return dueMs <= Date.now();
  }
}
