import { addrOption, type CommandSpec, nameOption, UsageError } from "./args.js";
import { AdminCallError } from "./calls.js";
import type { AdminContext, Handler } from "./handlers.js";

/**
 * `tidemq admin addDLedgerPeer` / `removeDLedgerPeer`: single-server membership changes of a
 * DLedger group (DLedger itself has none). The leader serves them: one change at a time,
 * through the Raft log, answered once committed.
 */

const leaderOptions = [
  { short: "b", long: "brokerAddr", arg: "host:port", help: "the group's leader (broker address)" },
  {
    short: "g",
    long: "brokerName",
    arg: "broker",
    help: "the group's broker name (its leader is found in the route)",
  },
];

export const DLEDGER_MEMBERSHIP_SPECS: CommandSpec[] = [
  {
    name: "addDLedgerPeer",
    summary:
      "DLedger group: add replica -i whose Raft port is -a (start it first, empty store); it catches up from the leader's log.",
    options: [
      {
        short: "i",
        long: "selfId",
        arg: "replica",
        required: true,
        help: "the new replica's dLegerSelfId, e.g. n3",
      },
      {
        short: "a",
        long: "address",
        arg: "host:port",
        required: true,
        help: "its Raft (dLegerPeers) address",
      },
      ...leaderOptions,
    ],
    oneOf: [["b", "g"]],
    examples: ["addDLedgerPeer -g broker-a -i n3 -a 10.0.0.4:40911"],
  },
  {
    name: "removeDLedgerPeer",
    summary:
      "DLedger group: remove replica -i (e.g. a dead one); one change at a time; to remove the leader, transferLeader first.",
    options: [
      { short: "i", long: "selfId", arg: "replica", required: true, help: "the replica to remove, e.g. n0" },
      ...leaderOptions,
    ],
    oneOf: [["b", "g"]],
    examples: ["removeDLedgerPeer -g broker-a -i n0"],
  },
];

function replicaId(values: Record<string, string>): string {
  const id = values.i ?? "";
  if (!/^[A-Za-z0-9_.]+$/.test(id)) throw new UsageError(`-i must be a replica id like n3, got "${id}"`);
  return id;
}

async function leaderOf({ admin, values }: AdminContext): Promise<string> {
  const addr = addrOption(values, "b");
  if (addr) return addr;
  const name = nameOption(values, "g", "broker name");
  const leader = (await admin.getClusterInfo()).brokerAddrTable[name]?.brokerAddrs?.["0"];
  if (!leader) throw new AdminCallError(`broker group ${name} has no leader registered (brokerId 0)`);
  return leader;
}

const addDLedgerPeer: Handler = async (ctx) => {
  const selfId = replicaId(ctx.values);
  const address = addrOption(ctx.values, "a");
  if (!address) throw new UsageError("missing option -a (the new replica's Raft host:port)");
  const leaderAddr = await leaderOf(ctx);
  const remark = await ctx.admin.addDLedgerPeer(leaderAddr, selfId, address);
  return { text: `${remark} (leader ${leaderAddr})`, json: { leaderAddr, selfId, address, remark } };
};

const removeDLedgerPeer: Handler = async (ctx) => {
  const selfId = replicaId(ctx.values);
  const leaderAddr = await leaderOf(ctx);
  const remark = await ctx.admin.removeDLedgerPeer(leaderAddr, selfId);
  return { text: `${remark} (leader ${leaderAddr})`, json: { leaderAddr, selfId, remark } };
};

export const DLEDGER_MEMBERSHIP_HANDLERS: Record<string, Handler> = { addDLedgerPeer, removeDLedgerPeer };
