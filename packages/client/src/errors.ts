import { ResponseCode, responseCodeName, TideMQError } from "@tidemq/protocol";

/**
 * Client-side error codes. They reuse the numbers of the Java client's ClientErrorCode so
 * that logs read the same; server answers keep the broker's response code instead.
 */
export const ClientErrorCode = {
  CONNECT_BROKER_EXCEPTION: 10001,
  ACCESS_BROKER_TIMEOUT: 10002,
  BROKER_NOT_EXIST_EXCEPTION: 10003,
  NO_NAME_SERVER_EXCEPTION: 10004,
  NOT_FOUND_TOPIC_EXCEPTION: 10005,
  /** Bad arguments, wrong state (not started, shut down) and other caller mistakes. */
  ILLEGAL_ARGUMENT: -1,
} as const;

/** A mistake on the client side (bad option, bad message, wrong state) or a local failure. */
export class ClientError extends TideMQError {
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean; code?: number }) {
    super(options?.code ?? ClientErrorCode.ILLEGAL_ARGUMENT, message, options);
    this.name = "ClientError";
  }
}

/** A request did not get its response in time. Always retriable. */
export class TimeoutError extends TideMQError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ClientErrorCode.ACCESS_BROKER_TIMEOUT, message, { ...options, retriable: true });
    this.name = "TimeoutError";
  }
}

/** A server could not be reached (connect failed, connection closed mid-request). Retriable. */
export class ConnectionError extends TideMQError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ClientErrorCode.CONNECT_BROKER_EXCEPTION, message, { ...options, retriable: true });
    this.name = "ConnectionError";
  }
}

/** What one NameServer said when asked for a topic's route. */
export interface RouteLookupOutcome {
  nameServer: string;
  /** "TOPIC_NOT_EXIST" when it answered so, "error" when it could not be asked. */
  outcome: "TOPIC_NOT_EXIST" | "error";
  detail?: string;
}

/**
 * No route for a topic: the message names the topic, every NameServer asked and what each
 * answered, because "No route info of this topic" is RocketMQ's most common first-run failure.
 */
export class NoRouteError extends TideMQError {
  readonly topic: string;
  readonly outcomes: RouteLookupOutcome[];
  constructor(topic: string, outcomes: RouteLookupOutcome[], extra?: string) {
    const asked = outcomes
      .map(
        (o) =>
          `${o.nameServer} (${o.outcome === "TOPIC_NOT_EXIST" ? "answered TOPIC_NOT_EXIST" : `no answer: ${o.detail ?? "error"}`})`,
      )
      .join(", ");
    const anyAnswered = outcomes.some((o) => o.outcome === "TOPIC_NOT_EXIST");
    const hint = anyAnswered
      ? `no broker hosts topic "${topic}". Auto-create may be off on the brokers: create the topic with ` +
        `\`tidemq admin updateTopic -t ${topic} -c <cluster>\` (or -b <broker address>)`
      : "no NameServer answered: check the endpoints / namesrvAddr option and that the NameServers run";
    super(
      ResponseCode.TOPIC_NOT_EXIST,
      `No route info for topic "${topic}"; NameServers asked: ${asked || "(none)"}; ${hint}${extra ? `; ${extra}` : ""}`,
      { retriable: !anyAnswered },
    );
    this.name = "NoRouteError";
    this.topic = topic;
    this.outcomes = outcomes;
  }
}

/** Response codes after which a send is retried on another broker (Java DefaultMQProducerImpl). */
export const SEND_RETRY_CODES: ReadonlySet<number> = new Set([
  ResponseCode.TOPIC_NOT_EXIST,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.SYSTEM_ERROR,
  ResponseCode.NO_PERMISSION,
  ResponseCode.NO_BUYER_ID,
  ResponseCode.NOT_IN_CURRENT_UNIT,
]);

/** Codes that say "try again later" regardless of the operation. */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  ResponseCode.SYSTEM_BUSY,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.FLOW_CONTROL,
  ResponseCode.SLAVE_NOT_AVAILABLE,
]);

/** A server answered with a failure code; `code` is its RocketMQ response code, `remark` its text. */
export class BrokerError extends TideMQError {
  readonly remark: string;
  readonly address: string;
  constructor(code: number, remark: string | undefined, address: string, what: string) {
    super(
      code,
      `${what} failed at ${address}: ${responseCodeName(code)} (${code})${remark ? `: ${remark}` : ""}`,
      {
        retriable: TRANSIENT_CODES.has(code) || SEND_RETRY_CODES.has(code),
      },
    );
    this.name = "BrokerError";
    this.remark = remark ?? "";
    this.address = address;
  }
}

/** True for errors a retry may cure (timeouts, connection trouble, transient codes). */
export function isRetriable(err: unknown): boolean {
  return err instanceof TideMQError && err.retriable;
}
