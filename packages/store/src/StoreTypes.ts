import type { ConsumeQueue } from "./ConsumeQueue.js";

/** What the broker hands the store for one message. */
export interface MessageInput {
  topic: string;
  queueId: number;
  flag: number;
  body: Buffer;
  properties: Record<string, string>;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: { host: string; port: number };
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  /** Default tagsHashCode(properties.TAGS). */
  tagsCode?: number;
  /**
   * The properties exactly as the record stores them (name\u0001value\u0002 pairs, UTF-8
   * when a Buffer), built by the caller straight from request bytes so a send is not
   * parsed into an object and encoded again. When set, the record takes these and
   * `properties` is not read: `tagsCode`, `keys` and `uniqKey` then feed the consume queue and
   * the index. The caller vouches
   * that names and values hold no separator.
   */
  encodedProperties?: string | Buffer;
  /**
   * Bytes stored right after encodedProperties, as part of the properties (the caller puts
   * any \u0002 between them): pairs common to many messages, such as a batch request's own
   * properties, are kept once instead of being joined to every message's.
   */
  encodedPropertiesSuffix?: Buffer;
  /** With encodedProperties: the KEYS property (space-separated) and UNIQ_KEY, if any. */
  keys?: string;
  uniqKey?: string;
}

export interface PutResult {
  status: "PUT_OK" | "FLUSH_DISK_TIMEOUT";
  queueOffset: number;
  /** Where the first record of the put starts. */
  commitLogOffset: number;
  msgIds: string[];
  count: number;
  storeTimestamp: number;
  /**
   * A put of several records in one append (putMessages): their sizes in order, so a part
   * of it knows where its own first record starts (the broker's PutCoalescer). Read only.
   */
  recordSizes?: readonly number[];
}

export type GetMessageStatus =
  | "FOUND"
  | "NO_MATCHED_MESSAGE"
  | "NO_MESSAGE_IN_QUEUE"
  | "OFFSET_TOO_SMALL"
  | "OFFSET_OVERFLOW_ONE"
  | "OFFSET_OVERFLOW_BADLY"
  | "OFFSET_FOUND_NULL"
  | "NO_MATCHED_LOGIC_QUEUE"
  | "MESSAGE_WAS_REMOVING";

export interface GetMessageResult {
  status: GetMessageStatus;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  messageCount: number;
  /** Stored records, concatenated, ready to be a PULL response body. */
  body: Buffer;
  queueOffsets: number[];
  /**
   * Physical offset of the last consume-queue entry examined (RocketMQ's maxPhyOffsetPulling);
   * with the log's end it tells how far behind the reader is (read/write splitting). Absent
   * when no entry was examined.
   */
  lastPhysicalOffset?: number;
}

export interface StoreStats {
  commitLogMinOffset: number;
  commitLogMaxOffset: number;
  flushedOffset: number;
  confirmedOffset: number;
  putMessageTimesTotal: number;
  putMessageSizeTotal: number;
  dispatchBehindBytes: number;
  earliestMessageTimeStamp: number;
  diskUsedRatio: number;
}

/** Per topic: its name as record bytes, its hash for the index, its queues' append state. */
export interface TopicState {
  name: string;
  buf: Buffer;
  /** javaStringHashCode(name), the start of every index key hash of this topic. */
  hash: number;
  queues: Map<number, QueueState>;
  /** Set by deleteTopics: queued dispatches of the old topic look their queue up by name. */
  deleted: boolean;
}

export interface QueueState {
  topic: TopicState;
  queueId: number;
  /** Next queue offset to hand out (ahead of the consume queue's max until dispatched). */
  next: number;
  cq: ConsumeQueue | undefined;
}

export interface DispatchItem {
  q: QueueState;
  queueOffset: number;
  offset: number;
  size: number;
  tagsCode: number;
  storeTimestamp: number;
  /** The KEYS property (space-separated tokens) and UNIQ_KEY, for the index. */
  keys: string | undefined;
  uniq: string | undefined;
  /** PREPARED / ROLLBACK transaction records get no consume-queue entry (RocketMQ). */
  inQueue: boolean;
}
