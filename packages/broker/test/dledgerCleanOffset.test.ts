import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createLogger } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import { decodeMetadataRecord, encodeMetadataRecord, OffsetChanges } from "../src/dledger/MetadataRecord.js";
import { ReplicatedMetadata } from "../src/dledger/ReplicatedMetadata.js";
import { defaultSubscriptionGroupConfig } from "../src/SubscriptionGroupManager.js";
import { cleanupsAfterAll, eventually, removeDir, replicaManagers, tempDir } from "./helpers.js";

const cleanups = cleanupsAfterAll();
const logger = createLogger("dledger-clean-offset-test", "error");

test("groupDelete records carry cleanOffset; a dropped group's pending offset changes are forgotten", () => {
  const r = decodeMetadataRecord(
    encodeMetadataRecord({
      v: 1,
      origin: "n0:x",
      changes: [{ t: "groupDelete", group: "G", cleanOffset: true }],
    }),
  );
  assert.deepEqual(r.changes, [{ t: "groupDelete", group: "G", cleanOffset: true }]);
  const oc = new OffsetChanges();
  oc.note("G", "T", 0, 5);
  oc.note("H", "T", 0, 6);
  oc.dropGroup("G");
  assert.deepEqual(oc.take(), [["H", "T", 0, 6]]);
});

test("a group deleted with cleanOffset on the leader loses its offsets on every replica, through the log (also when re-applied from the start); other groups keep theirs", async () => {
  const dir = await tempDir("dlclean");
  cleanups.push(() => removeDir(dir));
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: 1024 * 1024,
    storeHost: { host: "127.0.0.1", port: 1 },
    logger,
  });
  cleanups.push(() => store.shutdown());
  // Two replicas' metadata over one log (the log is what replication makes identical).
  const a = await replicaManagers(join(dir, "a"), logger);
  const b = await replicaManagers(join(dir, "b"), logger);
  const ra = new ReplicatedMetadata(store, logger, "n0", a.configDir, a.topics, a.groups, a.offsets);
  const rb = new ReplicatedMetadata(store, logger, "n1", b.configDir, b.topics, b.groups, b.offsets);
  await ra.start();
  await rb.start();
  ra.startLeading();
  await a.groups.upsert(defaultSubscriptionGroupConfig("Gone"));
  await a.groups.upsert(defaultSubscriptionGroupConfig("Kept"));
  for (let q = 0; q < 4; q++) {
    a.offsets.commit("Gone", "T", q, 10 + q);
    a.offsets.commit("Kept", "T", q, 20 + q);
  }
  await ra.flush();
  await eventually(() => b.offsets.query("Gone", "T", 3) === 13, "the follower has the offsets");

  // A commit noted but not yet written when the delete comes must not bring the group back.
  a.offsets.commit("Gone", "T", 0, 99);
  await a.groups.delete("Gone", true);
  await ra.flush();
  assert.equal(a.offsets.table("Gone", "T").size, 0);
  const expectState = (m: Awaited<ReturnType<typeof replicaManagers>>) => {
    assert.equal(m.groups.get("Gone"), undefined);
    assert.equal(m.offsets.table("Gone", "T").size, 0, "the deleted group's offsets are gone");
    assert.equal(m.offsets.query("Kept", "T", 3), 23);
  };
  await rb.caughtUp();
  expectState(b);

  // A group whose config is already gone still has its offsets dropped on every replica.
  a.offsets.commit("Orphan", "T", 0, 7);
  await ra.flush();
  await eventually(() => b.offsets.query("Orphan", "T", 0) === 7, "the follower has the orphan's offset");
  await a.groups.delete("Orphan", true);
  await rb.caughtUp();
  assert.equal(b.offsets.table("Orphan", "T").size, 0);
  await ra.stop();
  await rb.stop();

  // A replica that applies the whole log again ends in the same state.
  await rm(join(b.configDir, "dledgerMetadata.json"));
  const b2 = await replicaManagers(join(dir, "b2"), logger);
  const r2 = new ReplicatedMetadata(store, logger, "n1", b2.configDir, b2.topics, b2.groups, b2.offsets);
  await r2.start();
  await r2.caughtUp();
  expectState(b2);
  assert.equal(b2.offsets.table("Orphan", "T").size, 0);
  await r2.stop();
});
