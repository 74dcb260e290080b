import { decodeMessage, MessageSysFlag, type TransactionStatusBody, transactionType } from "@tidemq/protocol";
import type { BrokerContext } from "../context.js";
import { TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from "../TopicValidator.js";
import type { Checkpointer } from "./Checkpointer.js";
import { type LogFact, replay } from "./HalfLifecycle.js";
import { type HalfTable, Pending } from "./HalfTable.js";
import { RESOLVED_REMEMBERED, ResolvedHalves } from "./ResolvedHalves.js";
import { type HalfInfo, halfInfoOf, opOf, opRecords } from "./TransactionRecords.js";

/**
 * Rebuilds the transaction state at start: the checkpoint (if usable), then the half and op
 * records after it, replayed through the HalfLifecycle machine. Half and op records are
 * ordinary log records, so this survives restarts and kill -9 and replicates with the log.
 * Returns what the start-up read, for the status report.
 */
export async function rebuildFromLog(
  ctx: BrokerContext,
  table: HalfTable,
  checkpoints: Checkpointer,
): Promise<TransactionStatusBody["startup"]> {
  const t0 = performance.now();
  let halvesRead = 0;
  let opsRead = 0;
  const facts: LogFact[] = [];
  const infos = new Map<number, HalfInfo>();
  const cp = await checkpoints.load();
  const cpResolved = new ResolvedHalves(RESOLVED_REMEMBERED);
  cpResolved.addRuns(cp?.resolved ?? []);
  for (const { info, checks } of cp?.pending ?? []) {
    infos.set(info.queueOffset, info);
    facts.push({ kind: "half", half: info.queueOffset });
    for (let i = 0; i < checks; i++) facts.push({ kind: "op", half: info.queueOffset, op: "check" });
  }
  table.halfScanned = await table.scan(TRANS_HALF_TOPIC, cp?.halfScanned ?? 0, (m) => {
    halvesRead++;
    const info = halfInfoOf(m);
    if (!info || cpResolved.has(info.queueOffset) || infos.has(info.queueOffset)) return;
    infos.set(info.queueOffset, info);
    facts.push({ kind: "half", half: info.queueOffset });
  });
  table.ops.applied = await table.scan(TRANS_OP_HALF_TOPIC, cp?.opScanned ?? 0, (m) => {
    opsRead++;
    const op = opOf(m);
    if (op) for (const half of op.halves) facts.push({ kind: "op", half, op: op.op });
  });
  // A commit whose op record was torn away (power loss) left its copy: find it by id.
  const states0 = replay(facts);
  const repaired: number[] = [];
  for (const [offset, s] of states0) {
    if (s.status !== "pending") continue;
    const info = infos.get(offset);
    if (info && (await copyExists(ctx, info))) {
      facts.push({ kind: "copy", half: offset });
      repaired.push(offset);
    }
  }
  const states = repaired.length > 0 ? replay(facts) : states0;
  if (repaired.length > 0) {
    const now = Date.now();
    await table.putRecords(opRecords(repaired, "commit", table.host, now));
    ctx.logger.warn(
      `transactions: ${repaired.length} committed half message(s) had no op record (torn write); op records written`,
    );
  }
  for (const [offset, status] of cpResolved.entries()) table.remember(offset, status);
  for (const [offset, state] of states) {
    const info = infos.get(offset);
    if (state.status === "pending" && info) table.pending.set(offset, Pending.of(info, state));
    else table.remember(offset, state.status);
  }
  if (table.pending.size > 0) {
    ctx.logger.info(`transactions: ${table.pending.size} half message(s) pending after start`);
  }
  checkpoints.onDisk(cp);
  const ms = Math.round(performance.now() - t0);
  ctx.logger.info(
    `transactions: state rebuilt in ${ms} ms from ${cp ? "the checkpoint and " : ""}${halvesRead} half and ${opsRead} op record(s)`,
  );
  return { fromCheckpoint: cp !== undefined, halvesRead, opsRead, ms };
}

/** Whether a COMMIT copy of this half is in its real topic (looked up by UNIQ_KEY). */
async function copyExists(ctx: BrokerContext, info: HalfInfo): Promise<boolean> {
  if (!info.uniqKey) return false;
  const found = await ctx.store.queryMessage(
    info.realTopic,
    info.uniqKey,
    32,
    info.storeTimestamp - 1,
    Number.MAX_SAFE_INTEGER,
  );
  for (const rec of found.messages) {
    const m = decodeMessage(rec, 0, { headersOnly: true });
    if (
      transactionType(m.sysFlag) === MessageSysFlag.TRANSACTION_COMMIT_TYPE &&
      m.preparedTransactionOffset === info.commitLogOffset
    ) {
      return true;
    }
  }
  return false;
}
