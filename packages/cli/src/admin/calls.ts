/**
 * What the admin subcommands add to @tidemq/client's Admin: which brokers a -b / -c pair
 * designates, the error for a fault of the cluster's answer (an unknown group among them),
 * and the bound on the subcommands that walk every topic or group.
 */
import { type Admin, clusterBrokerAddrs, NoRouteError } from "@tidemq/client";
import type { ClusterInfo } from "@tidemq/protocol";

/** Topics / groups walked by the subcommands that visit every one (a bound on requests). */
export const MAX_WALK = 2000;

/** A fault of the cluster's answer (not of the command line); printed as one line. */
export class AdminCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdminCallError";
  }
}

/** The addresses a -b / -c pair designates: -b itself, or the cluster's brokers. */
export async function targetBrokers(
  admin: Admin,
  brokerAddr: string | undefined,
  cluster: string | undefined,
  mastersOnly = true,
): Promise<string[]> {
  if (brokerAddr) return [brokerAddr];
  if (!cluster) throw new AdminCallError("give -b <broker address> or -c <cluster>");
  const addrs = clusterBrokerAddrs(await admin.getClusterInfo(), cluster, mastersOnly);
  if (addrs.length === 0)
    throw new AdminCallError(`cluster ${cluster} has no ${mastersOnly ? "master " : ""}broker`);
  return addrs;
}

/** Name of the broker group an address belongs to, from the cluster info. */
export function brokerNameOf(info: ClusterInfo, addr: string): string | undefined {
  for (const [name, bd] of Object.entries(info.brokerAddrTable)) {
    if (Object.values(bd.brokerAddrs ?? {}).includes(addr)) return name;
  }
  return undefined;
}

/**
 * The tools find a group's brokers through the route of %RETRY%<group>; "no route" for
 * that topic means the group is unknown, which is what the user should read.
 */
export async function forGroup<T>(group: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (
      err instanceof NoRouteError &&
      err.topic === `%RETRY%${group}` &&
      err.outcomes.some((o) => o.outcome === "TOPIC_NOT_EXIST")
    ) {
      throw new AdminCallError(
        `consumer group ${group} is unknown to the cluster (no route for %RETRY%${group}: a group gets one when its first consumer connects)`,
      );
    }
    throw err;
  }
}
