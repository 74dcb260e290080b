import { atEndOfTurn } from "@tidemq/protocol";
import { type BatchItem, tryBatchItem } from "./batchBody.js";
import { type PreparedMessage, UNBATCHABLE_PROPERTIES } from "./Message.js";
import type { SendCore, SendOutcome } from "./SendCore.js";
import type { SendReceipt } from "./SendReceipt.js";

/** Bounds of one auto-batch. */
export interface AutoBatchLimits {
  /** Most encoded bytes of one batch body. */
  maxBytes: number;
  /** Most messages in one batch. */
  maxCount: number;
}

interface Pending {
  msg: PreparedMessage;
  item: BatchItem;
  resolve: (receipt: SendReceipt) => void;
  reject: (err: unknown) => void;
}

/**
 * The producer's auto-batching (RocketMQ 5's ProduceAccumulator, Kafka's linger.ms = 0):
 * sends issued in one event-loop turn for the same topic (and messageGroup) leave together
 * at the end of that turn as one SEND_BATCH_MESSAGE, so many in-flight sends cost one
 * request, one frame and one broker round trip. No timer: a send waits only for the rest of
 * the current turn (the callback being run and its promise chains: every send issued from
 * the responses of one socket chunk). A lone message still goes as a plain SEND_MESSAGE_V2. Every send keeps its own
 * receipt: its UNIQ_KEY, its offsetMsgId and its queue offset (consecutive in a batch).
 */
export class ProduceAccumulator {
  private groups = new Map<string, Pending[]>();
  private scheduled = false;

  constructor(
    private readonly core: SendCore,
    readonly limits: AutoBatchLimits,
  ) {}

  /**
   * The message as a batch entry, or undefined when it must go alone: compressed bodies
   * (a batch has no per-message compressed flag), delays, transactions, retry topics, and
   * entries larger than a whole batch may be.
   */
  entryOf(msg: PreparedMessage): BatchItem | undefined {
    if (msg.body.length > this.core.options.compressMsgBodyOverHowmuch) return undefined;
    if (msg.topic.startsWith("%RETRY%")) return undefined;
    if (msg.unbatchable ?? hasUnbatchableProperty(msg)) return undefined;
    const item = tryBatchItem(msg);
    return item && item.size <= this.limits.maxBytes ? item : undefined;
  }

  /** Queues the message for the batch that leaves at the end of this event-loop turn. */
  add(msg: PreparedMessage, item: BatchItem): Promise<SendReceipt> {
    const key = msg.shardingKey === undefined ? msg.topic : `${msg.topic}\u0001${msg.shardingKey}`;
    let list = this.groups.get(key);
    if (!list) {
      list = [];
      this.groups.set(key, list);
    }
    const members = list;
    const receipt = new Promise<SendReceipt>((resolve, reject) => {
      members.push({ msg, item, resolve, reject });
    });
    // A full batch leaves at once (Kafka's batch.size): with a large window several batches
    // are then in flight, and the broker stores one while this process builds the next,
    // instead of both taking turns on one batch of the whole window.
    if (members.length >= this.limits.maxCount) {
      this.groups.delete(key);
      this.flushGroup(members);
      return receipt;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // Sends made in promise chains of this turn still join the batch.
      atEndOfTurn(this.flush);
    }
    return receipt;
  }

  /** Sends everything queued (at the end of the turn; at once on shutdown). */
  readonly flush = (): void => {
    this.scheduled = false;
    const groups = this.groups;
    if (groups.size === 0) return;
    this.groups = new Map();
    for (const list of groups.values()) this.flushGroup(list);
  };

  /** Splits one topic's queue into batches within the limits, in send order. */
  private flushGroup(list: Pending[]): void {
    const { maxBytes, maxCount } = this.limits;
    let start = 0;
    while (start < list.length) {
      let end = start;
      let bytes = 0;
      while (end < list.length && end - start < maxCount) {
        const size = list[end]!.item.size;
        if (end > start && bytes + size > maxBytes) break;
        bytes += size;
        end++;
      }
      if (end - start === 1) this.sendAlone(list[start]!);
      else this.sendBatch(start === 0 && end === list.length ? list : list.slice(start, end), bytes);
      start = end;
    }
  }

  private sendAlone(p: Pending): void {
    this.core.send(p.msg).then(p.resolve, p.reject);
  }

  private sendBatch(members: Pending[], bytes: number): void {
    const first = members[0]!.msg;
    const items = members.map((m) => m.item);
    this.core.sendBatchItems(first.topic, first.shardingKey, items, bytes).then(
      (outcome) => fanOut(members, outcome),
      (err: unknown) => {
        for (const m of members) m.reject(err);
      },
    );
  }
}

/**
 * One receipt per member. The broker answers a batch with the first queue offset (the rest
 * follow consecutively) and the members' offsetMsgIds joined by commas, in entry order.
 */
function fanOut(members: Pending[], { mq, raw, addr }: SendOutcome): void {
  const ids = raw.offsetMsgId.split(",");
  const exact = ids.length === members.length;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    const offset = raw.queueOffset + i;
    m.resolve({
      messageId: m.msg.uniqId,
      offsetMessageId: exact ? ids[i]! : raw.offsetMsgId,
      messageQueue: { topic: m.msg.topic, brokerName: mq.brokerName, queueId: raw.queueId },
      queueOffset: offset,
      offset,
      brokerAddr: addr,
      sendStatus: raw.sendStatus,
      transactionId: "",
    });
  }
}

/** For a message prepareMessage did not mark: does a property keep it out of a batch? */
function hasUnbatchableProperty(msg: PreparedMessage): boolean {
  for (const k of UNBATCHABLE_PROPERTIES) if (msg.properties[k] !== undefined) return true;
  return false;
}
