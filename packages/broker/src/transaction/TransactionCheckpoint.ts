import { readFile } from "node:fs/promises";
import zlib from "node:zlib";
import { writeFileAtomic } from "../ConfigFile.js";
import { type ResolvedRun, STATUS_NAMES } from "./ResolvedHalves.js";
import type { HalfInfo } from "./TransactionRecords.js";

/**
 * The transaction state at one moment, so a restart reads only the half and op records
 * stored after it instead of every one still in the log (`<storeRoot>/config/
 * transactionState.json`, replaced atomically, CRC-checked). It says:
 *
 * - every half below `halfScanned` (half-queue offset) is pending (listed) or resolved;
 * - every op record below `opScanned` (op-queue offset) is reflected in it, and none above;
 * - it only covers records below `logEnd` (commit-log offset), which were flushed (and
 *   committed, in a replicated group) before the file was written, so a power cut cannot
 *   leave the file ahead of the log.
 *
 * A restart takes the pending halves from here, then replays the halves from halfScanned and
 * the op records from opScanned as a full scan would. A file that is damaged, from a newer
 * version, or ahead of the log (a truncated log) is ignored with a warning: the full scan
 * is always correct, only slower.
 */
export interface TransactionCheckpoint {
  halfScanned: number;
  opScanned: number;
  logEnd: number;
  pending: Array<{ info: HalfInfo; checks: number }>;
  /** Resolved halves still remembered (for duplicate END_TRANSACTIONs), as runs of half offsets. */
  resolved: ResolvedRun[];
}

const VERSION = 1;

/** Pending halves as rows: [queueOffset, commitLogOffset, storeTimestamp, group, realTopic, realQueueId, uniqKey, immunityMs, checks]. */
type PendingRow = [number, number, number, string, string, number, string | null, number | null, number];

interface FileBody {
  version: number;
  halfScanned: number;
  opScanned: number;
  logEnd: number;
  pending: PendingRow[];
  resolved: ResolvedRun[];
}

export function encodeCheckpoint(cp: TransactionCheckpoint): string {
  const body: FileBody = {
    version: VERSION,
    halfScanned: cp.halfScanned,
    opScanned: cp.opScanned,
    logEnd: cp.logEnd,
    pending: cp.pending.map(({ info: i, checks }) => [
      i.queueOffset,
      i.commitLogOffset,
      i.storeTimestamp,
      i.group,
      i.realTopic,
      i.realQueueId,
      i.uniqKey ?? null,
      i.immunityMs ?? null,
      checks,
    ]),
    resolved: cp.resolved,
  };
  const text = JSON.stringify(body);
  return `${JSON.stringify({ crc: zlib.crc32(text), body: text })}\n`;
}

/** The checkpoint in `text`; throws (with the reason) when it is damaged or not this version. */
export function decodeCheckpoint(text: string): TransactionCheckpoint {
  const outer = JSON.parse(text) as { crc?: unknown; body?: unknown };
  if (typeof outer.body !== "string" || typeof outer.crc !== "number")
    throw new Error("not a checkpoint file");
  if (zlib.crc32(outer.body) !== outer.crc) throw new Error("checksum mismatch (damaged)");
  const b = JSON.parse(outer.body) as FileBody;
  if (b.version !== VERSION) throw new Error(`version ${b.version}, this broker reads ${VERSION}`);
  const nat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!nat(b.halfScanned) || !nat(b.opScanned) || !nat(b.logEnd) || !Array.isArray(b.pending)) {
    throw new Error("malformed offsets");
  }
  if (!Array.isArray(b.resolved)) throw new Error("malformed resolved runs");
  const resolved: ResolvedRun[] = b.resolved.map((r) => {
    if (!Array.isArray(r) || r.length !== 3 || !nat(r[0]) || !nat(r[1]) || !STATUS_NAMES[r[2]]) {
      throw new Error("malformed resolved run");
    }
    return [r[0], r[1], r[2]];
  });
  const pending = b.pending.map((r) => {
    if (!Array.isArray(r) || r.length !== 9 || !nat(r[0]) || !nat(r[1]))
      throw new Error("malformed pending half");
    return {
      info: {
        queueOffset: r[0],
        commitLogOffset: r[1],
        storeTimestamp: r[2],
        group: r[3],
        realTopic: r[4],
        realQueueId: r[5],
        uniqKey: r[6] ?? undefined,
        immunityMs: r[7] ?? undefined,
      },
      checks: r[8],
    };
  });
  return { halfScanned: b.halfScanned, opScanned: b.opScanned, logEnd: b.logEnd, pending, resolved };
}

/** The checkpoint at `path`, undefined when there is none; throws when it cannot be used. */
export async function readCheckpoint(path: string): Promise<TransactionCheckpoint | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  return decodeCheckpoint(text);
}

export function writeCheckpoint(path: string, cp: TransactionCheckpoint): Promise<void> {
  return writeFileAtomic(path, encodeCheckpoint(cp));
}

/** Op-queue offsets written out of order kept at most (past it the checkpoint's op offset stops moving). */
const MAX_OPS_OUT_OF_ORDER = 100_000;

/**
 * Which op records the transaction service's memory reflects: every one below `applied`.
 * The service writes op records itself and applies each decision once its append completes;
 * appends may complete out of order, so `applied` moves over the unbroken run of completed
 * ones. A gap that never fills (an op record someone else wrote, e.g. replicated before a
 * role change) stops it for good, so a checkpoint never claims an op record whose effect
 * is not in memory.
 */
export class OpProgress {
  applied = 0;
  /** Appends holding op records not completed yet (a checkpoint waits for none). */
  writes = 0;
  private readonly above = new Set<number>();
  private frozen = false;

  constructor(private readonly onFrozen: (applied: number) => void) {}

  /** An op record this service wrote is stored at `queueOffset` and its effect applied. */
  written(queueOffset: number): void {
    if (this.frozen || queueOffset < this.applied) return;
    this.above.add(queueOffset);
    while (this.above.delete(this.applied)) this.applied++;
    if (this.above.size > MAX_OPS_OUT_OF_ORDER) {
      this.frozen = true;
      this.above.clear();
      this.onFrozen(this.applied);
    }
  }
}
