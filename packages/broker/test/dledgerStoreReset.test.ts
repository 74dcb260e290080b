import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { type BrokerConfig, DEFAULT_BROKER_CONFIG } from "../src/BrokerConfig.js";
import { RaftLogIndex } from "../src/dledger/RaftLogIndex.js";
import { cannotMoveAside, finishStoreReset, moveStoreAside } from "../src/dledger/StoreReset.js";
import { cleanupsAfterAll, removeDir, tempDir } from "./helpers.js";

/*
 * StoreReset: a DLedger replica left behind its leader's retention moves its store aside
 * (renames, never a delete) and starts empty, keeping its Raft term and vote and an amnesia
 * mark at its old log's end; a reset cut short by a crash is completed at the next start.
 */

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-store-reset-test", "error");

async function store(extra: Partial<BrokerConfig> = {}): Promise<{ root: string; config: BrokerConfig }> {
  const dir = await tempDir("dlreset");
  cleanups.push(() => removeDir(dir));
  const root = join(dir, "store");
  const w = (path: string, text: string) => {
    fs.mkdirSync(join(path, ".."), { recursive: true });
    fs.writeFileSync(path, text);
  };
  w(join(root, "commitlog", "00000000000000000000"), "log bytes");
  w(join(root, "consumequeue", "T", "0", "00000000000000000000"), "cq");
  w(join(root, "config", "topics.json"), "{}");
  w(join(root, "checkpoint"), "{}");
  w(join(root, "dledger", "index"), "");
  w(join(root, "dledger", "hardstate.json"), JSON.stringify({ term: 7, vote: "n2", commit: 40 }));
  w(join(root, "dledger", "base.json"), JSON.stringify({ index: 3, term: 1, end: 100 }));
  w(join(root, "behind-leader-earlier", "commitlog", "00000000000000000000"), "an earlier reset's");
  const config: BrokerConfig = {
    ...DEFAULT_BROKER_CONFIG,
    storePathRootDir: root,
    storePathCommitLog: join(root, "commitlog"),
    enableDLegerCommitLog: true,
    ...extra,
  };
  return { root, config };
}

test("a reset moves every part of the store aside into one dated directory (nothing deleted) and leaves an empty replica with its term and vote and an amnesia mark at the old log's end", async () => {
  const { root, config } = await store();
  assert.equal(cannotMoveAside(config), undefined);
  const aside = await moveStoreAside(config, 5000, "behind", logger);
  assert.match(aside, /behind-leader-\d{4}-\d\d-\d\dT/);
  assert.deepEqual(
    fs.readdirSync(root).sort(),
    ["behind-leader-earlier", join(aside).slice(root.length + 1), "dledger"].sort(),
  );
  assert.deepEqual(fs.readdirSync(aside).sort(), [
    "checkpoint",
    "commitlog",
    "config",
    "consumequeue",
    "dledger",
  ]);
  assert.equal(fs.readFileSync(join(aside, "commitlog", "00000000000000000000"), "utf8"), "log bytes");
  assert.equal(
    fs.readFileSync(join(root, "behind-leader-earlier", "commitlog", "00000000000000000000"), "utf8"),
    "an earlier reset's",
  );
  assert.deepEqual(fs.readdirSync(join(root, "dledger")).sort(), ["amnesia.json", "hardstate.json"]);
  // What the replica opens: term and vote kept, nothing committed, the mark at the old end.
  const ix = RaftLogIndex.open(join(root, "dledger"), ["n0", "n1", "n2"], join(root, "commitlog"));
  cleanups.push(async () => ix.close());
  assert.deepEqual(ix.hardState, { term: 7, vote: "n2", commit: 0 });
  assert.deepEqual(ix.logBase, { index: 0, term: 0, end: 0 });
  assert.equal(ix.lastIndex(), 0);
  assert.deepEqual(ix.amnesia, { lazy: false, recoverTo: 5000 });
  assert.equal(await finishStoreReset(config, logger), undefined, "nothing left to do");
});

test("a reset cut short by a crash is completed at the next start, whatever was moved already", async () => {
  const { root, config } = await store();
  // The marker is written, then the crash came after two of the renames.
  const aside = "behind-leader-2026-01-01T00-00-00-000Z";
  fs.writeFileSync(
    join(root, "store-reset.json"),
    JSON.stringify({ v: 1, aside, logEnd: 9, reason: "behind" }),
  );
  fs.mkdirSync(join(root, aside));
  fs.renameSync(join(root, "dledger"), join(root, aside, "dledger"));
  fs.renameSync(join(root, "config"), join(root, aside, "config"));
  assert.equal(await finishStoreReset(config, logger), join(root, aside));
  assert.deepEqual(fs.readdirSync(join(root, aside)).sort(), [
    "checkpoint",
    "commitlog",
    "config",
    "consumequeue",
    "dledger",
  ]);
  assert.ok(!fs.existsSync(join(root, "store-reset.json")));
  assert.deepEqual(JSON.parse(fs.readFileSync(join(root, "dledger", "hardstate.json"), "utf8")), {
    term: 7,
    vote: "n2",
    commit: 0,
  });
});

test("a commit log configured outside the store directory goes aside with it; a marker that is not one is refused", async () => {
  const { root, config } = await store();
  const outside = join(root, "..", "cl-elsewhere");
  fs.renameSync(join(root, "commitlog"), outside);
  const cfg = { ...config, storePathCommitLog: outside };
  assert.equal(cannotMoveAside(cfg), undefined, "same file system");
  const aside = await moveStoreAside(cfg, 10, "behind", logger);
  assert.ok(!fs.existsSync(outside));
  assert.equal(fs.readFileSync(join(aside, "commitlog", "00000000000000000000"), "utf8"), "log bytes");

  fs.writeFileSync(join(root, "store-reset.json"), JSON.stringify({ v: 1, aside: "../../etc", logEnd: 1 }));
  await assert.rejects(finishStoreReset(cfg, logger), /is not a store reset marker/);
});
