/**
 * What every admin domain stands on: the remoting transport and options, the NameServer
 * rotation, and the NameServer reads the domains start from (topic routes, cluster info,
 * topic list). The domains are layered on it one file each (TopicAdmin, BrokerAdmin,
 * OffsetAdmin, MessageAdmin, GroupAdmin) and `Admin` is the last of them, so every method
 * stays on `Admin` (RocketMQ's MQAdminExt) while each file stays readable in one sitting.
 */
import type { ClusterInfo, TopicRouteData } from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { ClientError, NoRouteError, type RouteLookupOutcome } from "./errors.js";
import { MQClientAPI, type Transport } from "./MQClientAPI.js";
import { type ClientOptions, type ResolvedClientOptions, resolveClientOptions } from "./options.js";

/** Admin takes only the options every client takes. */
export interface AdminOptions extends ClientOptions {}

/**
 * Broker addresses of a cluster (masters only, or every master and slave), sorted by broker
 * name and id. A cluster the info does not list is a ClientError naming the known ones.
 */
export function clusterBrokerAddrs(info: ClusterInfo, cluster: string, mastersOnly: boolean): string[] {
  const names = info.clusterAddrTable[cluster];
  if (!names) {
    const known = Object.keys(info.clusterAddrTable).sort().join(", ") || "none";
    throw new ClientError(`cluster ${cluster} is unknown to the NameServer (clusters: ${known})`);
  }
  const out: string[] = [];
  for (const name of [...names].sort()) {
    const addrs = info.brokerAddrTable[name]?.brokerAddrs ?? {};
    for (const id of Object.keys(addrs).sort((a, b) => Number(a) - Number(b))) {
      if (mastersOnly && id !== "0") continue;
      out.push(addrs[id]!);
    }
  }
  return out;
}

/** The transport, options and NameServer reads of the admin client (see the file's header). */
export class AdminBase {
  readonly api: MQClientAPI;
  protected readonly options: ResolvedClientOptions;
  private nsIndex = 0;
  private closed = false;

  constructor(options: AdminOptions, transport?: Transport) {
    this.options = resolveClientOptions(options, "admin");
    this.api = new MQClientAPI(
      transport ??
        new RemotingClient({ requestTimeoutMs: this.options.requestTimeout, logger: this.options.logger }),
      this.options.requestTimeout,
    );
  }

  /** For symmetry with the other clients: nothing to do (connections open on first use). */
  async startup(): Promise<void> {}

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.api.transport.close();
  }

  /** Runs a NameServer request on the first NameServer that answers (rotating on failure). */
  private async onNameServer<T>(f: (ns: string) => Promise<T>): Promise<T> {
    const n = this.options.nameServers.length;
    let lastErr: unknown;
    for (let i = 0; i < n; i++) {
      const idx = (this.nsIndex + i) % n;
      try {
        const r = await f(this.options.nameServers[idx]!);
        this.nsIndex = idx;
        return r;
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  // ---- NameServer ----

  async getTopicRoute(topic: string): Promise<TopicRouteData> {
    const outcomes: RouteLookupOutcome[] = [];
    for (const ns of this.options.nameServers) {
      try {
        const route = await this.api.getRouteInfo(ns, topic);
        if (route) return route;
        outcomes.push({ nameServer: ns, outcome: "TOPIC_NOT_EXIST" });
      } catch (err) {
        outcomes.push({ nameServer: ns, outcome: "error", detail: (err as Error).message });
      }
    }
    throw new NoRouteError(topic, outcomes);
  }

  async getClusterInfo(): Promise<ClusterInfo> {
    return this.onNameServer((ns) => this.api.getClusterInfo(ns));
  }

  async getTopicList(): Promise<string[]> {
    return this.onNameServer((ns) => this.api.getTopicList(ns));
  }

  /** Master addresses of a cluster's broker groups, sorted by broker name. */
  async getClusterMasters(clusterName: string): Promise<string[]> {
    return clusterBrokerAddrs(await this.getClusterInfo(), clusterName, true);
  }
}
