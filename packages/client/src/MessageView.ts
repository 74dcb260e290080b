import { MessageConst, type MessageExt, messageKeys } from "@tidemq/protocol";
import type { MessageQueue } from "./MessageQueue.js";

/** The decoded record behind a view; StoredMessage also tells its body size without reading the body. */
type RecordOf = MessageExt & { readonly bodySize?: number };

/**
 * A received message (rocketmq-client-nodejs' MessageView plus the 4.x MessageExt fields).
 * Bodies arrive decompressed. For a message redelivered from %RETRY%<group>, `topic` is the
 * original topic while `messageQueue` is the retry queue it was pulled from.
 *
 * Built once per pulled message, so only what every message needs is read up front; the
 * rest (properties, ids, hosts, dates) is derived from the record on first access.
 */
export class MessageView {
  readonly queueOffset: number;
  readonly messageQueue: MessageQueue;
  /** How many times it has been delivered, 1 for the first delivery. */
  deliveryAttempt: number;
  /** Always false: corrupt records are rejected while decoding. */
  get corrupted(): false {
    return false;
  }
  private readonly ext: RecordOf;
  private propertyMap: Map<string, string> | undefined;
  private bodyView: Buffer | undefined;

  constructor(ext: RecordOf, mq: MessageQueue) {
    this.ext = ext;
    this.queueOffset = ext.queueOffset;
    this.messageQueue = mq;
    this.deliveryAttempt = ext.reconsumeTimes + 1;
  }

  /**
   * The body (decompressed). Taken from the record on first read: cached messages waiting
   * for a listener hold no Buffer object of their own (less for the GC to copy and promote).
   */
  get body(): Buffer {
    this.bodyView ??= this.ext.body;
    return this.bodyView;
  }
  /** body.length without materialising the body (ProcessQueue's byte count). */
  get bodySize(): number {
    return this.bodyView?.length ?? this.ext.bodySize ?? this.ext.body.length;
  }
  /** The original topic for a message redelivered through %RETRY%<group>, else the record's. */
  get topic(): string {
    const topic = this.ext.topic;
    if (!topic.startsWith("%RETRY%")) return topic;
    return this.ext.properties[MessageConst.RETRY_TOPIC] || topic;
  }
  /** Client message id (UNIQ_KEY), or the offset message id when the producer set none (ali-ons). */
  get messageId(): string {
    return this.ext.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX] || this.ext.msgId;
  }
  /** Broker id of this stored record (store host + commit-log offset). */
  get offsetMessageId(): string {
    return this.ext.msgId;
  }
  get tag(): string | undefined {
    const tag = this.ext.properties[MessageConst.TAGS];
    return tag === undefined || tag === "" ? undefined : tag;
  }
  get keys(): string[] {
    return messageKeys(this.ext.properties);
  }
  /** Every property, system ones included (TAGS, KEYS, UNIQ_KEY, …). */
  get properties(): Map<string, string> {
    this.propertyMap ??= new Map(Object.entries(this.ext.properties));
    return this.propertyMap;
  }
  get messageGroup(): string | undefined {
    const p = this.ext.properties;
    return p[MessageConst.SHARDING_KEY] ?? p.__SHARDINGKEY;
  }
  get bornTimestamp(): Date {
    return new Date(this.ext.bornTimestamp);
  }
  get bornHost(): string {
    const h = this.ext.bornHost;
    return `${h.host}:${h.port}`;
  }
  get storeTimestamp(): Date {
    return new Date(this.ext.storeTimestamp);
  }
  get storeHost(): string {
    const h = this.ext.storeHost;
    return `${h.host}:${h.port}`;
  }
  /** Times the broker redelivered it through the retry topic (4.x reconsumeTimes). */
  get reconsumeTimes(): number {
    return this.ext.reconsumeTimes;
  }
  get queueId(): number {
    return this.ext.queueId;
  }
  /** Same as queueOffset (rocketmq-client-nodejs name). */
  get offset(): number {
    return this.queueOffset;
  }
  get commitLogOffset(): number {
    return this.ext.commitLogOffset;
  }
  get flag(): number {
    return this.ext.flag;
  }
  get deliveryTimestamp(): Date | undefined {
    const at = Number(this.ext.properties[MessageConst.TIMER_DELIVER_MS]);
    return Number.isFinite(at) && at > 0 ? new Date(at) : undefined;
  }

  /** The public fields as plain data (JSON.stringify would otherwise show the raw record). */
  toJSON(): Record<string, unknown> {
    return {
      messageId: this.messageId,
      offsetMessageId: this.offsetMessageId,
      topic: this.topic,
      tag: this.tag,
      keys: this.keys,
      properties: this.properties,
      body: this.body,
      messageGroup: this.messageGroup,
      bornTimestamp: this.bornTimestamp,
      bornHost: this.bornHost,
      storeTimestamp: this.storeTimestamp,
      storeHost: this.storeHost,
      deliveryAttempt: this.deliveryAttempt,
      reconsumeTimes: this.reconsumeTimes,
      queueId: this.queueId,
      queueOffset: this.queueOffset,
      offset: this.offset,
      commitLogOffset: this.commitLogOffset,
      messageQueue: this.messageQueue,
      flag: this.flag,
      deliveryTimestamp: this.deliveryTimestamp,
      corrupted: this.corrupted,
    };
  }

  /** Body as UTF-8 text. */
  bodyText(): string {
    return this.body.toString("utf8");
  }

  getMessageId(): string {
    return this.messageId;
  }
  getTopic(): string {
    return this.topic;
  }
  getBody(): Buffer {
    return Buffer.from(this.body);
  }
  getProperties(): Map<string, string> {
    return new Map(this.properties);
  }
  getTag(): string | undefined {
    return this.tag;
  }
  getKeys(): string[] {
    return [...this.keys];
  }
  getMessageGroup(): string | undefined {
    return this.messageGroup;
  }
  getBornTimestamp(): Date {
    return this.bornTimestamp;
  }
  getBornHost(): string {
    return this.bornHost;
  }
  getDeliveryAttempt(): number {
    return this.deliveryAttempt;
  }
  getDeliveryTimestamp(): Date | undefined {
    return this.deliveryTimestamp;
  }
}
