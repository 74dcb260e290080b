import { type MetricsRegistry, type Sample, snapshotMetric } from "@tidemq/remoting/metrics";
import type { DLedgerReplicaStatus } from "../dledger/DLedgerNode.js";
import type { ReplicationStatus } from "../ha/MasterSlaveReplication.js";

/** What the replication metrics read at scrape time (either, both absent for a lone broker). */
export interface ReplicationSources {
  /** Classic master/slave replication (brokerRole). */
  masterSlave?: { replicationStatus(): Promise<ReplicationStatus> };
  /** A DLedger replica: its Raft status, and the group it belongs to. */
  dledger?: { status(): DLedgerReplicaStatus; group: string };
}

/** The Raft roles a DLedger replica can be in; the role gauge has one series per role. */
const RAFT_ROLES = ["leader", "follower", "candidate", "preCandidate"] as const;

/**
 * Replication metrics. RocketMQ 5 exports none for HA or DLedger, so the names are TideMQ's:
 * `tidemq_ha_*` for master/slave (lag in commit-log bytes, as RocketMQ's runtime info
 * measures it) and `tidemq_dledger_*` for a DLedger group (role, term, commit index, per-peer
 * match index and lag in entries, elections, leader contact). Everything is read at scrape
 * time; a value that cannot be known (a slave whose master does not answer) is left out
 * rather than reported as 0.
 */
export function registerReplicationMetrics(registry: MetricsRegistry, src: ReplicationSources): void {
  const ms = src.masterSlave;
  if (ms) registerMasterSlave(registry, ms);
  const dl = src.dledger;
  if (dl) registerDLedger(registry, dl);
}

function registerMasterSlave(
  registry: MetricsRegistry,
  ms: NonNullable<ReplicationSources["masterSlave"]>,
): void {
  // One status per scrape: the slave's asks the master over the network.
  let pending: Promise<ReplicationStatus> | undefined;
  const status = () => {
    pending ??= ms.replicationStatus().finally(() => {
      setImmediate(() => {
        pending = undefined;
      });
    });
    return pending;
  };
  snapshotMetric(registry, {
    name: "tidemq_ha_confirmed_offset_bytes",
    help: "This broker's confirmed commit-log end (written; fsynced under SYNC_FLUSH), a physical offset",
    type: "gauge",
    read: async () => [{ value: (await status()).confirmedOffset }],
  });
  snapshotMetric(registry, {
    name: "tidemq_ha_slave_connections",
    help: "Master: slaves connected to the HA port that reported at least once",
    type: "gauge",
    read: async () => {
      const s = await status();
      return s.kind === "master" ? [{ value: s.slaves.length }] : [];
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_ha_slave_lag_bytes",
    help: "Master: commit-log bytes confirmed here and not yet acknowledged by the slave",
    type: "gauge",
    read: async () => {
      const s = await status();
      if (s.kind !== "master") return [];
      return s.slaves.map((x) => ({
        labels: { slave: x.addr },
        value: Math.max(0, s.confirmedOffset - x.ackOffset),
      }));
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_ha_slave_ack_offset_bytes",
    help: "Master: the commit-log offset each slave acknowledged",
    type: "gauge",
    read: async () => {
      const s = await status();
      return s.kind === "master"
        ? s.slaves.map((x) => ({ labels: { slave: x.addr }, value: x.ackOffset }))
        : [];
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_ha_master_connected",
    help: "Slave: 1 while the replication stream from the master is connected",
    type: "gauge",
    read: async () => {
      const s = await status();
      return s.kind === "slave" ? [{ value: s.connected ? 1 : 0 }] : [];
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_ha_behind_master_bytes",
    help: "Slave: the master's commit-log end (asked at scrape time) minus this slave's confirmed end; absent when the master does not answer",
    type: "gauge",
    read: async () => {
      const s = await status();
      if (s.kind !== "slave" || s.masterMaxOffset === undefined) return [];
      return [
        { labels: { master: s.masterAddr ?? "" }, value: Math.max(0, s.masterMaxOffset - s.confirmedOffset) },
      ];
    },
  });
}

function registerDLedger(registry: MetricsRegistry, dl: NonNullable<ReplicationSources["dledger"]>): void {
  const labels = (st: DLedgerReplicaStatus) => ({ dledger_group: dl.group, self_id: st.selfId });
  const one = (
    name: string,
    help: string,
    type: "gauge" | "counter",
    pick: (st: DLedgerReplicaStatus) => number,
  ) =>
    snapshotMetric(registry, {
      name,
      help,
      type,
      read: () => {
        const st = dl.status();
        return [{ labels: labels(st), value: pick(st) }];
      },
    });
  snapshotMetric(registry, {
    name: "tidemq_dledger_role",
    help: "1 for the Raft role this replica is in now (leader, follower, candidate, preCandidate), 0 for the others",
    type: "gauge",
    read: () => {
      const st = dl.status();
      return RAFT_ROLES.map((role) => ({ labels: { ...labels(st), role }, value: st.role === role ? 1 : 0 }));
    },
  });
  one(
    "tidemq_dledger_writable",
    "1 while this replica is the leader and takes writes (its term's no-op committed and dispatched)",
    "gauge",
    (st) => (st.writable ? 1 : 0),
  );
  one("tidemq_dledger_term", "The Raft term this replica is in", "gauge", (st) => st.term);
  one(
    "tidemq_dledger_commit_index",
    "The highest Raft index known committed",
    "gauge",
    (st) => st.commitIndex,
  );
  one(
    "tidemq_dledger_last_index",
    "The last Raft index in this replica's log",
    "gauge",
    (st) => st.lastIndex,
  );
  one(
    "tidemq_dledger_elections_total",
    "Elections this replica started (became a candidate) since the process started",
    "counter",
    (st) => st.elections,
  );
  one(
    "tidemq_dledger_leader_changes_total",
    "Times this replica saw the leader change since the process started",
    "counter",
    (st) => st.leaderChanges,
  );
  one(
    "tidemq_dledger_amnesia_recover_to_bytes",
    "> 0: the amnesia mark (dLegerLazyIndexSync after a power cut): this replica neither votes nor campaigns until its log passes this commit-log offset; 0: none",
    "gauge",
    (st) => st.amnesiaRecoverTo,
  );
  snapshotMetric(registry, {
    name: "tidemq_dledger_leader_not_writable_seconds",
    help: "Leader only, while it takes no writes yet: seconds since its election, labelled with why (term_start_uncommitted, index_sync, applying, transfer); absent otherwise",
    type: "gauge",
    read: () => {
      const st = dl.status();
      const nw = st.notWritable;
      return nw ? [{ labels: { ...labels(st), reason: nw.kind }, value: nw.ms / 1000 }] : [];
    },
  });
  snapshotMetric(registry, {
    name: "tidemq_dledger_leader_contact_age_seconds",
    help: "Seconds since the last append or heartbeat from a leader (0 on the leader; absent before any contact)",
    type: "gauge",
    read: () => {
      const st = dl.status();
      return st.leaderContactAgeMs < 0 ? [] : [{ labels: labels(st), value: st.leaderContactAgeMs / 1000 }];
    },
  });
  const perPeer = (pick: (p: DLedgerReplicaStatus["peers"][number]) => number): Sample[] => {
    const st = dl.status();
    return st.peers.map((p) => ({ labels: { ...labels(st), peer: p.id }, value: pick(p) }));
  };
  snapshotMetric(registry, {
    name: "tidemq_dledger_peer_match_index",
    help: "Leader only: the last Raft index each replica (itself included) is known to hold",
    type: "gauge",
    read: () => perPeer((p) => p.matchIndex),
  });
  snapshotMetric(registry, {
    name: "tidemq_dledger_peer_lag_entries",
    help: "Leader only: Raft entries each replica is behind the leader's last index",
    type: "gauge",
    read: () => perPeer((p) => p.lag),
  });
}
