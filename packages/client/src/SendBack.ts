/**
 * Sending a message whose consumption failed back for redelivery (RocketMQ's
 * sendMessageBack): CONSUMER_SEND_MSG_BACK asks the message's broker to store it again for
 * %RETRY%<group> with a growing delay (or in %DLQ%<group>); when that request fails, the
 * client resends the copy itself through its own inner producer, with the properties the
 * broker would have set. Apart from the push consumer because it is a protocol of its own
 * (two paths, the fallback's producer and its property rules), not part of dispatching
 * messages to the listener.
 */
import { MessageConst } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { retryTopicOf } from "./ConsumerCore.js";
import type { MessageQueue } from "./MessageQueue.js";
import type { MessageView } from "./MessageView.js";
import type { MQClientInstance } from "./MQClientInstance.js";
import { SendCore } from "./SendCore.js";

/** What a send-back needs of its consumer. */
export interface SendBackContext {
  readonly instance: MQClientInstance;
  readonly group: string;
  readonly maxReconsumeTimes: number;
  /** The fallback producer's logger (the consumer's own). */
  readonly logger: Logger | undefined;
  /** The master of a queue's broker; throws when none is known (then the fallback runs). */
  brokerAddr(mq: MessageQueue): string;
  warnOnce(key: string, msg: string): void;
}

/** Send-back of one consumer (see the file header). */
export class SendBack {
  /** The fallback's producer, created on first need. */
  private retrySender: SendCore | undefined;

  constructor(private readonly ctx: SendBackContext) {}

  /**
   * CONSUMER_SEND_MSG_BACK of `m` (pulled from `mq`) to the message's broker (it stores the
   * message for %RETRY%<group> with a growing delay, or in %DLQ%<group> when `delayLevel` < 0);
   * if that fails, the client sends the copy itself. False when both failed.
   */
  async send(mq: MessageQueue, m: MessageView, delayLevel: number): Promise<boolean> {
    const { instance, group, maxReconsumeTimes } = this.ctx;
    try {
      await instance.api.consumerSendMessageBack(this.ctx.brokerAddr(mq), {
        offset: m.commitLogOffset,
        group,
        delayLevel,
        originMsgId: m.messageId,
        originTopic: m.topic,
        maxReconsumeTimes,
      });
      return true;
    } catch (err) {
      this.ctx.warnOnce(
        "sendback",
        `send-back of ${m.messageId} failed (${(err as Error).message}); resending to the retry topic`,
      );
    }
    try {
      this.retrySender ??= new SendCore(instance, {
        group: "CLIENT_INNER_PRODUCER",
        sendMsgTimeout: 3000,
        retryTimesWhenSendFailed: 2,
        compressMsgBodyOverHowmuch: 4096,
        maxMessageSize: 4 * 1024 * 1024,
        sendLatencyFaultEnable: true,
        defaultTopicQueueNums: 1,
        logger: this.ctx.logger,
      });
      const props: Record<string, string> = Object.fromEntries(m.properties);
      props[MessageConst.RETRY_TOPIC] ??= m.topic;
      props[MessageConst.ORIGIN_MESSAGE_ID] ??= m.messageId;
      props[MessageConst.DELAY_TIME_LEVEL] = String(delayLevel < 0 ? 0 : 3 + m.reconsumeTimes);
      delete props[MessageConst.RECONSUME_TIME];
      delete props[MessageConst.MAX_RECONSUME_TIMES];
      const topic = delayLevel < 0 ? `%DLQ%${group}` : retryTopicOf(group);
      if (delayLevel < 0) delete props[MessageConst.DELAY_TIME_LEVEL];
      await this.retrySender.send(
        { topic, body: m.body, flag: m.flag, properties: props, uniqId: m.messageId, shardingKey: undefined },
        undefined,
        { reconsumeTimes: m.reconsumeTimes + 1, maxReconsumeTimes },
      );
      return true;
    } catch (err) {
      this.ctx.warnOnce(
        "sendback-fallback",
        `resending ${m.messageId} to the retry topic failed: ${(err as Error).message}`,
      );
      return false;
    }
  }
}
