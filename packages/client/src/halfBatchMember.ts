import type { HalfBatchEntry } from "@tidemq/protocol";
import { BrokerError } from "./errors.js";
import type { HalfBatchAnswer } from "./halfBatchAnswer.js";
import type { HalfBatchMember } from "./halfBatchBody.js";
import { type SendResultRaw, sendStatusOf } from "./MQClientAPI.js";
import type { SendStatus } from "./SendReceipt.js";

/** One half waiting for the turn's SEND_HALF_BATCH: its entry (encoded as it is) and its answer. */
export interface BatchedHalf extends HalfBatchMember {
  timeoutMs: number;
  /** Stored: row `i` of the answer is this half's (a stored one's). Never throws. */
  stored(sendStatus: SendStatus, a: HalfBatchAnswer, i: number): void;
  /** This attempt failed (the batch, or this half in it). */
  failed(err: unknown): void;
  /** Sends this half alone as SEND_MESSAGE_V2 (a lone half, a broker without the batch request). */
  sendAlone(): void;
}

/** A member's `stored` when row `i` of the answer says so, else `failed` with the broker's refusal. */
export function settle(m: BatchedHalf, a: HalfBatchAnswer, i: number, addr: string): void {
  const code = a.code[i]!;
  const sendStatus = sendStatusOf(code);
  if (sendStatus !== undefined && a.msgId[i] !== undefined) m.stored(sendStatus, a, i);
  else m.failed(new BrokerError(code, a.remark[i] || undefined, addr, `send to topic ${m.topic}`));
}

/** An attempt of SendCore's retry loop: answered with the broker's raw result (or its error). */
export interface RetryAttempt extends BatchedHalf {
  /** Sends this half alone as SEND_MESSAGE_V2. */
  alone: () => Promise<SendResultRaw>;
  resolve: (r: SendResultRaw) => void;
  reject: (err: unknown) => void;
}

/** A retry's attempt as a member of its turn's batch. */
export function retryAttempt(
  entry: HalfBatchEntry,
  bytes: number,
  timeoutMs: number,
  alone: () => Promise<SendResultRaw>,
  resolve: (r: SendResultRaw) => void,
  reject: (err: unknown) => void,
): RetryAttempt {
  return {
    ...entry,
    asciiProps: undefined,
    propsBytes: Buffer.byteLength(entry.properties, "utf8"),
    bytes,
    timeoutMs,
    alone,
    resolve,
    reject,
    stored: (sendStatus, a, i) =>
      resolve({
        sendStatus,
        offsetMsgId: a.msgId[i]!,
        queueId: a.queueId[i]!,
        queueOffset: a.queueOffset[i]!,
      }),
    failed: reject,
    sendAlone() {
      alone().then(resolve, reject);
    },
  };
}
