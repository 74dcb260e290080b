import type { HardState } from "@tidemq/raft";
import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { RaftLogIndex } from "./RaftLogIndex.js";

/**
 * At start-up, reconciles log and index after a crash: entries whose bytes did not survive
 * go, and bytes no entry covers go (neither was acknowledged to anyone). `beforeCut` runs
 * between the two, before any log bytes are cut (the amnesia mark, LazyIndexSync.mark).
 * Returns the last entry kept and the hard state (its commit index lowered if the log lost
 * committed data).
 */
export async function reconcileLogAndIndex(
  index: RaftLogIndex,
  store: MessageStore,
  hard: HardState,
  logger: Logger,
  beforeCut: (logEnd: number, indexEnd: number) => Promise<void>,
): Promise<{ last: number; hard: HardState }> {
  let last = index.lastIndex();
  const logEnd = store.maxPhysicalOffset;
  const base = index.logBase.index;
  while (last > base && index.endOf(last) > Math.max(logEnd, index.logBase.end)) last--;
  if (last < index.lastIndex()) {
    if (last < hard.commit) {
      logger.warn(
        `dledger: commit log ends at ${logEnd}, before committed entry ${hard.commit}: the log lost committed data (unsynced writes?); this replica re-fetches it from the leader`,
      );
      hard = { ...hard, commit: last };
    }
    index.truncateFrom(last + 1);
  }
  const end = index.endOf(last);
  await beforeCut(store.maxPhysicalOffset, end);
  if (store.maxPhysicalOffset > end) {
    logger.info(
      `dledger: cutting ${store.maxPhysicalOffset - end} log bytes no Raft entry covers (from ${end})`,
    );
    await store.truncateUncommitted(end);
  }
  return { last, hard };
}
