import { firstOf } from "../Bounded.js";
import { HttpError, name, type Route, str } from "../http.js";

/** Queues one client's running info lists at most (the cut is said). */
const MAX_QUEUES = 1000;

/**
 * What the broker relays to a consumer client (GET_CONSUMER_RUNNING_INFO and
 * CONSUME_MESSAGE_DIRECTLY, `tidemq admin consumerStatus` / `consumeMessageDirectly`):
 * a client's process queues, in-flight messages, lock state and TPS, and "resend a message
 * to a group" (one online client of the group runs its listener on it).
 */
export const routes: Route[] = [
  {
    method: "GET",
    path: "/api/consumers/runningInfo",
    async handle({ data, query }) {
      const group = name(query, "group");
      const clientId = str(query, "clientId", { max: 255 });
      const info = await data.admin.getConsumerRunningInfo(group, clientId).catch((err: Error) => {
        throw new HttpError(/not online/.test(err.message) ? 404 : 502, err.message);
      });
      const queues = info.mqTable.map(({ mq, info: q }) => ({
        topic: mq.topic,
        brokerName: mq.brokerName,
        queueId: mq.queueId,
        commitOffset: q.commitOffset,
        inFlight: q.cachedMsgCount,
        cachedMiB: q.cachedMsgSizeInMiB,
        cachedMinOffset: q.cachedMsgMinOffset,
        cachedMaxOffset: q.cachedMsgMaxOffset,
        locked: q.locked,
        lastLockTimestamp: q.lastLockTimestamp,
        dropped: q.droped,
        lastPullTimestamp: q.lastPullTimestamp,
        lastConsumeTimestamp: q.lastConsumeTimestamp,
      }));
      const status = Object.entries(info.statusTable)
        .map(([topic, s]) => ({ topic, ...s }))
        .sort((a, b) => a.topic.localeCompare(b.topic));
      return {
        group,
        clientId,
        properties: info.properties,
        subscriptions: info.subscriptionSet,
        queues: firstOf(queues, MAX_QUEUES, "queues"),
        inFlight: queues.reduce((s, q) => s + q.inFlight, 0),
        status,
        asOf: Date.now(),
      };
    },
  },
  {
    method: "POST",
    path: "/api/messages/consumeDirectly",
    action: "message.consumeDirectly",
    async handle({ data, body }) {
      const group = name(body, "group");
      const offsetMsgId = str(body, "offsetMsgId", { max: 64 });
      // The broker the id names must be one of the cluster's before anything connects to it.
      await data.brokerOfMsgId(offsetMsgId);
      let clientId = str(body, "clientId", { optional: true, max: 255 });
      if (!clientId) {
        const conn = await data.admin.getConsumerConnectionList(group).catch(() => undefined);
        const ids = (conn?.connectionSet ?? []).map((c) => c.clientId).sort();
        if (ids.length === 0)
          throw new HttpError(409, `no client of group ${group} is online: nobody could consume the message`);
        clientId = ids[0]!;
      }
      const r = await data.admin.consumeMessageDirectly(group, clientId, offsetMsgId).catch((err: Error) => {
        throw new HttpError(502, err.message);
      });
      return {
        group,
        clientId,
        ...r,
        message: `client ${clientId} of ${group} consumed the message: ${r.consumeResult} in ${r.spentTimeMills} ms${r.remark ? ` (${r.remark})` : ""}`,
      };
    },
  },
];
