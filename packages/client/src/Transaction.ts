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
import { endTransactionBatcherOf } from "./EndTransactionBatcher.js";
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
  msg.properties[MessageConst.TRANSACTION_PREPARED] = "true";
  msg.properties[MessageConst.PRODUCER_GROUP] = group;
  msg.unbatchable = true;
  msg.asciiPropertiesBytes = undefined;
}

const HEX = /^[0-9A-Fa-f]+$/;

/**
 * The commit-log offset an offset message id names: its last 16 hex digits (offsets stay far
 * below 2^53), read without decodeOffsetMsgId's Buffer and host string (once per half); any
 * id that is not plainly one (length, hex, port field) goes through decodeOffsetMsgId and its errors.
 */
export function commitLogOffsetOf(offsetMsgId: string): number {
  const n = offsetMsgId.length;
  if ((n === 32 || n === 56) && HEX.test(offsetMsgId)) {
    const port = Number.parseInt(offsetMsgId.slice(n - 24, n - 16), 16);
    const offset = Number.parseInt(offsetMsgId.slice(n - 16), 16);
    if (port <= 65535 && Number.isSafeInteger(offset)) return offset;
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

/**
 * A transaction of RocketMQ 5's shape: `producer.send(message, tx)` stores half messages,
 * `commit()` makes every one of them visible, `rollback()` drops them. Until then (and if
 * this process dies first) the broker asks the producer group's `checker`.
 */
export class Transaction {
  private readonly halves: HalfHandle[] = [];
  private state: "open" | "ending" | "committed" | "rolledBack" = "open";

  constructor(
    private readonly instance: MQClientInstance,
    readonly producerGroup: string,
    /** The producer's tracer when enableTrace is on: each END_TRANSACTION gets a record. */
    private readonly tracer?: Tracer,
  ) {}

  /** Half messages sent in this transaction so far. */
  get size(): number {
    return this.halves.length;
  }

  /** @internal Producer.send(msg, tx) records each stored half here. */
  addHalf(receipt: SendReceipt, msg?: PreparedMessage): void {
    const h = halfHandleOf(receipt);
    if (msg) {
      h.tags = msg.properties[MessageConst.TAGS] ?? "";
      h.keys = msg.properties[MessageConst.KEYS] ?? "";
    }
    this.halves.push(h);
  }

  /** @internal Throws unless messages may still be added. */
  checkOpen(): void {
    if (this.state !== "open") throw new ClientError(`the transaction is ${this.state}: no more sends`);
  }

  commit(): Promise<void> {
    return this.end(TransactionResolution.COMMIT, "committed");
  }

  rollback(): Promise<void> {
    return this.end(TransactionResolution.ROLLBACK, "rolledBack");
  }

  /**
   * END_TRANSACTION for every half (through the client's EndTransactionBatcher). Not async and
   * with one object per half (the batcher's own entry): it runs once per transaction.
   */
  private end(resolution: TransactionResolution, done: "committed" | "rolledBack"): Promise<void> {
    if (this.state !== "open")
      return Promise.reject(new ClientError(`the transaction is already ${this.state}`));
    if (this.halves.length === 0)
      return Promise.reject(new ClientError("the transaction has no message: send one first"));
    this.state = "ending";
    const batcher = endTransactionBatcherOf(this.instance);
    const endOne = (h: HalfHandle) =>
      batcher.end(h, this.producerGroup, COMMIT_OR_ROLLBACK[resolution], resolution, () =>
        endTransaction(this.instance, this.producerGroup, h, resolution, false),
      );
    const ended = (failed: { reason: unknown } | undefined): void => {
      // Like Java's hook: the END_TRANSACTION sent, whatever the broker made of it.
      if (this.tracer) for (const h of this.halves) traceEnd(this.tracer, h, resolution, false);
      if (failed) {
        // The broker asks the checker about any half whose END_TRANSACTION did not arrive.
        this.state = "open";
        throw failed.reason;
      }
      this.state = done;
    };
    if (this.halves.length === 1) {
      // The common one-message transaction: no allSettled arrays.
      return endOne(this.halves[0]!).then(
        () => ended(undefined),
        (reason: unknown) => ended({ reason }),
      );
    }
    return Promise.allSettled(this.halves.map(endOne)).then((results) =>
      ended(results.find((r): r is PromiseRejectedResult => r.status === "rejected")),
    );
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
