import type { Logger } from "@tidemq/remoting";
import type { MessageStore } from "@tidemq/store";
import type { DuplicateWindow } from "./DuplicateWindow.js";
import { followerIndex } from "./DuplicateWindow.js";
import { readWindowSnapshot, removeWindowSnapshot } from "./WindowSnapshot.js";

/** Only producers' own topics: retry and DLQ copies legitimately repeat a UNIQ_KEY. */
export function tracked(topic: string): boolean {
  return topic.charCodeAt(0) !== 37; // "%": %RETRY%<group>, %DLQ%<group>
}

/** What rebuild() loaded. */
export interface RebuildReport {
  /** Entries loaded from the snapshot. */
  snapshot: number;
  /** Snapshot entries dropped because the recovered log no longer holds their record. */
  dropped: number;
  /** Records read from the log. */
  records: number;
  /** Window entries after the rebuild. */
  kept: number;
  scannedBytes: number;
  ms: number;
}

/** What loadWindow() reads the log through. */
export type RebuildStore = Pick<
  MessageStore,
  "offsetSince" | "forEachRecordFields" | "confirmedPhysicalOffset" | "commitLogMinOffset"
> &
  Partial<Pick<MessageStore, "visibleOffset">>;

/**
 * Loads the window at start-up (before any send): from the snapshot (snapshotPath) if
 * there is a usable one, then from the commit log past what the snapshot covers, reading
 * only each record's dispatch fields. Without a snapshot, the log's tail covering the
 * window (at most rebuildMaxBytes). Entries whose record the recovered log does not hold
 * (a crash cut the log below what the snapshot covered, or retention removed it) are
 * dropped, and so are entries older than the window. Logs what it read and how long it took.
 */
export async function loadWindow(
  window: DuplicateWindow,
  o: {
    windowSeconds: number;
    rebuildMaxBytes: number;
    snapshotPath?: string | undefined;
    logger: Logger;
  },
  store: RebuildStore,
  now: number,
): Promise<{ report: RebuildReport; scannedTo: number; committedSeenTo: number }> {
  const windowMs = o.windowSeconds * 1000;
  const t0 = performance.now();
  const since = now - windowMs;
  // Only committed records: under DLedger the log past the commit index (visibleOffset) may be
  // an uncommitted tail that this replica takes back when it rejoins the group. An entry for
  // a taken-back record would outlive it and be found before the entry of the same key's
  // committed copy (lookups answer with the oldest), read back as whatever record holds that
  // offset then and miss: the resend was stored twice (since then a miss goes on to the
  // younger entry, DuplicateDetector.resolve(), so it costs a read-back). A store without a
  // commit gate (classic master or slave) sees its whole confirmed log.
  const logEnd = store.visibleOffset ?? store.confirmedPhysicalOffset;
  const logStart = store.commitLogMinOffset;
  let from = await store.offsetSince(since, o.rebuildMaxBytes);
  const report: RebuildReport = { snapshot: 0, dropped: 0, records: 0, kept: 0, scannedBytes: 0, ms: 0 };
  const path = o.snapshotPath;
  let snapshotNote = "no snapshot";
  if (path !== undefined) {
    // Entries are added as the file is read, filtered by the log's recovered end (known
    // now) and the covered offset (known once the header is read: it is read first).
    let covered = Number.POSITIVE_INFINITY;
    // Entries just added in a row: a batch's follower is kept when its lead, `index`
    // entries back in the file (consecutive ring entries), was, and stays that far back.
    let run = 0;
    const snap = await readWindowSnapshot(
      path,
      (words, nums, n) => {
        // Records past the recovered end were lost (kill -9, power cut): their keys must
        // not answer, and new records will take their offsets.
        const end = Math.min(covered, logEnd);
        for (let k = 0; k < n; k++) {
          const offset = nums[3 * k + 1]!;
          const at = nums[3 * k + 2]!;
          const index = followerIndex(offset);
          if (index > 0) {
            // Its record follows its lead's (a lost one is caught when a match is read back).
            if (index > run || at < since) {
              run = 0;
              continue;
            }
          } else if (offset < 0 || at < since) {
            // < 0: its store had not ended (or failed) when the snapshot was taken.
            run = 0;
            continue;
          } else if (offset >= end || offset < logStart) {
            // At or past the covered offset (read from the log below), or lost.
            if (offset < covered) report.dropped++;
            run = 0;
            continue;
          }
          window.add(words[6 * k]!, words[6 * k + 1]!, offset, at);
          report.snapshot++;
          run++;
        }
      },
      (header) => {
        covered = header.covered;
      },
    );
    if (typeof snap === "string") {
      snapshotNote = `snapshot ignored: ${snap}`;
      o.logger.warn(`duplicate detection: ${path} ${snapshotNote}; reading the log's tail instead`);
    } else if (snap !== undefined) {
      const end = Math.min(snap.covered, logEnd);
      if (end > from) from = end;
      snapshotNote = `${report.snapshot} from the snapshot`;
      if (snap.covered > logEnd) {
        // The log was cut below what the snapshot covers: once new records fill those
        // offsets again the file could no longer tell lost keys from stored ones. Gone
        // before the first send; the next snapshot replaces it.
        await removeWindowSnapshot(path);
        snapshotNote += ` (it covered the log up to ${snap.covered}, recovery kept ${logEnd}: ${report.dropped} keys of lost records dropped)`;
      }
    }
  }
  let oldest = Number.POSITIVE_INFINITY;
  if (from < logEnd) {
    await store.forEachRecordFields(from, logEnd, (offset, f) => {
      report.records++;
      const ts = f.storeTimestamp;
      if (ts < oldest) oldest = ts;
      const uniq = f.uniq;
      if (uniq === undefined || ts < since || !tracked(f.topic)) return;
      window.addUniq(f.topic, uniq, offset, ts);
    });
    report.scannedBytes = logEnd - from;
  }
  report.kept = window.size;
  report.ms = Math.round(performance.now() - t0);
  const mib = (report.scannedBytes / 1024 / 1024).toFixed(1);
  // The byte bound cut the window short: say how far back resends are recognised.
  const cut = report.snapshot === 0 && report.scannedBytes >= o.rebuildMaxBytes && oldest > since;
  const log = cut ? o.logger.warn.bind(o.logger) : o.logger.info.bind(o.logger);
  log(
    `duplicate detection: ${window.size} recent sends loaded (${snapshotNote}; ${report.records} records, ${mib} MiB of log read) in ${report.ms} ms` +
      (cut
        ? `; the last ${mib} MiB of log (duplicateRebuildMaxBytes) cover only ${Math.round((now - oldest) / 1000)} s of the ${o.windowSeconds} s window until it refills`
        : ""),
  );
  // Records below logEnd are final (committed under DLedger): a catch-up at an election need
  // not read them again.
  return { report, scannedTo: logEnd, committedSeenTo: store.visibleOffset === undefined ? 0 : logEnd };
}

/**
 * A new DLedger leader's catch-up (DuplicateDetector.catchUp): the committed log's records
 * from `seenTo` (or the window's start, bounded like the start-up rebuild) to the visible
 * offset, entered into the window. Logs what it read; `to` is where it read up to.
 */
export async function catchUpWindow(
  window: DuplicateWindow,
  o: { windowSeconds: number; rebuildMaxBytes: number; logger: Logger },
  store: Pick<MessageStore, "offsetSince" | "forEachRecordFields" | "visibleOffset">,
  seenTo: number,
): Promise<{
  records: number;
  added: number;
  scannedBytes: number;
  ms: number;
  to: number;
  /** Log within the window the byte bound left unread (not in the window). */
  missedBytes: number;
}> {
  const t0 = performance.now();
  const since = Date.now() - o.windowSeconds * 1000;
  const to = store.visibleOffset;
  const from = Math.max(seenTo, await store.offsetSince(since, o.rebuildMaxBytes));
  // The byte bound may leave out records of the window this replica never read (it was a
  // follower for more than duplicateRebuildMaxBytes of log): resends of those are stored
  // again, so say so, as the start-up load does.
  const missedFrom = from > seenTo ? Math.max(seenTo, await store.offsetSince(since)) : from;
  let records = 0;
  let added = 0;
  let oldest = Number.POSITIVE_INFINITY;
  if (from < to) {
    await store.forEachRecordFields(from, to, (offset, f) => {
      records++;
      const ts = f.storeTimestamp;
      if (ts < oldest) oldest = ts;
      const uniq = f.uniq;
      if (uniq === undefined || ts < since || !tracked(f.topic)) return;
      window.addUniq(f.topic, uniq, offset, ts);
      added++;
    });
  }
  const ms = Math.round(performance.now() - t0);
  const scannedBytes = Math.max(0, to - from);
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  const line = `duplicate detection: leader catch-up: ${added} sends from the log entered (${records} records, ${mib(scannedBytes)} MiB read) in ${ms} ms; sends waited for it`;
  if (missedFrom < from) {
    const reach = oldest === Number.POSITIVE_INFINITY ? 0 : Math.round((Date.now() - oldest) / 1000);
    o.logger.warn(
      `${line}; ${mib(from - missedFrom)} MiB of log within the ${o.windowSeconds} s window were not read (duplicateRebuildMaxBytes ${o.rebuildMaxBytes}): resends of sends older than ${reach} s are stored again until the window refills`,
    );
  } else {
    o.logger.info(line);
  }
  return { records, added, scannedBytes, ms, to, missedBytes: from - missedFrom };
}
