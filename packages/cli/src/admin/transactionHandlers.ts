/**
 * Transactional messages in `tidemq admin`: the `transactionStatus` subcommand (pending half
 * messages per broker) and the transaction part of `queryMsgById`.
 */
import { type Admin, findHalves, transactionStateOf, transactionStatus } from "@tidemq/client";
import { formatHostPort, type MessageExt } from "@tidemq/protocol";
import { addrOption } from "./args.js";
import { targetBrokers } from "./calls.js";
import { formatTable, formatTime } from "./table.js";

interface Ctx {
  admin: Admin;
  values: Record<string, string>;
}

/** `transactionStatus -b addr | -c cluster`: pending halves (count, oldest, per producer group). */
export async function transactionStatusCmd({ admin, values }: Ctx): Promise<{ text: string; json: unknown }> {
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c);
  const json: Record<string, unknown> = {};
  const rows: Array<Array<string | number>> = [];
  const now = Date.now();
  for (const addr of addrs) {
    const s = await transactionStatus(admin, addr);
    json[addr] = s;
    const oldest = s.oldestStoreTimestamp > 0 ? formatTime(s.oldestStoreTimestamp) : "-";
    const age = s.oldestStoreTimestamp > 0 ? `${Math.round((now - s.oldestStoreTimestamp) / 1000)} s` : "-";
    const groups = Object.entries(s.byGroup)
      .sort((a, b) => b[1] - a[1])
      .map(([g, n]) => `${g}:${n}`)
      .join(" ");
    rows.push([addr, s.pending, oldest, age, groups || "-"]);
  }
  const text = formatTable(
    ["#Broker Addr", "#Pending Halves", "#Oldest", "#Oldest Age", "#By Producer Group"],
    rows,
    [1],
  );
  return { text, json: addrs.length === 1 ? json[addrs[0]!] : json };
}

/**
 * The transaction lines queryMsgById prints under a message (none for a message that is not
 * transactional). A failure to ask is printed, not fatal (as the message track).
 */
export async function transactionSection(
  admin: Admin,
  m: MessageExt,
): Promise<{ text: string; json: unknown } | undefined> {
  try {
    const s = await transactionStateOf(admin, m, formatHostPort(m.storeHost));
    if (!s) return undefined;
    return { text: `Transaction: ${s.state} (${s.detail})`, json: s };
  } catch (err) {
    return {
      text: `Transaction: state unavailable: ${(err as Error).message}`,
      json: { error: (err as Error).message },
    };
  }
}

/** queryMsgById -t topic -i id when the real topic has no such message: a pending or rolled-back half. */
export async function findHalfById(admin: Admin, topic: string, id: string): Promise<MessageExt | undefined> {
  const found = await findHalves(admin, topic, id);
  return found[0]?.message;
}
