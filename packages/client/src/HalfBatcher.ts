import {
  atEndOfTurn,
  decodeHalfBatchResults,
  encodeHalfBatch,
  type HalfBatchEntry,
  halfBatchEntryBytes,
  ResponseCode,
  SerializeType,
  TransactionRequestCode,
} from "@tidemq/protocol";
import { BrokerError } from "./errors.js";
import { type SendResultRaw, sendStatusOf } from "./MQClientAPI.js";
import type { MQClientInstance } from "./MQClientInstance.js";
import type { AutoBatchLimits } from "./ProduceAccumulator.js";

interface Waiting {
  entry: HalfBatchEntry;
  bytes: number;
  timeoutMs: number;
  /** Sends this half alone as SEND_MESSAGE_V2 (a lone half, a broker without the batch request). */
  alone: () => Promise<SendResultRaw>;
  resolve: (r: SendResultRaw) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces the transaction half messages a producer sends in one event-loop turn to the same
 * broker into one SEND_HALF_BATCH (TideMQ's request): with many transactions in flight their
 * halves cost one request and one broker append instead of one each. Each half is still its
 * own send, with its own result (a refused one fails alone), its own queue choice and retries
 * (the batcher sits under SendCore's retry loop, one attempt per half). A lone half, a half
 * bigger than the batch limit, and every half to a broker that does not know the request (a
 * RocketMQ broker answers REQUEST_CODE_NOT_SUPPORTED) go as a plain SEND_MESSAGE_V2.
 * Only producers with autoBatch on (the default) coalesce halves.
 */
export class HalfBatcher {
  private waiting = new Map<string, Waiting[]>();
  private scheduled = false;
  /** Brokers that answered REQUEST_CODE_NOT_SUPPORTED. */
  private readonly plainOnly = new Set<string>();
  /** Batch requests sent (for tests and statistics). */
  batchesSent = 0;

  constructor(
    private readonly instance: MQClientInstance,
    private readonly group: string,
    private readonly defaultTopic: string,
    private readonly defaultTopicQueueNums: string,
    private readonly limits: AutoBatchLimits,
  ) {}

  send(
    addr: string,
    entry: HalfBatchEntry,
    timeoutMs: number,
    alone: () => Promise<SendResultRaw>,
  ): Promise<SendResultRaw> {
    if (this.plainOnly.has(addr)) return alone();
    const bytes = halfBatchEntryBytes(entry);
    if (bytes > this.limits.maxBytes) return alone();
    let list = this.waiting.get(addr);
    if (!list) {
      list = [];
      this.waiting.set(addr, list);
    }
    const members = list;
    const done = new Promise<SendResultRaw>((resolve, reject) => {
      members.push({ entry, bytes, timeoutMs, alone, resolve, reject });
    });
    if (members.length >= this.limits.maxCount) {
      // A full batch leaves at once (as the producer's auto-batches do).
      this.waiting.delete(addr);
      this.flushList(addr, members);
    } else if (!this.scheduled) {
      this.scheduled = true;
      // Halves sent in promise chains of this turn still join.
      atEndOfTurn(this.flush);
    }
    return done;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const waiting = this.waiting;
    if (waiting.size === 0) return;
    this.waiting = new Map();
    for (const [addr, list] of waiting) this.flushList(addr, list);
  };

  /** Splits one broker's halves into batches within the limits, in send order. */
  private flushList(addr: string, list: Waiting[]): void {
    const { maxBytes, maxCount } = this.limits;
    let start = 0;
    while (start < list.length) {
      let end = start;
      let bytes = 0;
      while (end < list.length && end - start < maxCount) {
        const size = list[end]!.bytes;
        if (end > start && bytes + size > maxBytes) break;
        bytes += size;
        end++;
      }
      if (end - start === 1) this.sendAlone(list[start]!);
      else this.sendBatch(addr, start === 0 && end === list.length ? list : list.slice(start, end));
      start = end;
    }
  }

  private sendAlone(w: Waiting): void {
    w.alone().then(w.resolve, w.reject);
  }

  private sendBatch(addr: string, part: Waiting[]): void {
    let timeoutMs = part[0]!.timeoutMs;
    for (const w of part) timeoutMs = Math.min(timeoutMs, w.timeoutMs);
    const what = `SEND_HALF_BATCH of ${part.length} half messages`;
    this.batchesSent++;
    this.instance.api
      .call(
        addr,
        TransactionRequestCode.SEND_HALF_BATCH,
        {
          producerGroup: this.group,
          defaultTopic: this.defaultTopic,
          defaultTopicQueueNums: this.defaultTopicQueueNums,
        },
        encodeHalfBatch(part.map((w) => w.entry)),
        // The binary header: cheaper to encode and decode than JSON (as sendMessage uses).
        { timeoutMs, what, serializeType: SerializeType.ROCKETMQ },
      )
      .then(
        (res) => {
          const results = decodeHalfBatchResults(res.body, part.length);
          for (let i = 0; i < part.length; i++) {
            const w = part[i]!;
            const r = results[i]!;
            const sendStatus = sendStatusOf(r.code);
            if (sendStatus !== undefined && r.msgId !== undefined) {
              w.resolve({
                sendStatus,
                offsetMsgId: r.msgId,
                queueId: r.queueId ?? w.entry.queueId,
                queueOffset: r.queueOffset ?? -1,
              });
            } else {
              w.reject(new BrokerError(r.code, r.remark, addr, `send to topic ${w.entry.topic}`));
            }
          }
        },
        (err: unknown) => {
          if (err instanceof BrokerError && err.code === ResponseCode.REQUEST_CODE_NOT_SUPPORTED) {
            this.plainOnly.add(addr);
            for (const w of part) this.sendAlone(w);
            return;
          }
          for (const w of part) w.reject(err);
        },
      )
      .catch((err: unknown) => {
        // A malformed answer: whether these halves were stored is not known (as after a
        // timeout); each send fails and its retry loop decides.
        for (const w of part) w.reject(err);
      });
  }
}
