import { RequestCode, type SubscriptionData } from "@tidemq/protocol";
import type { MQClientInstance } from "./MQClientInstance.js";

/**
 * Asks a broker of each SQL92 subscription's topic to compile the expression
 * (CHECK_CLIENT_CONFIG, spec §4.14) before the subscription is used, as the Java client
 * does at start: a malformed expression then fails `startup()`/`subscribe()` with the
 * broker's reason (position included) instead of making every heartbeat of the client
 * instance fail. A topic with no route yet is checked by the broker at heartbeat instead.
 */
export async function checkSqlSubscriptions(
  instance: MQClientInstance,
  group: string,
  subscriptions: Iterable<SubscriptionData>,
): Promise<void> {
  for (const sub of subscriptions) {
    if (sub.expressionType !== "SQL92") continue;
    const route = instance.getRoute(sub.topic);
    const broker = route?.brokerDatas.find((b) => instance.findMasterAddr(b.brokerName));
    const addr = broker && instance.findMasterAddr(broker.brokerName);
    if (!addr) continue;
    const body = Buffer.from(JSON.stringify({ group, subscriptionData: sub }), "utf8");
    await instance.api.call(addr, RequestCode.CHECK_CLIENT_CONFIG, undefined, body, {
      what: `check of the SQL92 subscription of ${group} to ${sub.topic}`,
    });
  }
}
