import {
  CheckTransactionStateRequestHeader,
  decodeHeader,
  decodeMessage,
  decodeOffsetMsgId,
  formatHostPort,
  MessageConst,
  type MessageExt,
  MessageSysFlag,
  type RemotingCommand,
  RequestCode,
} from "@tidemq/protocol";
import { type EndingHalf, endTransactionBatcherOf, type HalfOwner } from "./EndTransactionBatcher.js";
import { ClientError } from "./errors.js";
import type { PreparedMessage } from "./Message.js";
import { MessageView } from "./MessageView.js";
import type { MQClientInstance } from "./MQClientInstance.js";
import type { SendReceipt } from "./SendReceipt.js";
import { TraceMessageType } from "./trace/TraceRecord.js";
import type { Tracer } from "./trace/Tracer.js";

/** How a local transaction ended (rocketmq-client-nodejs' TransactionResolution). */
export enum TransactionResolution {
  COMMIT = "COMMIT",
  ROLLBACK = "ROLLBACK",
  /** Not known yet: the broker asks again later (check-back). */
  UNKNOWN = "UNKNOWN",
}

/** 4.x name of the same answer (Java's LocalTransactionState). */
export const LocalTransactionState = {
  COMMIT_MESSAGE: TransactionResolution.COMMIT,
  ROLLBACK_MESSAGE: TransactionResolution.ROLLBACK,
  UNKNOW: TransactionResolution.UNKNOWN,
} as const;

/**
 * Answers the broker's check-back for a half message whose END_TRANSACTION never arrived
 * (the producer crashed, or answered UNKNOWN): look up the local transaction (the order
 * row) and say whether it committed. RocketMQ 5's TransactionChecker.
 */
export interface TransactionChecker {
  check(message: MessageView): Promise<TransactionResolution> | TransactionResolution;
}

const COMMIT_OR_ROLLBACK: Record<TransactionResolution, number> = {
  [TransactionResolution.COMMIT]: MessageSysFlag.TRANSACTION_COMMIT_TYPE,
  [TransactionResolution.ROLLBACK]: MessageSysFlag.TRANSACTION_ROLLBACK_TYPE,
  [TransactionResolution.UNKNOWN]: MessageSysFlag.TRANSACTION_NOT_TYPE,
};

/** Where a half message was stored: what END_TRANSACTION names. */
export interface HalfHandle {
  brokerAddr: string;
  /** Queue offset in RMQ_SYS_TRANS_HALF_TOPIC. */
  tranStateTableOffset: number;
  commitLogOffset: number;
  /** Client message id (UNIQ_KEY). */
  msgId: string;
  topic: string;
  /** The message's tags and keys (space-separated), for the EndTransaction trace record. */
  tags?: string;
  keys?: string;
}

/** Java's LocalTransactionState names, as EndTransaction trace records carry them. */
const TRACE_STATE: Record<TransactionResolution, string> = {
  [TransactionResolution.COMMIT]: "COMMIT_MESSAGE",
  [TransactionResolution.ROLLBACK]: "ROLLBACK_MESSAGE",
  [TransactionResolution.UNKNOWN]: "UNKNOW",
};

/** One EndTransaction trace record (RocketMQ's EndTransactionTraceHookImpl) for an END_TRANSACTION sent. */
function traceEnd(
  tracer: Tracer | undefined,
  half: HalfHandle,
  resolution: TransactionResolution,
  fromTransactionCheck: boolean,
): void {
  tracer?.endTransaction({
    topic: half.topic,
    msgId: half.msgId,
    tags: half.tags ?? "",
    keys: half.keys ?? "",
    storeHost: half.brokerAddr,
    msgType: TraceMessageType.Trans_msg_Commit,
    transactionId: half.msgId,
    transactionState: TRACE_STATE[resolution],
    fromTransactionCheck,
  });
}

/** Marks a prepared message as a half of `group`; it can then not travel in a batch. */
export function markHalf(msg: PreparedMessage, group: string): void {
  const props = msg.properties;
  const before = msg.asciiPropertiesBytes;
  // The measure of printable-ASCII properties stays exact when the two pairs are new (a
  // group name is ASCII: checkGroup); otherwise it is unknown (measured when encoded).
  const known =
    before !== undefined &&
    before >= 0 &&
    props[MessageConst.TRANSACTION_PREPARED] === undefined &&
    props[MessageConst.PRODUCER_GROUP] === undefined;
  props[MessageConst.TRANSACTION_PREPARED] = "true";
  props[MessageConst.PRODUCER_GROUP] = group;
  msg.unbatchable = true;
  msg.asciiPropertiesBytes = known
    ? before +
      MessageConst.TRANSACTION_PREPARED.length +
      6 +
      MessageConst.PRODUCER_GROUP.length +
      group.length +
      2
    : undefined;
}

/** The value of a hex digit's char code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * The commit-log offset an offset message id names: its last 16 hex digits (offsets stay far
 * below 2^53), read in one pass over the text without decodeOffsetMsgId's Buffer and host
 * string (once per half); any id that is not plainly one (length, hex, port field) goes
 * through decodeOffsetMsgId and its errors.
 */
export function commitLogOffsetOf(offsetMsgId: string): number {
  const n = offsetMsgId.length;
  if (n === 32 || n === 56) {
    let port = 0;
    let high = 0;
    let low = 0;
    let i = 0;
    for (; i < n; i++) {
      const d = hexValue(offsetMsgId.charCodeAt(i));
      if (d < 0) break;
      if (i >= n - 8) low = low * 16 + d;
      else if (i >= n - 16) high = high * 16 + d;
      else if (i >= n - 24) port = port * 16 + d;
    }
    const offset = high * 2 ** 32 + low;
    if (i === n && port <= 65535 && Number.isSafeInteger(offset)) return offset;
  }
  return decodeOffsetMsgId(offsetMsgId).commitLogOffset;
}

export function halfHandleOf(receipt: SendReceipt): HalfHandle {
  return {
    brokerAddr: receipt.brokerAddr,
    tranStateTableOffset: receipt.queueOffset,
    commitLogOffset: commitLogOffsetOf(receipt.offsetMessageId),
    msgId: receipt.messageId,
    topic: receipt.messageQueue.topic,
  };
}

/** END_TRANSACTION (spec §4.12), answered (not oneway) so a refused commit is an error here. */
export async function endTransaction(
  instance: MQClientInstance,
  group: string,
  half: HalfHandle,
  resolution: TransactionResolution,
  fromTransactionCheck: boolean,
): Promise<void> {
  await instance.api.call(
    half.brokerAddr,
    RequestCode.END_TRANSACTION,
    {
      producerGroup: group,
      tranStateTableOffset: half.tranStateTableOffset,
      commitLogOffset: half.commitLogOffset,
      commitOrRollback: COMMIT_OR_ROLLBACK[resolution],
      fromTransactionCheck,
      msgId: half.msgId,
      transactionId: half.msgId,
      topic: half.topic,
    },
    undefined,
    { what: `END_TRANSACTION (${resolution}) of message ${half.msgId}` },
  );
}

// A promise's resolving functions, taken out by one shared executor (no closure per end).
let takenResolve: (() => void) | undefined;
let takenReject: ((err: unknown) => void) | undefined;
function take(resolve: () => void, reject: (err: unknown) => void): void {
  takenResolve = resolve;
  takenReject = reject;
}

/**
 * A transaction of RocketMQ 5's shape: `producer.send(message, tx)` stores half messages,
 * `commit()` makes every one of them visible, `rollback()` drops them. Until then (and if
 * this process dies first) the broker asks the producer group's `checker`.
 */
export class Transaction implements HalfOwner {
  /** The first half, and the others (most transactions have one half: no array for it). */
  private first: EndingHalf | undefined;
  /** Created with the second half, one long ([] would allocate room for 17 at the first push). */
  private more: EndingHalf[] | undefined;
  private state: "open" | "ending" | "committed" | "rolledBack" = "open";
  /** @internal The resolution being sent (HalfOwner). */
  resolution: TransactionResolution = TransactionResolution.UNKNOWN;
  /** While ending: halves not answered yet, the first failure, and the one promise's functions. */
  private pending = 0;
  private failure: { reason: unknown } | undefined;
  private resolveEnd: (() => void) | undefined;
  private rejectEnd: ((err: unknown) => void) | undefined;

  constructor(
    private readonly instance: MQClientInstance,
    readonly producerGroup: string,
    /** The producer's tracer when enableTrace is on: each END_TRANSACTION gets a record. */
    private readonly tracer?: Tracer,
  ) {}

  /** Half messages sent in this transaction so far. */
  get size(): number {
    return this.first === undefined ? 0 : 1 + (this.more?.length ?? 0);
  }

  /**
   * @internal Producer.send(msg, tx) records each stored half here: one object per half,
   * which is also its END_TRANSACTION_BATCH entry when the transaction ends.
   * `commitLogOffset`: the one the receipt's offsetMessageId names when the caller read it
   * already (the SEND_HALF_BATCH answer's reader does), else -1.
   */
  addHalf(receipt: SendReceipt, msg?: PreparedMessage, commitLogOffset = -1): void {
    this.recordHalf({
      brokerAddr: receipt.brokerAddr,
      tranStateTableOffset: receipt.queueOffset,
      commitLogOffset: commitLogOffset >= 0 ? commitLogOffset : commitLogOffsetOf(receipt.offsetMessageId),
      msgId: receipt.messageId,
      topic: receipt.messageQueue.topic,
      tags: msg ? (msg.properties[MessageConst.TAGS] ?? "") : undefined,
      keys: msg ? (msg.properties[MessageConst.KEYS] ?? "") : undefined,
      commitOrRollback: MessageSysFlag.TRANSACTION_NOT_TYPE,
      owner: this,
    });
  }

  /**
   * @internal A stored half, already in its END_TRANSACTION_BATCH entry's shape and owned by
   * this transaction (the batcher's FirstAttempt is one: no second object per half).
   */
  recordHalf(h: EndingHalf): void {
    if (this.first === undefined) this.first = h;
    else if (this.more) this.more.push(h);
    else this.more = [h];
  }

  /** @internal Throws unless messages may still be added. */
  checkOpen(): void {
    if (this.state !== "open") throw new ClientError(`the transaction is ${this.state}: no more sends`);
  }

  commit(): Promise<void> {
    return this.end(TransactionResolution.COMMIT);
  }

  rollback(): Promise<void> {
    return this.end(TransactionResolution.ROLLBACK);
  }

  /**
   * END_TRANSACTION for every half through the client's EndTransactionBatcher: the halves
   * themselves are the batch entries, each answer comes back to halfEnded, and the one
   * promise returned here settles when the last half is answered (no promise per half).
   */
  private end(resolution: TransactionResolution): Promise<void> {
    if (this.state !== "open")
      return Promise.reject(new ClientError(`the transaction is already ${this.state}`));
    const first = this.first;
    if (first === undefined)
      return Promise.reject(new ClientError("the transaction has no message: send one first"));
    const more = this.more;
    this.state = "ending";
    this.resolution = resolution;
    this.pending = this.size;
    this.failure = undefined;
    const ended = new Promise<void>(take);
    this.resolveEnd = takenResolve;
    this.rejectEnd = takenReject;
    const code = COMMIT_OR_ROLLBACK[resolution];
    const batcher = endTransactionBatcherOf(this.instance);
    first.commitOrRollback = code;
    batcher.end(first, this.producerGroup);
    if (more) {
      for (let i = 0; i < more.length; i++) {
        const h = more[i]!;
        h.commitOrRollback = code;
        batcher.end(h, this.producerGroup);
      }
    }
    return ended;
  }

  /** @internal HalfOwner: a half's END_TRANSACTION was answered (err: refused or not sent). */
  halfEnded(_half: EndingHalf, err: unknown): void {
    if (err !== undefined && this.failure === undefined) this.failure = { reason: err };
    if (--this.pending > 0) return;
    const resolution = this.resolution;
    // Like Java's hook: the END_TRANSACTION sent, whatever the broker made of it.
    if (this.tracer) {
      traceEnd(this.tracer, this.first!, resolution, false);
      for (const h of this.more ?? []) traceEnd(this.tracer, h, resolution, false);
    }
    const failure = this.failure;
    this.failure = undefined;
    if (failure) {
      // The broker asks the checker about any half whose END_TRANSACTION did not arrive.
      this.state = "open";
      this.rejectEnd!(failure.reason);
    } else {
      this.state = resolution === TransactionResolution.COMMIT ? "committed" : "rolledBack";
      this.resolveEnd!();
    }
  }

  /** @internal HalfOwner: one END_TRANSACTION alone (a broker without the batch request). */
  endAlone(half: EndingHalf): Promise<void> {
    return endTransaction(this.instance, this.producerGroup, half, this.resolution, false);
  }
}

/**
 * Handles CHECK_TRANSACTION_STATE (spec §5.2) for a producer: asks `check` about the half
 * and answers with END_TRANSACTION (fromTransactionCheck) to the broker that asked. UNKNOWN answers nothing: the broker asks again next round.
 */
export async function answerCheck(
  instance: MQClientInstance,
  group: string,
  req: RemotingCommand,
  brokerAddr: string | undefined,
  check: (message: MessageView, ext: MessageExt) => Promise<TransactionResolution> | TransactionResolution,
  tracer?: Tracer,
): Promise<void> {
  const h = decodeHeader(CheckTransactionStateRequestHeader, req.extFields, "CHECK_TRANSACTION_STATE");
  const body = req.body;
  if (!body) throw new ClientError("CHECK_TRANSACTION_STATE without the half message");
  const ext = decodeMessage(body, 0, { decompressBody: true });
  const view = new MessageView(ext, { topic: ext.topic, brokerName: "", queueId: ext.queueId });
  const resolution = await check(view, ext);
  if (resolution !== TransactionResolution.COMMIT && resolution !== TransactionResolution.ROLLBACK) return;
  const msgId = ext.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] ?? h.msgId ?? ext.msgId;
  const half: HalfHandle = {
    brokerAddr: brokerAddr ?? formatHostPort(ext.storeHost),
    tranStateTableOffset: h.tranStateTableOffset,
    commitLogOffset: h.commitLogOffset,
    msgId,
    topic: ext.topic,
    tags: ext.properties[MessageConst.TAGS] ?? "",
    keys: ext.properties[MessageConst.KEYS] ?? "",
  };
  // Recorded as it is sent (the answer may come after this producer began to shut down).
  traceEnd(tracer, half, resolution, true);
  await endTransaction(instance, group, half, resolution, true);
}
