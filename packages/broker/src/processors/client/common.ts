import {
  createResponse,
  decodeJson,
  isOneway,
  type RemotingCommand,
  ResponseCode,
  toStorableIPv4,
} from "@tidemq/protocol";
import type { Connection } from "@tidemq/remoting";
import type { ConsumerManager } from "../../ConsumerManager.js";
import { type ConsumerOffsetManager, MAX_QUEUE_ID } from "../../ConsumerOffsetManager.js";
import type { BrokerContext } from "../../context.js";
import type { ProducerManager } from "../../ProducerManager.js";
import type { RebalanceLockManager } from "../../RebalanceLockManager.js";
import type { SubscriptionGroupManager } from "../../SubscriptionGroupManager.js";
import { fail } from "../responses.js";

/** What the client processors need beyond the BrokerContext: the concrete managers. */
export interface ClientProcessorDeps {
  ctx: BrokerContext;
  consumers: ConsumerManager<Connection>;
  producers: ProducerManager;
  offsets: ConsumerOffsetManager;
  groups: SubscriptionGroupManager;
  /** Queue locks of orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ). */
  locks: RebalanceLockManager;
  /** Sends NOTIFY_CONSUMER_IDS_CHANGED to every channel of the group, if enabled. */
  notifyConsumerIdsChanged(group: string): void;
  /** Makes sure a closed connection is removed from every group at once. */
  watchConnection(conn: Connection): void;
}

/** A SUCCESS response; undefined for a oneway request (never answered). */
export function ok(request: RemotingCommand, header?: object, body?: Buffer): RemotingCommand | undefined {
  if (isOneway(request)) return undefined;
  return createResponse(request, ResponseCode.SUCCESS, undefined, header, body);
}

export function checkQueueId(queueId: number): void {
  if (queueId < 0 || queueId > MAX_QUEUE_ID) {
    fail(ResponseCode.SYSTEM_ERROR, `queueId ${queueId} is out of range [0, ${MAX_QUEUE_ID}]`);
  }
}

/** "ip:port" of the peer, as Java's RemotingHelper prints it (IPv4-mapped IPv6 unwrapped). */
export function clientAddr(conn: Connection): string {
  const a = conn.remoteAddress ?? "";
  const host = a.toLowerCase().startsWith("::ffff:") ? toStorableIPv4(a) : a;
  return `${host}:${conn.remotePort}`;
}

/** A JSON request body; one that is empty or not JSON is a SYSTEM_ERROR. */
export function decodeJsonBody<T>(body: Buffer | undefined, what: string): T {
  try {
    return decodeJson<T>(body, what);
  } catch (err) {
    fail(ResponseCode.SYSTEM_ERROR, (err as Error).message);
  }
}
