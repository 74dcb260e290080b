import fs from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Logger } from "@tidemq/remoting";
import type { BrokerConfig } from "../BrokerConfig.js";
import { fsyncDir, writeJsonDurable } from "./RaftLogIndex.js";

/**
 * A DLedger replica whose log ends before its leader's oldest retained entry (the leader's
 * retention deleted what it still needs) resets its store: everything in the store directory
 * is moved aside into `behind-leader-<time>/` inside it — never deleted — and the replica
 * starts again empty, installing the leader's snapshot as a new replica does. Only done when
 * the snapshot covers every entry the replica committed (BehindLeaderError).
 *
 * Crash-safe: a marker names the directory first (durably); every start completes a reset a
 * marker names before opening anything (moves are renames, done again for what is left), then
 * drops the marker. Kept across the reset: the Raft term and vote (a replica never votes twice
 * in a term), and an amnesia mark at the old log's end — the old log may have held
 * acknowledged entries a candidate lacks, so the empty replica neither votes nor campaigns
 * until it holds the leader's entries past that offset (LazyIndexSync.ts).
 */

const MARKER = "store-reset.json";
const ASIDE_PREFIX = "behind-leader-";

interface ResetMarker {
  v: 1;
  /** Directory name inside the store directory. */
  aside: string;
  /** Commit-log end of the store moved aside (the amnesia mark). */
  logEnd: number;
  reason: string;
}

function paths(config: BrokerConfig): { root: string; commitLog: string } {
  const root = resolve(config.storePathRootDir);
  return { root, commitLog: resolve(config.storePathCommitLog || join(root, "commitlog")) };
}

/** Why this store cannot be moved aside by renames (undefined: it can). */
export function cannotMoveAside(config: BrokerConfig): string | undefined {
  const { root, commitLog } = paths(config);
  if (dirname(commitLog) === root || !fs.existsSync(commitLog)) return undefined;
  if (fs.statSync(commitLog).dev !== fs.statSync(root).dev) {
    return `its commit log (${commitLog}) is on another file system than its store directory (${root})`;
  }
  return undefined;
}

/**
 * Moves the store aside (the broker is stopped) and prepares the empty store; returns the
 * directory that now holds the old one.
 */
export async function moveStoreAside(
  config: BrokerConfig,
  logEnd: number,
  reason: string,
  logger: Logger,
): Promise<string> {
  const { root } = paths(config);
  const aside = `${ASIDE_PREFIX}${new Date().toISOString().replace(/[:.]/g, "-")}`;
  const marker: ResetMarker = { v: 1, aside, logEnd, reason };
  await writeJsonDurable(join(root, MARKER), marker);
  return (await finishStoreReset(config, logger))!;
}

/**
 * Completes a reset a marker names (a crash during one, or the reset just begun); returns the
 * directory holding the old store, or undefined when there is no reset to complete. Called at
 * every DLedger start before the Raft index and the store open.
 */
export async function finishStoreReset(config: BrokerConfig, logger: Logger): Promise<string | undefined> {
  const { root, commitLog } = paths(config);
  const markerPath = join(root, MARKER);
  let text: string;
  try {
    text = await fs.promises.readFile(markerPath, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const m = JSON.parse(text) as Partial<ResetMarker>;
  if (
    m.v !== 1 ||
    typeof m.aside !== "string" ||
    !m.aside.startsWith(ASIDE_PREFIX) ||
    basename(m.aside) !== m.aside ||
    !Number.isSafeInteger(m.logEnd)
  ) {
    throw new Error(`${markerPath} is not a store reset marker: ${text.slice(0, 200)}`);
  }
  const aside = join(root, m.aside);
  await fs.promises.mkdir(aside, { recursive: true });
  for (const name of await fs.promises.readdir(root)) {
    if (name === MARKER || name.startsWith(ASIDE_PREFIX)) continue;
    await fs.promises.rename(join(root, name), join(aside, name));
  }
  // A commit log configured outside the store directory (storePathCommitLog) goes with it.
  if (dirname(commitLog) !== root && fs.existsSync(commitLog)) {
    await fs.promises.rename(commitLog, join(aside, "commitlog"));
    await fsyncDir(dirname(commitLog));
  }
  await fsyncDir(aside);
  await fsyncDir(root);
  const dledger = join(root, "dledger");
  await fs.promises.mkdir(dledger, { recursive: true });
  const hs = readJson(join(aside, "dledger", "hardstate.json")) as
    | { term?: number; vote?: string }
    | undefined;
  if (hs && Number.isSafeInteger(hs.term) && typeof hs.vote === "string") {
    await writeJsonDurable(join(dledger, "hardstate.json"), { term: hs.term, vote: hs.vote, commit: 0 });
  }
  // Honoured only with fsync before ack (only then is the mark ever cleared: LazyIndexSync).
  if (config.dLegerSyncFlush && m.logEnd! > 0) {
    await writeJsonDurable(join(dledger, "amnesia.json"), {
      lazy: config.dLegerLazyIndexSync,
      recoverTo: m.logEnd,
    });
  }
  await fs.promises.rm(markerPath);
  await fsyncDir(root);
  logger.info(`dledger: store reset complete: the old store is in ${aside}, the replica starts empty`);
  return aside;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}
