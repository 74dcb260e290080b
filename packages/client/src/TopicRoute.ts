import { isReadable, isWriteable, type TopicRouteData } from "@tidemq/protocol";
import { compareQueues, type MessageQueue } from "./MessageQueue.js";

/** Address of a broker group's master ("0"), if the route has one. */
export function masterAddr(route: TopicRouteData, brokerName: string): string | undefined {
  const bd = route.brokerDatas.find((b) => b.brokerName === brokerName);
  return bd?.brokerAddrs["0"];
}

/** Any address of a broker group: the master, else the lowest-numbered replica. */
export function anyAddr(route: TopicRouteData, brokerName: string): string | undefined {
  const bd = route.brokerDatas.find((b) => b.brokerName === brokerName);
  if (!bd) return undefined;
  if (bd.brokerAddrs["0"]) return bd.brokerAddrs["0"];
  const ids = Object.keys(bd.brokerAddrs).sort((a, b) => Number(a) - Number(b));
  return ids.length > 0 ? bd.brokerAddrs[ids[0]!] : undefined;
}

/**
 * Queues a producer may write: writable queue data of brokers that have a master,
 * ordered by broker name then queue id (Java's topicRouteData2TopicPublishInfo).
 */
export function publishQueues(topic: string, route: TopicRouteData): MessageQueue[] {
  const out: MessageQueue[] = [];
  const datas = [...route.queueDatas].sort((a, b) =>
    a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0,
  );
  for (const qd of datas) {
    if (!isWriteable(qd.perm) || !masterAddr(route, qd.brokerName)) continue;
    for (let i = 0; i < qd.writeQueueNums; i++) out.push({ topic, brokerName: qd.brokerName, queueId: i });
  }
  return out;
}

/** Queues a consumer may read: readable queue data, 0…readQueueNums−1 (Java's topicRouteData2TopicSubscribeInfo). */
export function subscribeQueues(topic: string, route: TopicRouteData): MessageQueue[] {
  const out: MessageQueue[] = [];
  for (const qd of route.queueDatas) {
    if (!isReadable(qd.perm)) continue;
    for (let i = 0; i < qd.readQueueNums; i++) out.push({ topic, brokerName: qd.brokerName, queueId: i });
  }
  return out.sort(compareQueues);
}

/** Every broker address a route mentions (masters and replicas). */
export function routeAddrs(route: TopicRouteData): string[] {
  const out: string[] = [];
  for (const bd of route.brokerDatas)
    for (const addr of Object.values(bd.brokerAddrs)) if (addr) out.push(addr);
  return out;
}

/** A route in the shape of another topic (the auto-create template TBW102), capped at `queueNums` queues. */
export function routeFromTemplate(template: TopicRouteData, queueNums: number): TopicRouteData {
  return {
    ...template,
    queueDatas: template.queueDatas.map((qd) => ({
      ...qd,
      readQueueNums: Math.min(queueNums, qd.readQueueNums),
      writeQueueNums: Math.min(queueNums, qd.writeQueueNums),
    })),
  };
}
