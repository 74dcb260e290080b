/**
 * Timer messages in `tidemq admin`: the timerStatus subcommand and the due-time lines that
 * queryMsgById prints for a timer message.
 */

import { addrOption } from "./args.js";
import { targetBrokers } from "./calls.js";
import type { AdminContext, Output } from "./handlers.js";
import type { MessageJson } from "./messageView.js";
import { type Cell, formatKeyValues, formatTable, formatTime } from "./table.js";

/** The system topic timer messages wait in. */
const TIMER_TOPIC = "rmq_sys_wheel_timer";

/** timerStatus: pending timer messages per broker, by due day, and the next due time. */
export async function timerStatus({ admin, values }: AdminContext): Promise<Output> {
  const addrs = await targetBrokers(admin, addrOption(values, "b"), values.c);
  const json: Record<string, unknown> = {};
  const blocks: string[] = [];
  for (const addr of addrs) {
    const s = await admin.getTimerStatus(addr);
    json[addr] = s;
    const head = formatKeyValues([
      ["Broker", addr],
      ["Pending", s.pending],
      ["Next Due", s.nextDueMs === undefined ? "(none within 2 days)" : formatTime(s.nextDueMs)],
      ["Loaded In Memory", s.loadedInMemory],
      ["Loaded Up To", formatTime(s.loadedUpToMs)],
      ["Enqueue Behind", s.enqueueBehind],
      ["Delivered", s.delivered],
      ["Timer Log Bytes", s.timerLogBytes],
      ["timerMaxDelaySec", s.timerMaxDelaySec],
      // Brokers from before these counters send none: shown as "-".
      ["Superseded Rolls", s.supersededRolls ?? "-"],
      ["Skipped Delivered", s.skippedDelivered ?? "-"],
    ]);
    const rows: Cell[][] = s.days.map((d) => [d.day, d.count]);
    blocks.push(
      rows.length > 0 ? `${head}\n${formatTable(["#Due Day (UTC)", "#Pending"], rows, [1])}` : head,
    );
  }
  return { text: blocks.join("\n\n"), json: values.c !== undefined ? json : json[addrs[0]!] };
}

/**
 * queryMsgById lines for a timer message: its due time, and whether the record shown is the
 * one waiting in the timer topic, the delivered copy, or a recall marker.
 */
export function timerDueFields(m: MessageJson): Array<[string, string]> {
  const due = Number(m.properties.TIMER_OUT_MS);
  if (!Number.isFinite(due)) return [];
  if (m.properties.TIMER_DEL_UNIQKEY !== undefined) {
    return [["Timer Recall", `of ${m.properties.TIMER_DEL_UNIQKEY} due ${formatTime(due)}`]];
  }
  const where =
    m.topic === TIMER_TOPIC
      ? `timer message for ${m.properties.REAL_TOPIC ?? "?"} queue ${m.properties.REAL_QID ?? "?"}; delivered as a new record at that time unless recalled`
      : "delivered timer message";
  return [["Timer Due", `${formatTime(due)} (${where})`]];
}
