import type { MessageQueue } from "./MessageQueue.js";

/** How the broker stored the message. Anything but SEND_OK still means "stored". */
export type SendStatus = "SEND_OK" | "FLUSH_DISK_TIMEOUT" | "FLUSH_SLAVE_TIMEOUT" | "SLAVE_NOT_AVAILABLE";

/** Result of a successful send (rocketmq-client-nodejs' SendReceipt plus the 4.x fields). */
export interface SendReceipt {
  /** Client message id (the UNIQ_KEY property): what consumers see as MessageView.messageId. */
  messageId: string;
  /** The broker's id of the stored record (store host + commit-log offset); for batches comma-joined. */
  offsetMessageId: string;
  /** Where it was stored. */
  messageQueue: MessageQueue;
  /** Consume-queue offset of the (first) message. */
  queueOffset: number;
  /** Same as queueOffset (rocketmq-client-nodejs name). */
  offset: number;
  /** Broker address that stored it. */
  brokerAddr: string;
  sendStatus: SendStatus;
  /** Transaction id: the message id of a half message sent in a transaction, else empty. */
  transactionId: string;
  /** For a timer message (delay / deliveryTimestamp): the handle producer.recallMessage takes. */
  recallHandle?: string;
}

/** Result of sendBatch: one message id per message, in order. */
export interface BatchSendReceipt extends Omit<SendReceipt, "messageId"> {
  messageIds: string[];
  /** First message id (for symmetry with SendReceipt). */
  messageId: string;
}
