import { MessageConst } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { PreparedMessage } from "../Message.js";
import type { MessageView } from "../MessageView.js";
import type { ClientOptions } from "../options.js";
import type { SendReceipt } from "../SendReceipt.js";
import { TraceDispatcher, type TraceDispatcherOptions, type TraceSink } from "./TraceDispatcher.js";
import {
  ConsumeReturnType,
  type EndTransactionRecord,
  type RecallRecord,
  TraceMessageType,
} from "./TraceRecord.js";

export const DEFAULT_TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC";
export const TRACE_PRODUCER_GROUP_PREFIX = "_INNER_TRACE_PRODUCER-";
const DEFAULT_REGION = "DefaultRegion";

/** Client options that turn tracing on (Producer, PushConsumer, SimpleConsumer). */
export interface TraceOptions {
  /** Write trace records (RocketMQ's format) for every send / consumption. Default false. */
  enableTrace?: boolean;
  /** Topic the records go to. Default RMQ_SYS_TRACE_TOPIC. */
  traceTopic?: string;
}

/** What a consumption was: ConsumeReturnType names. */
export type ConsumeOutcome = keyof typeof ConsumeReturnType;

/** EndTransaction fields a transactional producer supplies (the rest come from the tracer). */
export type EndTransactionTrace = Omit<EndTransactionRecord, "type" | "timestamp" | "regionId" | "group"> & {
  regionId?: string;
};

function msgTypeOf(props: Readonly<Record<string, string>>): number {
  if (props[MessageConst.TRANSACTION_PREPARED] === "true") return TraceMessageType.Trans_Msg_Half;
  if (
    props[MessageConst.DELAY_TIME_LEVEL] ||
    props[MessageConst.TIMER_DELIVER_MS] ||
    props[MessageConst.TIMER_DELAY_SEC] ||
    props[MessageConst.TIMER_DELAY_MS]
  ) {
    return TraceMessageType.Delay_Msg;
  }
  return TraceMessageType.Normal_Msg;
}

let requestCounter = 0;

/**
 * The trace hooks of one client (RocketMQ's SendMessageTraceHookImpl and
 * ConsumeMessageTraceHookImpl): turn sends and consumptions into records for the
 * TraceDispatcher. Every hook is synchronous, cheap and catches its own errors: tracing
 * never slows or fails the send or consumption it describes.
 *
 * Hooks for other features: endTransaction() (transactional producers: call it after
 * END_TRANSACTION with the half message's ids and the state sent) and recall() (RocketMQ 5
 * recall). Both only queue a record.
 */
export class Tracer {
  readonly dispatcher: TraceDispatcher;
  private readonly started = new WeakMap<MessageView, { at: number; requestId: string }>();

  constructor(
    readonly group: string,
    readonly traceTopic: string,
    sink: TraceSink,
    private readonly logger: Logger,
    options?: Omit<TraceDispatcherOptions, "logger">,
  ) {
    this.dispatcher = new TraceDispatcher(sink, { ...options, logger });
  }

  private guard(what: string, f: () => void): void {
    try {
      f();
    } catch (err) {
      this.logger.warn(`trace ${what} skipped: ${(err as Error).message}`);
    }
  }

  /** A send ended (receipt) or failed (undefined): one Pub record. */
  pub(msg: PreparedMessage, receipt: SendReceipt | undefined, costMs: number, offsetMsgId?: string): void {
    this.guard("Pub", () => {
      const p = msg.properties;
      const keys = p[MessageConst.KEYS] ?? "";
      this.dispatcher.add(
        {
          type: "Pub",
          // When the send started, as Java's hook records it.
          timestamp: Date.now() - costMs,
          regionId: DEFAULT_REGION,
          group: this.group,
          topic: msg.topic,
          msgId: msg.uniqId,
          tags: p[MessageConst.TAGS] ?? "",
          keys,
          storeHost: receipt?.brokerAddr ?? "",
          bodyLength: msg.body.length,
          costTime: costMs,
          msgType: msgTypeOf(p),
          offsetMsgId: offsetMsgId ?? receipt?.offsetMessageId ?? "",
          success: receipt !== undefined,
        },
        [msg.uniqId, ...keys.split(" ")],
      );
    });
  }

  /** A listener call starts: one SubBefore record. */
  subBefore(m: MessageView): void {
    this.guard("SubBefore", () => {
      const at = Date.now();
      const requestId = `${at.toString(36)}-${(++requestCounter).toString(36)}`;
      this.started.set(m, { at, requestId });
      this.dispatcher.add(
        {
          type: "SubBefore",
          timestamp: at,
          regionId: m.properties.get(MessageConst.MSG_REGION) ?? DEFAULT_REGION,
          group: this.group,
          requestId,
          msgId: m.messageId,
          retryTimes: m.reconsumeTimes,
          keys: m.keys.join(" "),
        },
        [m.messageId, ...m.keys],
      );
    });
  }

  /** The listener call of `m` ended: one SubAfter record (nothing without its SubBefore). */
  subAfter(m: MessageView, outcome: ConsumeOutcome): void {
    this.guard("SubAfter", () => {
      const s = this.started.get(m);
      if (!s) return;
      this.started.delete(m);
      const now = Date.now();
      this.dispatcher.add(
        {
          type: "SubAfter",
          requestId: s.requestId,
          msgId: m.messageId,
          costTime: now - s.at,
          success: outcome === "SUCCESS",
          keys: m.keys.join(" "),
          contextCode: ConsumeReturnType[outcome],
          timestamp: now,
          group: this.group,
        },
        [m.messageId, ...m.keys],
      );
    });
  }

  /** Hook for transactional producers: one EndTransaction record. */
  endTransaction(t: EndTransactionTrace): void {
    this.guard("EndTransaction", () => {
      this.dispatcher.add(
        {
          ...t,
          type: "EndTransaction",
          timestamp: Date.now(),
          regionId: t.regionId ?? DEFAULT_REGION,
          group: this.group,
        },
        [t.msgId, ...t.keys.split(" ")],
      );
    });
  }

  /** Hook for message recall: one Recall record. */
  recall(r: Omit<RecallRecord, "type" | "timestamp" | "regionId" | "group">): void {
    this.guard("Recall", () => {
      this.dispatcher.add(
        { ...r, type: "Recall", timestamp: Date.now(), regionId: DEFAULT_REGION, group: this.group },
        [r.msgId],
      );
    });
  }

  async close(timeoutMs?: number): Promise<void> {
    await this.dispatcher.close(timeoutMs);
  }
}

/** The client options of `o` (for the internal trace producer). */
export function clientOptionsOf(o: ClientOptions): ClientOptions {
  return {
    endpoints: o.endpoints,
    namesrvAddr: o.namesrvAddr,
    namespace: o.namespace,
    instanceName: o.instanceName,
    requestTimeout: o.requestTimeout,
    pollNameServerInterval: o.pollNameServerInterval,
    heartbeatBrokerInterval: o.heartbeatBrokerInterval,
    logger: o.logger,
  };
}
