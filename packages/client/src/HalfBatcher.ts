import {
  atEndOfTurn,
  type ExtFields,
  type HalfBatchEntry,
  halfBatchEntryBytes,
  RequestCode,
  ResponseCode,
  TransactionRequestCode,
} from "@tidemq/protocol";
import { BrokerError } from "./errors.js";
import { FirstAttempt } from "./HalfFirstAttempt.js";
import { type HalfBatchAnswer, readHalfBatchAnswer } from "./halfBatchAnswer.js";
import { encodeHalfBatchMembers } from "./halfBatchBody.js";
import { type BatchedHalf, retryAttempt, settle } from "./halfBatchMember.js";
import type { PreparedMessage } from "./Message.js";
import type { MessageQueue } from "./MessageQueue.js";
import { type SendResultRaw, sendStatusOf } from "./MQClientAPI.js";
import type { AutoBatchLimits } from "./ProduceAccumulator.js";
import type { SendCore } from "./SendCore.js";
import type { SendReceipt } from "./SendReceipt.js";
import type { Transaction } from "./Transaction.js";

// A promise's resolving functions, taken out by one shared executor (no closure per half).
let takenResolve: ((receipt: SendReceipt) => void) | undefined;
let takenReject: ((err: unknown) => void) | undefined;
function take(resolve: (receipt: SendReceipt) => void, reject: (err: unknown) => void): void {
  takenResolve = resolve;
  takenReject = reject;
}

/**
 * Coalesces the transaction half messages a producer sends in one event-loop turn to the same
 * broker into one SEND_HALF_BATCH (TideMQ's request): with many transactions in flight their
 * halves cost one request and one broker append instead of one each. Each half is still its
 * own send, with its own result (a refused one fails alone), its own queue choice and retries.
 * A half's first attempt is the batcher's own (sendHalf: one object and one promise per half,
 * one fault-latency record per batch); a failed one goes on in SendCore's retry loop, whose
 * attempts come back here (send). A lone half, a half bigger than the batch limit, and every
 * half to a broker that does not know the request (a RocketMQ broker answers
 * REQUEST_CODE_NOT_SUPPORTED) go as a plain SEND_MESSAGE_V2.
 * Only producers with autoBatch on (the default) coalesce halves.
 */
export class HalfBatcher {
  private waiting = new Map<string, BatchedHalf[]>();
  /** The list the last half joined and its broker (most halves of a turn go to one broker): no Map lookup. */
  private lastAddr: string | undefined;
  private lastList: BatchedHalf[] | undefined;
  private scheduled = false;
  /** Brokers that answered REQUEST_CODE_NOT_SUPPORTED. */
  private readonly plainOnly = new Set<string>();
  /** Batch requests sent (for tests and statistics). */
  batchesSent = 0;
  /**
   * The request header's wire fields, the same for every batch of this producer: built once
   * (not per request, as a header object would be) and never modified. Sent in the binary
   * serialization, cheaper to encode and decode than JSON (as sendMessage's).
   */
  private readonly header: ExtFields;

  constructor(
    /** @internal */ readonly core: SendCore,
    group: string,
    defaultTopic: string,
    defaultTopicQueueNums: string,
    private readonly limits: AutoBatchLimits,
  ) {
    this.header = { producerGroup: group, defaultTopic, defaultTopicQueueNums };
  }

  /**
   * A half of `tx` (markHalf'd), its receipt recorded in `tx` before the promise resolves; or
   * undefined when the half cannot take this path — its topic's route is not known yet, its
   * broker has no known master, or its body is to be compressed — and goes through
   * SendCore.send instead. `t0`: when the send began (the caller's clock read, Date.now()).
   */
  sendHalf(msg: PreparedMessage, tx: Transaction, t0: number): Promise<SendReceipt> | undefined {
    const core = this.core;
    if (msg.body.length > core.options.compressMsgBodyOverHowmuch) return undefined;
    const queues = core.knownQueues(msg.topic);
    if (!queues) return undefined;
    const mq = core.chooseQueue(msg.topic, queues, undefined, msg.shardingKey, undefined, t0);
    let addr: string;
    try {
      addr = core.brokerAddr(mq);
    } catch {
      // No master known for its broker: SendCore's loop retries that (and waits for a route).
      return undefined;
    }
    const m = new FirstAttempt(this, msg, tx, mq, queues, addr, t0);
    const receipt = new Promise<SendReceipt>(take);
    m.resolve = takenResolve!;
    m.reject = takenReject!;
    this.enqueue(addr, m);
    return receipt;
  }

  /** One attempt of SendCore's retry loop for a half (see SendCore.send). */
  send(
    addr: string,
    entry: HalfBatchEntry,
    timeoutMs: number,
    alone: () => Promise<SendResultRaw>,
  ): Promise<SendResultRaw> {
    if (this.plainOnly.size > 0 && this.plainOnly.has(addr)) return alone();
    const bytes = halfBatchEntryBytes(entry);
    if (bytes > this.limits.maxBytes) return alone();
    return new Promise<SendResultRaw>((resolve, reject) => {
      this.enqueue(addr, retryAttempt(entry, bytes, timeoutMs, alone, resolve, reject));
    });
  }

  /** SEND_MESSAGE_V2 of one half entry (a retry's lone attempt). */
  sendV2(mq: MessageQueue, addr: string, e: HalfBatchEntry, timeoutMs: number): Promise<SendResultRaw> {
    return this.core.sendTo(
      RequestCode.SEND_MESSAGE_V2,
      mq,
      addr,
      e.body,
      timeoutMs,
      e.sysFlag,
      e.flag,
      e.properties,
      undefined,
    );
  }

  private enqueue(addr: string, m: BatchedHalf): void {
    if ((this.plainOnly.size > 0 && this.plainOnly.has(addr)) || m.bytes > this.limits.maxBytes) {
      m.sendAlone();
      return;
    }
    let list = this.lastList;
    if (list === undefined || addr !== this.lastAddr) {
      list = this.waiting.get(addr);
      if (!list) {
        list = [];
        this.waiting.set(addr, list);
      }
      this.lastAddr = addr;
      this.lastList = list;
    }
    list.push(m);
    if (list.length >= this.limits.maxCount) {
      // A full batch leaves at once (as the producer's auto-batches do). Its place takes a
      // fresh list, not a delete (a Map shrinks on delete, a runtime call, and grows back with
      // the next half); the turn's flush passes over an empty one.
      const fresh: BatchedHalf[] = [];
      this.waiting.set(addr, fresh);
      this.lastList = fresh;
      this.flushList(addr, list);
    } else if (!this.scheduled) {
      this.scheduled = true;
      // Halves sent in promise chains of this turn still join.
      atEndOfTurn(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const waiting = this.waiting;
    if (waiting.size === 0) return;
    this.waiting = new Map();
    this.lastList = undefined;
    for (const [addr, list] of waiting) this.flushList(addr, list);
  };

  /** Splits one broker's halves into batches within the limits, in send order. */
  private flushList(addr: string, list: BatchedHalf[]): void {
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
      if (end - start === 1) list[start]!.sendAlone();
      else this.sendBatch(addr, start === 0 && end === list.length ? list : list.slice(start, end));
      start = end;
    }
  }

  private sendBatch(addr: string, part: BatchedHalf[]): void {
    let timeoutMs = part[0]!.timeoutMs;
    let bytes = 0;
    for (const m of part) {
      timeoutMs = Math.min(timeoutMs, m.timeoutMs);
      bytes += m.bytes;
    }
    this.batchesSent++;
    const t0 = Date.now();
    // A reused buffer: a fresh one per batch is fresh memory (page faults on first touch) and
    // external memory to V8, whose growth brings on mark-compacts (see BufferPool).
    const pool = this.core.bodies;
    const buffer = pool.take(bytes);
    this.core.instance.api
      .callWithFields(
        addr,
        TransactionRequestCode.SEND_HALF_BATCH,
        this.header,
        encodeHalfBatchMembers(part, bytes, buffer),
        timeoutMs,
        () => `SEND_HALF_BATCH of ${part.length} half messages`,
      )
      .then(
        (res) => {
          // The broker answered the one request that carried the buffer: it read every byte,
          // so no socket holds it any more (after a timeout or a lost connection one might).
          pool.give(buffer);
          let answer: HalfBatchAnswer;
          try {
            answer = readHalfBatchAnswer(res.body, part.length);
          } catch (err) {
            // A malformed answer: whether these halves were stored is not known (as after a
            // timeout); each attempt fails and its retry loop decides.
            for (const m of part) m.failed(err);
            return;
          }
          // The broker stored halves of the batch: one latency record for their broker (they
          // share the round trip); a refused half's retry records its fault after this.
          for (let i = 0; i < part.length; i++) {
            const m = part[i]!;
            if (m instanceof FirstAttempt && sendStatusOf(answer.code[i]!) !== undefined) {
              this.core.fault.update(m.mq.brokerName, Date.now() - t0, false, Date.now());
              break;
            }
          }
          for (let i = 0; i < part.length; i++) settle(part[i]!, answer, i, addr);
        },
        (err: unknown) => {
          // A refusal is an answer too: the broker read the whole request.
          if (err instanceof BrokerError) pool.give(buffer);
          if (err instanceof BrokerError && err.code === ResponseCode.REQUEST_CODE_NOT_SUPPORTED) {
            this.plainOnly.add(addr);
            for (const m of part) m.sendAlone();
            return;
          }
          for (const m of part) m.failed(err);
        },
      )
      .catch((err: unknown) => {
        // Not reached: settling a member does not throw (each one's own errors reject its send).
        this.core.instance.logger.error(`SEND_HALF_BATCH answer not handled: ${(err as Error).message}`);
      });
  }
}
