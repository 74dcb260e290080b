/**
 * The referee client, the unmodified npm package ali-ons@3.12.0, as the client tests drive it.
 * ali-ons ships no types: these are just the parts the tests use.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export interface OnsMessage {
  topic: string;
  tags: string | null;
  keys: string[] | string;
  body: Buffer;
  msgId: string;
  properties: Record<string, string>;
  /** Absolute ms: the __STARTDELIVERTIME property, a timer message. */
  setStartDeliverTime(ms: number): void;
}
export interface OnsClient {
  ready(): Promise<void>;
  close(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}
export interface OnsProducer extends OnsClient {
  send(msg: OnsMessage): Promise<{ sendStatus: string; msgId: string; queueOffset: number }>;
}
/** A tag expression ("TagA || TagB", "*") or a SQL92 one ({ expressionType: "SQL92", subString }). */
export type OnsExpression = string | { expressionType: string; subString: string };
export interface OnsConsumer extends OnsClient {
  subscribe(topic: string, expr: OnsExpression, handler: (msg: OnsMessage) => Promise<unknown>): void;
}

export const ons = require("ali-ons") as {
  Producer: new (opts: object) => OnsProducer;
  Consumer: new (opts: object) => OnsConsumer;
  Message: new (topic: string, tags: string, body: string | Buffer) => OnsMessage;
};

/** ali-ons logs every route refresh to the console: tests keep it silent. */
export const quietOnsLogger = { info() {}, warn() {}, debug() {}, error() {} };

/**
 * Options for every ali-ons client in a test: silent, no HTTP address lookup, and 1 s timers
 * where ali-ons' defaults (30 s route poll, 20-30 s heartbeat and rebalance) would make a test
 * wait for minutes. Spread first, then override what a test needs slower.
 */
export const onsTimers = {
  logger: quietOnsLogger,
  httpclient: {},
  pollNameServerInteval: 1000,
  heartbeatBrokerInterval: 1000,
  rebalanceInterval: 1000,
  persistConsumerOffsetInterval: 1000,
};

/**
 * ali-ons keeps one default producer per process (its consumers' send-back goes through it),
 * open past every client a test closed: its timers would keep the test process alive.
 * Call in after().
 */
export async function closeOnsDefaultProducer(): Promise<void> {
  const MQProducer = require("ali-ons/lib/producer/mq_producer.js") as { defaultProducer?: OnsClient };
  await MQProducer.defaultProducer?.close().catch(() => undefined);
}
