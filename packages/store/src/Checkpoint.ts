import fs from "node:fs";
import { writeFileAtomic } from "./fsx.js";
import { StoreCorruptionError } from "./StoreError.js";

/**
 * What recovery may trust. Written atomically (temp + fsync + rename) after each consume
 * queue/index persist and at shutdown.
 */
export interface CheckpointData {
  version: 1;
  /** Commit log bytes known fsynced; always a record boundary. */
  physicFlushedOffset: number;
  /** Commit log records below this have their consume-queue and index entries on disk. */
  logicsOffset: number;
  physicMsgTimestamp: number;
  logicsMsgTimestamp: number;
  indexMsgTimestamp: number;
  /** Set only by a clean shutdown: the exact end of the commit log. */
  cleanEndOffset?: number;
}

export async function readCheckpoint(path: string): Promise<CheckpointData | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const d = JSON.parse(text) as CheckpointData;
    if (
      d.version !== 1 ||
      !Number.isSafeInteger(d.physicFlushedOffset) ||
      !Number.isSafeInteger(d.logicsOffset)
    ) {
      throw new Error("unexpected fields");
    }
    return d;
  } catch (err) {
    throw new StoreCorruptionError(
      path,
      `checkpoint does not parse (${(err as Error).message}); delete it to force a full scan`,
    );
  }
}

export function writeCheckpoint(path: string, d: CheckpointData): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(d));
}
