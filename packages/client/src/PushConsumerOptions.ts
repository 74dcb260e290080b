import type { ConsumerOptions } from "./ConsumerOptions.js";
import type { MessageListener } from "./MessageListener.js";

export interface PushConsumerOptions extends ConsumerOptions {
  messageListener: MessageListener;
  /** Listener calls in flight at once, across all queues (RocketMQ 5 name). Default 20. */
  consumptionThreadCount?: number;
  /**
   * Consume each queue one message at a time in queue order (4.x MessageListenerOrderly): a
   * queue is consumed only while this client holds its lock at the broker (LOCK_BATCH_MQ), so
   * no two consumers of the group run one queue at once, also while a rebalance moves it — the
   * old owner finishes its message, commits and unlocks before the new owner starts from the
   * committed offset. A FAILURE is retried in place after suspendCurrentQueueTimeMillis, up to
   * maxReconsumeTimes, then sent to the dead-letter queue. Default false.
   */
  consumeOrderly?: boolean;
  /** Orderly mode: pause before retrying a failed message, ms. Default 1000. */
  suspendCurrentQueueTimeMillis?: number;
  /** Orderly mode: how often queue locks are renewed, ms. Default 20000. */
  lockRenewIntervalMillis?: number;
  /**
   * Orderly mode: how long a lock counts as held after the broker last granted it, ms. Must be
   * below the broker's rebalanceLockMaxLiveTime (60000). Default 30000.
   */
  lockMaxLiveMillis?: number;
  /** At shutdown, how long to wait for listener calls in flight, ms. Default 10000. */
  awaitTerminationMillisWhenShutdown?: number;
  /**
   * Most listener calls started per second by this consumer, across all its queues (a token
   * bucket: after an idle spell at most a tenth of a second's worth starts at once). A group feeding a database
   * that takes 6,000 writes/s sets 6000 and holds that rate through a flash-sale backlog, which
   * waits in the broker. Default: no limit.
   */
  maxConsumeRatePerSecond?: number;
}
