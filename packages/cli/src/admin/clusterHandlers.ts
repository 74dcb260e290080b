/**
 * The cluster in `tidemq admin`: clusterList (every broker of every cluster, with the Raft
 * columns of DLedger groups) and transferLeader (hand a DLedger group's leadership to a replica).
 * DLedger membership changes live in dledgerMembership.ts.
 */
import { addrOption, nameOption } from "./args.js";
import { AdminCallError } from "./calls.js";
import type { Handler } from "./handlers.js";
import { formatTable } from "./table.js";
import {
  type BrokerRow,
  brokerRow,
  CLUSTER_HEADERS,
  CLUSTER_MORE_HEADERS,
  clusterCells,
  DLEDGER_HEADERS,
  DLEDGER_NOTE_HEADER,
  dledgerCells,
  dledgerNote,
  fillDLedgerLag,
} from "./views.js";

export const clusterList: Handler = async ({ admin, values }) => {
  const info = await admin.getClusterInfo();
  const more = values.m === "true";
  const only = values.c;
  const clusters = Object.keys(info.clusterAddrTable).sort();
  if (only && !clusters.includes(only)) {
    throw new AdminCallError(
      `cluster ${only} is unknown to the NameServer (clusters: ${clusters.join(", ") || "none"})`,
    );
  }
  const rows: BrokerRow[] = [];
  const tables = new Map<string, Record<string, string>>();
  for (const cluster of clusters) {
    if (only && cluster !== only) continue;
    for (const brokerName of [...(info.clusterAddrTable[cluster] ?? [])].sort()) {
      const addrs = info.brokerAddrTable[brokerName]?.brokerAddrs ?? {};
      for (const id of Object.keys(addrs).sort((a, b) => Number(a) - Number(b))) {
        const where = { cluster, brokerName, brokerId: Number(id), addr: addrs[id]! };
        try {
          const table = await admin.getBrokerRuntimeInfo(where.addr);
          tables.set(where.addr, table);
          rows.push(brokerRow(where, table, Date.now()));
        } catch (err) {
          rows.push(brokerRow(where, undefined, Date.now(), (err as Error).message));
        }
      }
    }
  }
  fillDLedgerLag(rows, tables);
  // DLedger groups: role, term, commit index and lag per replica as extra columns.
  const withRaft = rows.some((r) => r.dledger);
  const base = more ? [...CLUSTER_HEADERS, ...CLUSTER_MORE_HEADERS] : CLUSTER_HEADERS;
  const withNote = rows.some((r) => dledgerNote(r) !== "");
  const raftHeaders = withNote ? [...DLEDGER_HEADERS, DLEDGER_NOTE_HEADER] : DLEDGER_HEADERS;
  const headers = withRaft ? [...base, ...raftHeaders] : base;
  const raftCells = (r: BrokerRow) => (withNote ? [...dledgerCells(r), dledgerNote(r)] : dledgerCells(r));
  return {
    text: formatTable(
      headers,
      rows.map((r) => (withRaft ? [...clusterCells(r, more), ...raftCells(r)] : clusterCells(r, more))),
      [7, 8, 9, 10, 11, 12, 13],
    ),
    json: rows,
  };
};

export const transferLeader: Handler = async ({ admin, values }) => {
  const selfId = nameOption(values, "i", "replica id");
  let leaderAddr = addrOption(values, "b");
  if (!leaderAddr) {
    const name = nameOption(values, "g", "broker name");
    leaderAddr = (await admin.getClusterInfo()).brokerAddrTable[name]?.brokerAddrs?.["0"];
    if (!leaderAddr) throw new AdminCallError(`broker group ${name} has no leader registered (brokerId 0)`);
  }
  const remark = await admin.transferDLedgerLeader(leaderAddr, selfId);
  return {
    text: `${remark || `leadership transfer to ${selfId} started`} (leader was ${leaderAddr}); the new leader registers as brokerId 0 once it takes writes`,
    json: { leaderAddr, selfId, remark },
  };
};
