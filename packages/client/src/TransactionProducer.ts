import { ClientError } from "./errors.js";
import type { MessageOptions } from "./Message.js";
import type { MessageView } from "./MessageView.js";
import { Producer, type ProducerOptions } from "./Producer.js";
import type { SendReceipt } from "./SendReceipt.js";
import { TransactionResolution } from "./Transaction.js";

/**
 * RocketMQ 4.x's TransactionListener: `executeLocalTransaction` runs the local transaction
 * right after the half message is stored (write the order row), `checkLocalTransaction`
 * answers the broker's check-back when the outcome never reached it.
 */
export interface TransactionListener<A = unknown> {
  executeLocalTransaction(
    message: MessageView | MessageOptions,
    arg: A,
  ): Promise<TransactionResolution> | TransactionResolution;
  checkLocalTransaction(message: MessageView): Promise<TransactionResolution> | TransactionResolution;
}

export interface TransactionProducerOptions<A = unknown> extends ProducerOptions {
  transactionListener: TransactionListener<A>;
}

/** What sendMessageInTransaction returns (Java's TransactionSendResult). */
export interface TransactionSendResult extends SendReceipt {
  localTransactionState: TransactionResolution;
}

/**
 * The 4.x transactional producer (Java's TransactionMQProducer):
 *
 * ```ts
 * const producer = new TransactionMQProducer({ endpoints, producerGroup: "orders", transactionListener: {
 *   async executeLocalTransaction(msg, order) { await db.insert(order); return TransactionResolution.COMMIT; },
 *   async checkLocalTransaction(msg) { return (await db.has(msg.keys[0])) ? TransactionResolution.COMMIT : TransactionResolution.ROLLBACK; },
 * }});
 * await producer.sendMessageInTransaction({ topic: "OrderCreated", keys: [order.id], body }, order);
 * ```
 */
export class TransactionMQProducer<A = unknown> extends Producer {
  private readonly listener: TransactionListener<A>;

  constructor(options: TransactionProducerOptions<A>) {
    super(options);
    const l = options?.transactionListener;
    if (
      !l ||
      typeof l.executeLocalTransaction !== "function" ||
      typeof l.checkLocalTransaction !== "function"
    ) {
      throw new ClientError(
        "TransactionMQProducer needs a transactionListener with executeLocalTransaction and checkLocalTransaction",
      );
    }
    this.listener = l;
  }

  /**
   * Stores the half message, runs executeLocalTransaction, then commits or rolls back by
   * its answer. A listener that throws or answers UNKNOWN leaves the half to the check-back
   * (as in Java); a failed END_TRANSACTION too (the broker asks again), so it is not thrown.
   */
  async sendMessageInTransaction(message: MessageOptions, arg: A): Promise<TransactionSendResult> {
    const tx = this.beginTransaction();
    const receipt = await this.send(message, tx);
    let state: TransactionResolution;
    try {
      state = await this.listener.executeLocalTransaction(message, arg);
    } catch (err) {
      this.warn(`executeLocalTransaction threw (the broker will check back): ${(err as Error).message}`);
      state = TransactionResolution.UNKNOWN;
    }
    try {
      if (state === TransactionResolution.COMMIT) await tx.commit();
      else if (state === TransactionResolution.ROLLBACK) await tx.rollback();
    } catch (err) {
      this.warn(`END_TRANSACTION ${state} failed (the broker will check back): ${(err as Error).message}`);
    }
    return { ...receipt, localTransactionState: state };
  }

  protected override async checkLocalState(view: MessageView): Promise<TransactionResolution> {
    return this.listener.checkLocalTransaction(view);
  }
}
