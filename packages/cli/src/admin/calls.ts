/**
 * What the admin subcommands add to @tidemq/client's Admin: which brokers a -b / -c pair
 * designates, and the error for a fault of the cluster's answer.
 */
import { type Admin, clusterBrokerAddrs } from "@tidemq/client";
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
