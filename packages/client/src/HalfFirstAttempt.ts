import {
  encodeProperties,
  type HalfBatchEntry,
  MessageConst,
  MessageSysFlag,
  type Properties,
  RequestCode,
} from "@tidemq/protocol";
import type { EndingHalf } from "./EndTransactionBatcher.js";
import type { HalfBatcher } from "./HalfBatcher.js";
import type { HalfBatchAnswer } from "./halfBatchAnswer.js";
import { asciiHalfPropertiesBytes, HALF_ENTRY_FIXED_BYTES } from "./halfBatchBody.js";
import type { BatchedHalf } from "./halfBatchMember.js";
import type { PreparedMessage } from "./Message.js";
import type { MessageQueue } from "./MessageQueue.js";
import type { SendResultRaw } from "./MQClientAPI.js";
import type { SendOutcome } from "./SendCore.js";
import type { SendReceipt, SendStatus } from "./SendReceipt.js";
import { commitLogOffsetOf, type Transaction } from "./Transaction.js";

/**
 * A transaction half's first attempt, owned by the batcher (not SendCore's retry loop): its
 * queue chosen as SendCore chooses, its entry in this turn's batch, its receipt built from its
 * place in the answer and recorded in its transaction, and the one promise the caller awaits.
 * A failed attempt goes on in SendCore's retry loop (SendCore.attempt with `failed`): the same
 * attempts, deadline, fault records and warnings as a half sent through SendCore from the start.
 * Once stored it is also the half's END_TRANSACTION_BATCH entry in its transaction (EndingHalf:
 * where it was stored, filled in then), not copied into an object of its own: it (and the
 * prepared message it reads) lives until the transaction ends.
 */
export class FirstAttempt implements BatchedHalf, EndingHalf {
  // What the entry shares with the message, the send and the options is read through
  // getters, not copied: one object per half, as small as it can be (a copied time would
  // also be one more boxed number).
  readonly asciiProps: Properties | undefined;
  readonly propsBytes: number;
  readonly bytes: number;
  private text: string | undefined;
  resolve!: (receipt: SendReceipt) => void;
  reject!: (err: unknown) => void;
  // EndingHalf: where the half was stored (set when it is), and what its END_TRANSACTION says.
  brokerAddr = "";
  tranStateTableOffset = -1;
  commitLogOffset = -1;
  commitOrRollback: number = MessageSysFlag.TRANSACTION_NOT_TYPE;

  constructor(
    private readonly batcher: HalfBatcher,
    private readonly msg: PreparedMessage,
    private readonly tx: Transaction,
    readonly mq: MessageQueue,
    private readonly queues: MessageQueue[],
    readonly addr: string,
    /** When the send began (its deadline is t0 + sendMsgTimeout). */
    private readonly t0: number,
  ) {
    const ascii = asciiHalfPropertiesBytes(msg);
    if (ascii >= 0) {
      this.asciiProps = msg.properties;
      this.propsBytes = ascii;
    } else {
      this.asciiProps = undefined;
      this.propsBytes = Buffer.byteLength(this.properties, "utf8");
    }
    // Topic names are ASCII (checkTopic): their length is their byte count.
    this.bytes = HALF_ENTRY_FIXED_BYTES + mq.topic.length + this.propsBytes + msg.body.length;
  }

  /** The encoded properties: for a SEND_MESSAGE_V2 header, a retry, or non-ASCII properties. */
  get properties(): string {
    if (this.text === undefined) this.text = encodeProperties(this.msg.properties);
    return this.text;
  }

  get bornTimestamp(): number {
    return this.t0;
  }
  get flag(): number {
    return this.msg.flag;
  }
  get timeoutMs(): number {
    return this.batcher.core.options.sendMsgTimeout;
  }
  get topic(): string {
    return this.mq.topic;
  }
  get queueId(): number {
    return this.mq.queueId;
  }
  get body(): Buffer {
    return this.msg.body;
  }
  get sysFlag(): number {
    return MessageSysFlag.TRANSACTION_PREPARED_TYPE;
  }
  get owner(): Transaction {
    return this.tx;
  }
  get msgId(): string {
    return this.msg.uniqId;
  }
  get tags(): string {
    return this.msg.properties[MessageConst.TAGS] ?? "";
  }
  get keys(): string {
    return this.msg.properties[MessageConst.KEYS] ?? "";
  }

  stored(sendStatus: SendStatus, a: HalfBatchAnswer, i: number): void {
    this.done(
      this.mq.brokerName,
      this.addr,
      sendStatus,
      a.msgId[i]!,
      a.queueId[i]!,
      a.queueOffset[i]!,
      a.commitLogOffset[i]!,
    );
  }

  /** `commitLogOffset`: the one offsetMsgId names, or -1 when not read yet. */
  private done(
    brokerName: string,
    addr: string,
    sendStatus: SendStatus,
    offsetMsgId: string,
    queueId: number,
    queueOffset: number,
    commitLogOffset = -1,
  ): void {
    const msg = this.msg;
    const receipt: SendReceipt = {
      messageId: msg.uniqId,
      offsetMessageId: offsetMsgId,
      messageQueue: { topic: msg.topic, brokerName, queueId },
      queueOffset,
      offset: queueOffset,
      brokerAddr: addr,
      sendStatus,
      transactionId: msg.uniqId,
    };
    try {
      this.brokerAddr = addr;
      this.tranStateTableOffset = queueOffset;
      this.commitLogOffset = commitLogOffset >= 0 ? commitLogOffset : commitLogOffsetOf(offsetMsgId);
      this.tx.recordHalf(this);
    } catch (err) {
      this.reject(err);
      return;
    }
    this.resolve(receipt);
  }

  failed(err: unknown): void {
    const core = this.batcher.core;
    const failed = {
      mq: this.mq,
      err,
      t0: this.t0,
      deadline: this.t0 + core.options.sendMsgTimeout,
      queues: this.queues,
    };
    // A retry's attempt goes through the batcher again (it joins the batch of its turn).
    const retry = (mq: MessageQueue, addr: string, timeoutMs: number): Promise<SendResultRaw> => {
      const entry: HalfBatchEntry = {
        topic: mq.topic,
        queueId: mq.queueId,
        sysFlag: MessageSysFlag.TRANSACTION_PREPARED_TYPE,
        bornTimestamp: Date.now(),
        flag: this.flag,
        properties: this.properties,
        body: this.msg.body,
      };
      return this.batcher.send(addr, entry, timeoutMs, () => this.batcher.sendV2(mq, addr, entry, timeoutMs));
    };
    core
      .attempt(this.msg.topic, this.msg.shardingKey, undefined, retry, failed)
      .then(
        ({ mq, addr, raw }: SendOutcome) =>
          this.done(mq.brokerName, addr, raw.sendStatus, raw.offsetMsgId, raw.queueId, raw.queueOffset),
        this.reject,
      );
  }

  sendAlone(): void {
    const core = this.batcher.core;
    core
      .sendTo(
        RequestCode.SEND_MESSAGE_V2,
        this.mq,
        this.addr,
        this.msg.body,
        this.timeoutMs,
        this.sysFlag,
        this.flag,
        this.properties,
        undefined,
      )
      .then(
        (raw) => {
          core.fault.update(this.mq.brokerName, Date.now() - this.t0, false, Date.now());
          this.done(
            this.mq.brokerName,
            this.addr,
            raw.sendStatus,
            raw.offsetMsgId,
            raw.queueId,
            raw.queueOffset,
          );
        },
        (err: unknown) => this.failed(err),
      );
  }
}
