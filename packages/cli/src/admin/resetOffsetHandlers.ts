/**
 * Offset resets in `tidemq admin`: resetOffsetByTime, refused while online consumers would
 * not apply the reset (what they are is decided in resetAwareness.ts).
 */
import { type Admin, BrokerError, NoRouteError } from "@tidemq/client";
import { ResponseCode } from "@tidemq/protocol";
import { boolOption, nameOption, parseTimestamp } from "./args.js";
import { AdminCallError } from "./calls.js";
import type { Handler } from "./handlers.js";
import { type ClientAnnounce, unawareOfReset } from "./resetAwareness.js";
import { formatTable, formatTime } from "./table.js";

export const resetOffsetByTimeCmd: Handler = async ({ admin, values }) => {
  const group = nameOption(values, "g", "group");
  const topic = nameOption(values, "t", "topic");
  const timestamp = parseTimestamp(values.s!);
  const force = boolOption(values, "f", true);
  // Before anything moves: which online consumers would ignore the reset and overwrite it
  // with their next offset commit (ali-ons does). Refused unless the operator says so.
  const unaware = unawareOfReset(await onlineConsumers(admin, group));
  const names = unaware.map((c) => `${c.clientId} at ${c.clientAddr}: ${c.why}`).join("; ");
  if (unaware.length > 0 && values.A !== "true") {
    throw new AdminCallError(
      `nothing reset: ${unaware.length} online consumer(s) of group ${group} would not apply it and would ` +
        `overwrite it with their next commit: ${names}. Stop them and run this again, or pass ` +
        "--allow-ignored to reset anyway",
    );
  }
  const entries = (await admin.resetOffsetByTime(group, topic, timestamp, force)).map(({ mq, offset }) => ({
    brokerName: mq.brokerName,
    queueId: mq.queueId,
    offset,
  }));
  if (entries.length === 0) {
    throw new AdminCallError(`group ${group} has no offsets of topic ${topic} to reset`);
  }
  const head = `rollback consumer offset by specified group[${group}], topic[${topic}], force[${force}], timestamp(string)[${
    timestamp === -1 ? "-1 (end)" : formatTime(timestamp)
  }], timestamp(long)[${timestamp}]`;
  if (unaware.length > 0) {
    process.stderr.write(
      `tidemq admin: resetOffsetByTime: warning: these online consumers did not apply the reset and ` +
        `will overwrite it with their next commit: ${names}\n`,
    );
  }
  return {
    text: `${head}\n${formatTable(
      ["#Broker Name", "#QID", "#Offset"],
      entries.map((e) => [e.brokerName, e.queueId, e.offset]),
      [1, 2],
    )}`,
    json: {
      group,
      topic,
      timestamp,
      force,
      offsets: entries,
      notAppliedBy: unaware.map(({ clientId, clientAddr, language, version, why }) => ({
        clientId,
        clientAddr,
        language,
        version,
        why,
      })),
    },
  };
};

/** The group's online consumers; none when the broker says none is online or the group is unknown. */
async function onlineConsumers(admin: Admin, group: string): Promise<ClientAnnounce[]> {
  try {
    return (await admin.getConsumerConnectionList(group)).connectionSet;
  } catch (err) {
    // No %RETRY% route: the group never had a consumer online.
    if (err instanceof NoRouteError && err.outcomes.some((o) => o.outcome === "TOPIC_NOT_EXIST")) return [];
    if (err instanceof BrokerError && err.code === ResponseCode.CONSUMER_NOT_ONLINE) return [];
    throw new AdminCallError(`cannot tell which consumers of ${group} are online: ${(err as Error).message}`);
  }
}
