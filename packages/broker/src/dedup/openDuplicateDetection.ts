import { join } from "node:path";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { BrokerConfig } from "../BrokerConfig.js";
import { DuplicateDetector } from "./DuplicateDetector.js";
import { removeWindowSnapshot } from "./WindowSnapshot.js";

/** The window's snapshot file in a store directory. */
export function windowSnapshotPath(storePathRootDir: string): string {
  return join(storePathRootDir, "duplicateWindow");
}

/**
 * The broker's duplicate detector (duplicateDetectionEnable), loaded and started, or
 * undefined when off.
 *
 * Only a broker that writes its log from sends (a classic master) snapshots its window:
 * every record below a snapshot's covered offset must have passed through the window. A
 * slave or a DLedger replica gets records by replication, which the window never sees, and
 * a Raft follower's uncommitted tail can be taken back, so those rebuild from the log at
 * every start (reading only each record's dispatch fields, and only the committed part: up
 * to the store's visible offset), and a snapshot left by an earlier role is removed before
 * anything could trust it. A DLedger replica catches up on what it got as a follower when it
 * becomes the leader (DuplicateDetector.catchUp); a classic slave becomes a master only by a
 * restart, whose load reads its log.
 */
export async function openDuplicateDetection(
  config: BrokerConfig,
  store: MessageStore,
  logger: Logger,
  writesFromSends: boolean,
): Promise<DuplicateDetector | undefined> {
  if (!config.duplicateDetectionEnable) return undefined;
  const path = windowSnapshotPath(config.storePathRootDir);
  if (!writesFromSends) await removeWindowSnapshot(path);
  const dedup = new DuplicateDetector({
    windowSeconds: config.duplicateWindowSeconds,
    maxEntries: config.duplicateWindowMaxEntries,
    rebuildMaxBytes: config.duplicateRebuildMaxBytes,
    store,
    logger,
    ...(writesFromSends
      ? {
          snapshotPath: path,
          snapshotIntervalMs: config.duplicateSnapshotIntervalSeconds * 1000,
          coveredOffset: () => store.stats.commitLogMaxOffset,
        }
      : {}),
  });
  await dedup.rebuild(store);
  dedup.start();
  return dedup;
}
