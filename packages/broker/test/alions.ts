/**
 * The referee client, the unmodified npm package ali-ons@3.12.0, as the broker tests drive it.
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
  queueId: number;
  queueOffset: number;
  reconsumeTimes: number;
  /** Set before a send: the delay level (1s 5s 10s … by default). */
  delayTimeLevel: number;
  properties: Record<string, string>;
}
export interface OnsSendResult {
  sendStatus: string;
  msgId: string;
  messageQueue: { topic: string; brokerName: string; queueId: number };
  queueOffset: number;
}
export interface OnsClient {
  ready(): Promise<void>;
  close(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}
export interface OnsProducer extends OnsClient {
  send(msg: OnsMessage): Promise<OnsSendResult>;
}
export interface OnsConsumer extends OnsClient {
  subscribe(topic: string, expr: string, handler: (msg: OnsMessage) => Promise<unknown>): void;
}

export const ons = require("ali-ons") as {
  Producer: new (opts: object) => OnsProducer;
  Consumer: new (opts: object) => OnsConsumer;
  /** new Message(topic, tags, body), or new Message(topic, body) for no tag. */
  Message: new (
    topic: string,
    tagsOrBody: string | Buffer,
    body?: string | Buffer,
  ) => OnsMessage;
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
