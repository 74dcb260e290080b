/**
 * Subscription groups in `tidemq admin`: updateSubGroup and deleteSubGroup (a consumer group's
 * config on the brokers: retries, broadcast, which broker serves it).
 */
import { addrOption, boolOption, intOption, nameOption } from "./args.js";
import { targetBrokers } from "./calls.js";
import type { Handler } from "./handlers.js";

export const updateSubGroup: Handler = async ({ admin, values }) => {
  const config = {
    groupName: nameOption(values, "g", "group"),
    consumeEnable: boolOption(values, "s", true),
    consumeFromMinEnable: boolOption(values, "m", true),
    consumeBroadcastEnable: boolOption(values, "d", true),
    retryQueueNums: intOption(values, "q", 1, 0, 1024),
    retryMaxTimes: intOption(values, "r", 16, -1, 1000),
    brokerId: intOption(values, "i", 0, 0, 1024),
    whichBrokerWhenConsumeSlowly: intOption(values, "w", 1, 0, 1024),
    notifyConsumerIdsChangedEnable: boolOption(values, "a", true),
  };
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c);
  for (const addr of addrs) await admin.updateSubscriptionGroup(addr, config);
  return {
    text: [...addrs.map((a) => `create subscription group to ${a} success.`), JSON.stringify(config)].join(
      "\n",
    ),
    json: { brokers: addrs, subscriptionGroupConfig: config },
  };
};

export const deleteSubGroup: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c, false);
  for (const addr of addrs) await admin.deleteSubscriptionGroup(addr, group);
  return {
    text: addrs.map((a) => `delete subscription group [${group}] from broker [${a}] success.`).join("\n"),
    json: { group, brokers: addrs },
  };
};
