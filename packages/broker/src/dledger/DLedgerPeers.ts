import type { BrokerConfig } from "../BrokerConfig.js";
import { BrokerConfigError } from "../loadBrokerConfig.js";

/** One replica of a DLedger group: its id ("n0") and the host:port of its Raft transport. */
export interface DLedgerPeer {
  id: string;
  host: string;
  port: number;
}

/** Parses RocketMQ's dLegerPeers, "n0-127.0.0.1:40911;n1-127.0.0.1:40912;…". */
export function parseDLedgerPeers(raw: string): DLedgerPeer[] {
  const peers: DLedgerPeer[] = [];
  for (const part of raw.split(";")) {
    const item = part.trim();
    if (item.length === 0) continue;
    const m = /^([A-Za-z0-9_.]+)-(.+):(\d{1,5})$/.exec(item);
    if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) {
      throw new BrokerConfigError(
        `invalid dLegerPeers entry "${item}" (expected id-host:port, e.g. n0-127.0.0.1:40911)`,
      );
    }
    if (peers.some((p) => p.id === m[1])) {
      throw new BrokerConfigError(`dLegerPeers names ${m[1]} twice`);
    }
    peers.push({ id: m[1]!, host: m[2]!, port: Number(m[3]) });
  }
  return peers;
}

/**
 * The brokerId a follower registers with: the numeric part of its selfId + 1 (n0 → 1,
 * n1 → 2, as RocketMQ's DLedgerRoleChangeHandler does); a selfId without digits gets its
 * position in dLegerPeers + 1. The leader always registers as 0.
 */
export function followerBrokerId(selfId: string, peers: readonly DLedgerPeer[]): number {
  const m = /(\d+)$/.exec(selfId);
  if (m) return Number(m[1]) + 1;
  return peers.findIndex((p) => p.id === selfId) + 1;
}

/** Start-up checks of a DLedger member's config: a group must be well-formed or the broker refuses. */
export function checkDLedgerConfig(c: BrokerConfig): void {
  if (!c.dLegerPeers) {
    throw new BrokerConfigError(
      "enableDLegerCommitLog=true but dLegerPeers is empty (n0-host:port;n1-host:port;…)",
    );
  }
  const peers = parseDLedgerPeers(c.dLegerPeers);
  if (peers.length === 0) throw new BrokerConfigError("dLegerPeers names no replica");
  if (!c.dLegerSelfId) throw new BrokerConfigError("enableDLegerCommitLog=true but dLegerSelfId is empty");
  if (!peers.some((p) => p.id === c.dLegerSelfId)) {
    throw new BrokerConfigError(
      `dLegerSelfId=${c.dLegerSelfId} is not one of dLegerPeers (${peers.map((p) => p.id).join(", ")})`,
    );
  }
  for (const id of c.preferredLeaderId.split(";").filter((s) => s.trim().length > 0)) {
    if (!peers.some((p) => p.id === id.trim())) {
      throw new BrokerConfigError(`preferredLeaderId=${id} is not one of dLegerPeers`);
    }
  }
  if (c.preferredLeaderId.split(";").filter((s) => s.trim().length > 0).length > 1) {
    throw new BrokerConfigError("preferredLeaderId: TideMQ takes one preferred leader, not a list");
  }
  if (c.dLegerGroup && c.dLegerGroup !== c.brokerName) {
    throw new BrokerConfigError(
      `dLegerGroup=${c.dLegerGroup} differs from brokerName=${c.brokerName}: a DLedger group is one broker name`,
    );
  }
  if (c.haMasterAddress) {
    throw new BrokerConfigError(
      "haMasterAddress is set with enableDLegerCommitLog=true: DLedger groups elect their leader",
    );
  }
}
