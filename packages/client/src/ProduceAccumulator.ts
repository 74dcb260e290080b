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

type Resolve = (receipt: SendReceipt) => void;
type Reject = (err: unknown) => void;

/**
 * One topic's (and messageGroup's) sends of this turn, in send order, as parallel arrays:
 * a send then costs its promise and nothing else of its own (no record object, no executor
 * closure). Sends are the producer's hottest path, and what one allocates per message is
 * most of its GC work.
 */
class Group {
  readonly msgs: PreparedMessage[] = [];
  readonly items: BatchItem[] = [];
  readonly resolves: Resolve[] = [];
  readonly rejects: Reject[] = [];

  get length(): number {
    return this.msgs.length;
  }
}

// A promise's resolving functions, taken out by one shared executor (no closure per send).
let takenResolve: Resolve | undefined;
let takenReject: Reject | undefined;
function take(resolve: Resolve, reject: Reject): void {
  takenResolve = resolve;
  takenReject = reject;
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
  private groups = new Map<string, Group>();
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
    let group = this.groups.get(key);
    if (!group) {
      group = new Group();
      this.groups.set(key, group);
    }
    const receipt = new Promise<SendReceipt>(take);
    group.msgs.push(msg);
    group.items.push(item);
    group.resolves.push(takenResolve!);
    group.rejects.push(takenReject!);
    // A full batch leaves at once (Kafka's batch.size): with a large window several batches
    // are then in flight, and the broker stores one while this process builds the next,
    // instead of both taking turns on one batch of the whole window.
    if (group.length >= this.limits.maxCount) {
      this.groups.delete(key);
      this.flushGroup(group);
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
    for (const group of groups.values()) this.flushGroup(group);
  };

  /** Splits one topic's queue into batches within the limits, in send order. */
  private flushGroup(g: Group): void {
    const { maxBytes, maxCount } = this.limits;
    const n = g.length;
    let start = 0;
    while (start < n) {
      let end = start;
      let bytes = 0;
      while (end < n && end - start < maxCount) {
        const size = g.items[end]!.size;
        if (end > start && bytes + size > maxBytes) break;
        bytes += size;
        end++;
      }
      if (end - start === 1) this.core.send(g.msgs[start]!).then(g.resolves[start], g.rejects[start]);
      else this.sendBatch(g, start, end, bytes);
      start = end;
    }
  }

  private sendBatch(g: Group, start: number, end: number, bytes: number): void {
    const whole = start === 0 && end === g.length;
    const first = g.msgs[start]!;
    const topic = first.topic;
    // What the receipts need, taken now: the messages, their properties and entries are then
    // garbage while the batch is in flight (young garbage costs a scavenge nothing).
    const ids: string[] = new Array(end - start);
    for (let i = start; i < end; i++) ids[i - start] = g.msgs[i]!.uniqId;
    const resolves = whole ? g.resolves : g.resolves.slice(start, end);
    const rejects = whole ? g.rejects : g.rejects.slice(start, end);
    this.core
      .sendBatchItems(topic, first.shardingKey, whole ? g.items : g.items.slice(start, end), bytes)
      .then(
        (outcome) => fanOut(topic, ids, resolves, outcome),
        (err: unknown) => {
          for (const reject of rejects) reject(err);
        },
      );
  }
}

/**
 * One receipt per member. The broker answers a batch with the first queue offset (the rest
 * follow consecutively) and the members' offsetMsgIds joined by commas, in entry order.
 */
function fanOut(topic: string, ids: string[], resolves: Resolve[], { mq, raw, addr }: SendOutcome): void {
  const offsetIds = raw.offsetMsgId.split(",");
  const exact = offsetIds.length === ids.length;
  for (let i = 0; i < ids.length; i++) {
    const offset = raw.queueOffset + i;
    resolves[i]!({
      messageId: ids[i]!,
      offsetMessageId: exact ? offsetIds[i]! : raw.offsetMsgId,
      messageQueue: { topic, brokerName: mq.brokerName, queueId: raw.queueId },
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
