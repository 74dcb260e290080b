import { decodeJson, type MessageQueue, RequestCode } from "@tidemq/protocol";
import { mqKey } from "./MessageQueue.js";
import type { MQClientInstance } from "./MQClientInstance.js";

export interface QueueLockOptions {
  /** How often held locks are renewed (Java: 20 s). */
  renewIntervalMs: number;
  /**
   * How long a lock counts as held after the broker last granted it (Java: 30 s). Must stay
   * below the broker's rebalanceLockMaxLiveTime (60 s), so this consumer stops before the
   * broker can give the queue to another.
   */
  maxLiveMs: number;
}

/**
 * The broker-side queue locks of an orderly push consumer (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ,
 * spec §4.13; Java's RebalanceImpl.lock/lockAll/unlock): a queue is consumed only while this
 * client holds its lock at the queue's master, so two consumers of a group never run the
 * same queue at once, also while a rebalance moves it.
 */
export class QueueLockService {
  /** mqKey → when the broker last granted the lock. */
  private readonly grantedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly instance: MQClientInstance,
    private readonly group: string,
    private readonly options: QueueLockOptions,
    /** The queues to renew: those the consumer holds now. */
    private readonly heldQueues: () => MessageQueue[],
    private readonly warn: (key: string, message: string) => void,
  ) {}

  /** True while the lock of `mq` was granted less than maxLiveMs ago. */
  isHeld(mq: MessageQueue): boolean {
    const at = this.grantedAt.get(mqKey(mq));
    return at !== undefined && Date.now() - at < this.options.maxLiveMs;
  }

  /** When the broker last granted the lock of `mq` (0: never). */
  lastGranted(mq: MessageQueue): number {
    return this.grantedAt.get(mqKey(mq)) ?? 0;
  }

  /** Locks one queue now (a newly assigned one, or one whose lock lapsed). */
  async lock(mq: MessageQueue): Promise<boolean> {
    this.startRenewing();
    await this.lockAt(mq.brokerName, [mq]);
    return this.isHeld(mq);
  }

  /** Renews every held queue's lock, one request per broker. */
  async lockAll(): Promise<void> {
    const byBroker = new Map<string, MessageQueue[]>();
    for (const mq of this.heldQueues()) {
      const list = byBroker.get(mq.brokerName) ?? [];
      list.push(mq);
      byBroker.set(mq.brokerName, list);
    }
    await Promise.all([...byBroker].map(([broker, mqs]) => this.lockAt(broker, mqs)));
  }

  private async lockAt(brokerName: string, mqs: MessageQueue[]): Promise<void> {
    const addr = this.instance.findMasterAddr(brokerName);
    if (!addr) return;
    const body = Buffer.from(
      JSON.stringify({ consumerGroup: this.group, clientId: this.instance.clientId, mqSet: mqs }),
      "utf8",
    );
    // The lock counts from when it was asked for, not from when the answer arrived: a slow
    // answer must not stretch the time this client believes it holds the queue past the
    // broker's own expiry.
    const askedAt = Date.now();
    try {
      const res = await this.instance.api.call(addr, RequestCode.LOCK_BATCH_MQ, undefined, body, {
        what: `queue lock of ${this.group} at ${brokerName}`,
      });
      const granted =
        decodeJson<{ lockOKMQSet?: MessageQueue[] }>(res.body, "LOCK_BATCH_MQ response").lockOKMQSet ?? [];
      const ok = new Set(granted.map(mqKey));
      for (const mq of mqs) {
        if (ok.has(mqKey(mq))) this.grantedAt.set(mqKey(mq), askedAt);
        else this.grantedAt.delete(mqKey(mq));
      }
    } catch (err) {
      // Unknown outcome: keep what we had; it lapses after maxLiveMs without a renewal.
      this.warn(`lock:${brokerName}`, `locking queues at ${brokerName} failed: ${(err as Error).message}`);
    }
  }

  /** Stops counting these queues as held, without telling the broker (their locks expire there). */
  forget(mqs: MessageQueue[]): void {
    for (const mq of mqs) this.grantedAt.delete(mqKey(mq));
  }

  /** Releases locks at their brokers (after the queues' offsets were committed). */
  async unlock(mqs: MessageQueue[]): Promise<void> {
    const byBroker = new Map<string, MessageQueue[]>();
    for (const mq of mqs) {
      this.grantedAt.delete(mqKey(mq));
      const list = byBroker.get(mq.brokerName) ?? [];
      list.push(mq);
      byBroker.set(mq.brokerName, list);
    }
    await Promise.all(
      [...byBroker].map(async ([brokerName, list]) => {
        const addr = this.instance.findMasterAddr(brokerName);
        if (!addr) return;
        const body = Buffer.from(
          JSON.stringify({ consumerGroup: this.group, clientId: this.instance.clientId, mqSet: list }),
          "utf8",
        );
        try {
          await this.instance.api.call(addr, RequestCode.UNLOCK_BATCH_MQ, undefined, body, {
            what: `queue unlock of ${this.group} at ${brokerName}`,
          });
        } catch (err) {
          // The broker frees the lock when it expires.
          this.warn(
            `unlock:${brokerName}`,
            `unlocking queues at ${brokerName} failed: ${(err as Error).message}`,
          );
        }
      }),
    );
  }

  private startRenewing(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.lockAll(), this.options.renewIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
