import { ResponseCode } from "@tidemq/protocol";
import { BrokerError, isRetriable, SEND_RETRY_CODES } from "./errors.js";
import type { MessageQueue } from "./MessageQueue.js";
import type { SendCore } from "./SendCore.js";
import { masterAddr } from "./TopicRoute.js";

/**
 * What the send retry loop does after attempt `i` of `times` on `mq` (sent at `t0`) failed with
 * `err`: throws it unless a retry may help (and records the broker's latency fault when one
 * may); returns the attempt number to go on from (i, or i - 1 when the attempt does not count
 * because the topic's master may have moved).
 */
export async function afterSendFailure(
  core: SendCore,
  topic: string,
  mq: MessageQueue,
  queues: MessageQueue[],
  err: unknown,
  i: number,
  times: number,
  t0: number,
): Promise<number> {
  // Another broker of the route may have the topic; with none, TOPIC_NOT_EXIST is final
  // (asking the same broker again cannot help, and the 4.x Java client's retry only
  // delays the error by the retries' round trips).
  const otherBroker = (core.knownQueues(topic) ?? queues).some((q) => q.brokerName !== mq.brokerName);
  const retry =
    err instanceof BrokerError
      ? SEND_RETRY_CODES.has(err.code) && (otherBroker || err.code !== ResponseCode.TOPIC_NOT_EXIST)
      : isRetriable(err);
  if (retry) core.fault.update(mq.brokerName, Date.now() - t0, true, Date.now());
  if (!retry) throw err;
  // A dead or deposed broker (a replicated group electing a new leader): learn the new
  // route now instead of at the next poll, and while the group has no new master yet,
  // wait a little and try again without using up a retry (bounded by sendMsgTimeout).
  if (mq.brokerName && (await masterMayHaveMoved(core, topic, mq, err, i))) i--;
  if (i + 1 < times) {
    (core.options.logger ?? core.instance.logger).warn(
      `send to ${topic} via ${mq.brokerName} failed (${(err as Error).message}); ` +
        `${otherBroker ? "retrying on another broker" : `retrying on ${mq.brokerName}, the only broker of ${topic}`}` +
        ` (attempt ${i + 2} of ${times})`,
    );
  }
  return i;
}

/**
 * After a send failed on a broker that is unreachable or answers SERVICE_NOT_AVAILABLE (a
 * replica that is not, or no longer, the leader): refreshes the topic's route at once.
 * Returns true when every writable queue is on that same broker group and its master is
 * unchanged — nothing else to try yet — after a short back-off (100 ms, then up to 500 ms).
 */
async function masterMayHaveMoved(
  core: SendCore,
  topic: string,
  mq: MessageQueue,
  err: unknown,
  attempt: number,
): Promise<boolean> {
  const deposed = err instanceof BrokerError && err.code === 14;
  const dead =
    !(err instanceof BrokerError) &&
    /unreachable|ECONNREFUSED|ECONNRESET|closed/i.test(String((err as Error)?.message));
  if (!deposed && !dead) return false;
  const instance = core.instance;
  const before = instance.findMasterAddr(mq.brokerName);
  await instance.updateRoute(topic).catch(() => undefined);
  const route = instance.getRoute(topic);
  const after = route ? masterAddr(route, mq.brokerName) : undefined;
  if (after && after !== before) return true;
  const queues = core.knownQueues(topic) ?? [];
  if (queues.some((q) => q.brokerName !== mq.brokerName)) return false;
  if (attempt > 50) return false;
  await new Promise((r) => setTimeout(r, Math.min(500, 100 * (1 + Math.min(attempt, 4)))));
  return true;
}
