/**
 * Broker administration: one broker's runtime status table, timer status and configuration
 * (read and change), and DLedger group membership (leadership transfer, adding and removing
 * a replica). Each request goes to the broker address given; nothing here needs a route.
 */
import { decodeJson, RequestCode } from "@tidemq/protocol";
import { parseProperties } from "./bodies.js";
import { TopicAdmin } from "./TopicAdmin.js";

/** A broker's timer messages (GET_TIMER_STATUS). */
export interface TimerStatusInfo {
  /** Timer messages stored and neither delivered nor recalled yet (a recalled one counts until its due time). */
  pending: number;
  /** Loaded for delivery in the next moments (in memory). */
  loadedInMemory: number;
  /** The next due time with a message (ms), if any within the wheel's two days. */
  nextDueMs?: number;
  /** pending by due day (UTC, YYYY-MM-DD). */
  days: Array<{ day: string; count: number }>;
  /** Every slot before this time has been loaded. */
  loadedUpToMs: number;
  /** Timer-topic records not yet in the timer store. */
  enqueueBehind: number;
  /** Delivered since the broker started. */
  delivered: number;
  timerLogBytes: number;
  timerMaxDelaySec: number;
  /** Older copies of rolled timers dropped since start (absent from brokers before this field). */
  supersededRolls?: number;
  /** Entries skipped since start as delivered by a previous DLedger leader (absent likewise). */
  skippedDelivered?: number;
}

/** Brokers: runtime info, timer status, configuration, DLedger membership. */
export class BrokerAdmin extends TopicAdmin {
  /** GET_BROKER_RUNTIME_INFO: the broker's key/value status table. */
  async getBrokerRuntimeInfo(brokerAddr: string): Promise<Record<string, string>> {
    const res = await this.api.call(brokerAddr, RequestCode.GET_BROKER_RUNTIME_INFO, undefined, undefined);
    return decodeJson<{ table?: Record<string, string> }>(res.body, "runtime info").table ?? {};
  }

  /** GET_TIMER_STATUS (TideMQ): pending timer messages, by due day, and the next due time. */
  async getTimerStatus(brokerAddr: string): Promise<TimerStatusInfo> {
    const res = await this.api.call(brokerAddr, RequestCode.GET_TIMER_STATUS, undefined, undefined);
    return decodeJson<TimerStatusInfo>(res.body, "timer status");
  }

  /**
   * DLedger group: asks the current leader at `leaderAddr` to hand leadership to replica
   * `selfId` (TideMQ request 51005, DLedger's LEADERSHIP_TRANSFER code). Resolves once the
   * leader started the transfer; the new leader registers as brokerId 0 when it takes writes.
   */
  async transferDLedgerLeader(leaderAddr: string, selfId: string): Promise<string> {
    const res = await this.api.call(leaderAddr, 51005, { selfId }, undefined);
    return res.remark ?? "";
  }

  /**
   * DLedger group: asks the leader at `leaderAddr` to add replica `selfId` (its Raft port at
   * `address`, host:port) to the group (TideMQ request 51006). Resolves once the change's
   * config entry committed; the new replica then catches up from the leader's log.
   */
  async addDLedgerPeer(leaderAddr: string, selfId: string, address: string): Promise<string> {
    const res = await this.api.call(leaderAddr, 51006, { selfId, address }, undefined);
    return res.remark ?? "";
  }

  /** DLedger group: asks the leader to remove replica `selfId` (TideMQ request 51007); resolves once committed. */
  async removeDLedgerPeer(leaderAddr: string, selfId: string): Promise<string> {
    const res = await this.api.call(leaderAddr, 51007, { selfId }, undefined);
    return res.remark ?? "";
  }

  /** GET_BROKER_CONFIG (26): the broker's configuration as key → value. */
  async getBrokerConfig(brokerAddr: string): Promise<Record<string, string>> {
    const res = await this.api.call(brokerAddr, RequestCode.GET_BROKER_CONFIG, undefined, undefined);
    return parseProperties(res.body?.toString("utf8") ?? "");
  }

  /**
   * UPDATE_BROKER_CONFIG (25): changes the given keys of the broker's configuration (as
   * `key=value` lines, which is what mqadmin updateBrokerConfig sends).
   */
  async updateBrokerConfig(brokerAddr: string, properties: Record<string, string>): Promise<void> {
    const text = Object.entries(properties)
      .map(([k, v]) => `${k}=${v}\n`)
      .join("");
    await this.api.call(brokerAddr, RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from(text, "utf8"));
  }
}
