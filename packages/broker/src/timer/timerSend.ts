import { MessageConst, ResponseCode } from "@tidemq/protocol";
import type { MessageInput } from "@tidemq/store";
import { fail } from "../processors/responses.js";
import type { SendProperties } from "../processors/sendProperties.js";
import { encodeRecallHandle } from "./RecallHandle.js";

/** The system topic timer messages wait in (RocketMQ 5's name), one queue. */
export const TIMER_TOPIC = "rmq_sys_wheel_timer";

type TimerProps = Partial<
  Pick<SendProperties, "timerDeliverMs" | "timerDelaySec" | "timerDelayMs" | "startDeliverTime">
>;

/**
 * The due time a send asks for, or undefined for an ordinary message. RocketMQ 5's
 * properties first (TIMER_DELIVER_MS, then TIMER_DELAY_SEC, then TIMER_DELAY_MS, as its
 * broker reads them), then ONS' __STARTDELIVERTIME (absolute ms, ali-ons'
 * setStartDeliverTime). A value that is not a whole number is refused, never ignored.
 */
export function timerDueMs(p: TimerProps, nowMs: number): { dueMs: number; property: string } | undefined {
  const pick = (
    value: string | undefined,
    property: string,
    toDue: (n: number) => number,
  ): { dueMs: number; property: string } | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === "" || !Number.isSafeInteger(n) || n < 0) {
      fail(
        ResponseCode.MESSAGE_ILLEGAL,
        `timer property ${property}=${JSON.stringify(value)} is not a whole number >= 0`,
      );
    }
    return { dueMs: toDue(n), property };
  };
  return (
    pick(p.timerDeliverMs, MessageConst.TIMER_DELIVER_MS, (n) => n) ??
    pick(p.timerDelaySec, MessageConst.TIMER_DELAY_SEC, (n) => nowMs + n * 1000) ??
    pick(p.timerDelayMs, MessageConst.TIMER_DELAY_MS, (n) => nowMs + n) ??
    pick(p.startDeliverTime, MessageConst.START_DELIVER_TIME, (n) => n)
  );
}

/** Refuses a due time further ahead than timerMaxDelaySec, naming the limit. */
export function checkTimerLimit(dueMs: number, property: string, nowMs: number, maxDelaySec: number): void {
  if (dueMs - nowMs > maxDelaySec * 1000) {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `timer message ${property} asks for delivery ${Math.ceil((dueMs - nowMs) / 1000)} s ahead (at ${new Date(dueMs).toISOString()}); this broker accepts at most timerMaxDelaySec=${maxDelaySec} s`,
    );
  }
}

/**
 * The timer branch of the send path. For a message with a due time still ahead, turns the
 * store input into a timer-topic record (REAL_TOPIC / REAL_QID / TIMER_OUT_MS appended, a
 * DELAY level dropped: a timer wins over a delay level) and returns the recall handle for
 * the response. A due time already passed leaves the message ordinary: delivered at once.
 * Returns undefined for ordinary messages.
 */
export function interceptTimer(
  config: { timerMaxDelaySec: number; brokerName: string },
  props: TimerProps & Partial<Pick<SendProperties, "uniqKey" | "delay" | "transactionPrepared">>,
  input: MessageInput,
  nowMs = Date.now(),
): string | undefined {
  const due = timerDueMs(props, nowMs);
  if (!due) return undefined;
  checkTimerLimit(due.dueMs, due.property, nowMs, config.timerMaxDelaySec);
  if (props.transactionPrepared === "true") {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `a transactional (half) message cannot carry a delivery time (${due.property}): send the timer after the commit`,
    );
  }
  if (due.dueMs <= nowMs) return undefined;
  let pairs = typeof input.encodedProperties === "string" ? input.encodedProperties : "";
  if (props.delay !== undefined) pairs = withoutPair(pairs, MessageConst.DELAY_TIME_LEVEL);
  input.encodedProperties = `${pairs}${MessageConst.REAL_TOPIC}\u0001${input.topic}\u0002${MessageConst.REAL_QUEUE_ID}\u0001${input.queueId}\u0002${MessageConst.TIMER_OUT_MS}\u0001${due.dueMs}\u0002`;
  const realTopic = input.topic;
  input.topic = TIMER_TOPIC;
  input.queueId = 0;
  if (!props.uniqKey) return undefined;
  return encodeRecallHandle({
    topic: realTopic,
    brokerName: config.brokerName,
    dueMs: due.dueMs,
    uniqKey: props.uniqKey,
  });
}

/** `pairs` (name\u0001value\u0002…) without the pairs named `name`. */
function withoutPair(pairs: string, name: string): string {
  let out = "";
  for (const pair of pairs.split("\u0002")) {
    if (pair === "" || pair.startsWith(`${name}\u0001`)) continue;
    out += `${pair}\u0002`;
  }
  return out;
}

/** A batch request whose own properties ask for a delivery time is refused (timers are per message). */
export function refuseBatchTimer(p: TimerProps): void {
  const due = timerDueMs(p, 0);
  if (due) {
    fail(
      ResponseCode.MESSAGE_ILLEGAL,
      `a batch message cannot carry a delivery time (${due.property}): send timer messages one by one`,
    );
  }
}
