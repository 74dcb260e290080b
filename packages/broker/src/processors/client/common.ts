import {
  createResponse,
  isOneway,
  type RemotingCommand,
  ResponseCode,
  TideMQError,
  toStorableIPv4,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { ConsumerManager } from "../../ConsumerManager.js";
import type { ConsumerOffsetManager } from "../../ConsumerOffsetManager.js";
import type { BrokerContext } from "../../context.js";
import type { ProducerManager } from "../../ProducerManager.js";
import type { SubscriptionGroupManager } from "../../SubscriptionGroupManager.js";

/** What the client processors need beyond the BrokerContext: the concrete managers. */
export interface ClientProcessorDeps {
  ctx: BrokerContext;
  consumers: ConsumerManager<Connection>;
  producers: ProducerManager;
  offsets: ConsumerOffsetManager;
  groups: SubscriptionGroupManager;
  /** Sends NOTIFY_CONSUMER_IDS_CHANGED to every channel of the group, if enabled. */
  notifyConsumerIdsChanged(group: string): void;
  /** Makes sure a closed connection is removed from every group at once. */
  watchConnection(conn: Connection): void;
}

export const MAX_QUEUE_ID = 65_535;

/** A SUCCESS response; undefined for a oneway request (never answered). */
export function ok(request: RemotingCommand, header?: object, body?: Buffer): RemotingCommand | undefined {
  if (isOneway(request)) return undefined;
  return createResponse(request, ResponseCode.SUCCESS, undefined, header, body);
}

export function fail(code: number, message: string): TideMQError {
  return new TideMQError(code, message);
}

export function checkQueueId(queueId: number): void {
  if (queueId < 0 || queueId > MAX_QUEUE_ID) {
    throw fail(ResponseCode.SYSTEM_ERROR, `queueId ${queueId} is out of range [0, ${MAX_QUEUE_ID}]`);
  }
}

/** "ip:port" of the peer, as Java's RemotingHelper prints it (IPv4-mapped IPv6 unwrapped). */
export function clientAddr(conn: Connection): string {
  const a = conn.remoteAddress ?? "";
  const host = a.toLowerCase().startsWith("::ffff:") ? toStorableIPv4(a) : a;
  return `${host}:${conn.remotePort}`;
}

export function retryTopic(group: string): string {
  return `%RETRY%${group}`;
}

export function dlqTopic(group: string): string {
  return `%DLQ%${group}`;
}
