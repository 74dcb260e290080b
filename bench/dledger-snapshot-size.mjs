#!/usr/bin/env node
// How big a DLedger InstallSnapshot's metadata gets, and what installing it costs. The leader
// sends every topic, subscription group and consumer offset (ReplicatedMetadata.snapshotState)
// as one JSON payload in one Raft frame (RaftTransport's MAX_FRAME, 256 MiB); the follower
// applies it change by change (ReplicatedMetadata.installSnapshot). This builds that state on
// a real leader-side ReplicatedMetadata (real store and managers in a temp dir), measures the
// encoded payload, then installs it into a fresh replica's and times it.
//
// Usage: node bench/dledger-snapshot-size.mjs [--topics 10000] [--groups 1000]
//        [--topics-per-group 10] [--queues 8] [--no-install] [--per-change] [--dir DIR]
//   --per-change: also installs it the way it was before one write per table (each change
//   applied as a log record's, one persist each), into a third replica, for the ratio.
//   Offsets: each group has one on every queue of --topics-per-group topics.
//   Needs a build: npx tsc -b
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const TOPICS = Number(arg("--topics", "10000"));
const GROUPS = Number(arg("--groups", "1000"));
const PER_GROUP = Number(arg("--topics-per-group", "10"));
const QUEUES = Number(arg("--queues", "8"));
const INSTALL = !argv.includes("--no-install");
const PER_CHANGE = argv.includes("--per-change");
const root = fs.mkdtempSync(path.join(arg("--dir", os.tmpdir()), "tidemq-snapsize-"));

const dist = new URL("../packages/broker/dist/src/", import.meta.url);
const load = (p) => import(new URL(p, dist).href);
const { MessageStore } = await import(new URL("../packages/store/dist/src/index.js", import.meta.url).href);
const { createLogger } = await import(
  new URL("../packages/remoting/dist/src/index.js", import.meta.url).href
);
const { loadBrokerConfig } = await load("loadBrokerConfig.js");
const { TopicConfigManager, newTopicConfig } = await load("TopicConfigManager.js");
const { SubscriptionGroupManager, defaultSubscriptionGroupConfig } = await load(
  "SubscriptionGroupManager.js",
);
const { ConsumerOffsetManager } = await load("ConsumerOffsetManager.js");
const { ReplicatedMetadata } = await load("dledger/ReplicatedMetadata.js");
const { encodeSnapshotPayload, decodeSnapshotPayload } = await load("dledger/SnapshotInstall.js");

const logger = createLogger("snapsize", "error");

async function replica(name) {
  const dir = path.join(root, name);
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      brokerName: "b",
      brokerIP1: "127.0.0.1",
      listenPort: 0,
      storePathRootDir: dir,
      storePathCommitLog: path.join(dir, "commitlog"),
      mappedFileSizeCommitLog: 8 * 1024 * 1024,
    },
  });
  const configDir = path.join(dir, "config");
  const store = await MessageStore.open({
    storePathRootDir: path.join(dir, "store"),
    mappedFileSizeCommitLog: 8 * 1024 * 1024,
    storeHost: { host: "127.0.0.1", port: 1 },
    logger,
  });
  const topics = await TopicConfigManager.load({ configDir, config, logger });
  const groups = await SubscriptionGroupManager.load({
    configDir,
    autoCreateSubscriptionGroup: true,
    logger,
  });
  const offsets = await ConsumerOffsetManager.load({ configDir });
  const meta = new ReplicatedMetadata(store, logger, name, configDir, topics, groups, offsets);
  await meta.start();
  return { store, topics, groups, offsets, meta };
}

try {
  // The leader's state, built without replicating (apply* = what a replica does with a record).
  const a = await replica("leader");
  let t0 = performance.now();
  // Straight into the table (its private map), one persist: applyUpsert persists per topic.
  for (let i = 0; i < TOPICS; i++) a.topics.table.set(`Topic${i}`, newTopicConfig(`Topic${i}`, QUEUES, 6));
  await a.topics.persist();
  await a.groups.applyUpsertAll(
    Array.from({ length: GROUPS }, (_, g) => defaultSubscriptionGroupConfig(`Group${g}`)),
  );
  for (let g = 0; g < GROUPS; g++)
    for (let k = 0; k < PER_GROUP; k++)
      for (let q = 0; q < QUEUES; q++)
        a.offsets.commit(`Group${g}`, `Topic${(g * PER_GROUP + k) % TOPICS}`, q, 1_000_000 + q);
  const buildMs = performance.now() - t0;

  t0 = performance.now();
  const state = a.meta.snapshotState();
  const bytes = encodeSnapshotPayload({ v: 1, end: 1 << 30, segmentEnd: (1 << 30) + (1 << 20), state });
  const encodeMs = performance.now() - t0;
  t0 = performance.now();
  decodeSnapshotPayload(bytes);
  const decodeMs = performance.now() - t0;
  const offsets = state.changes.filter((c) => c.t === "offsets").reduce((n, c) => n + c.entries.length, 0);
  const out = {
    machine: `${os.cpus()[0]?.model ?? "?"} ×${os.cpus().length}, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join("/")}, node ${process.version}`,
    topics: a.topics.all().length,
    groups: a.groups.all().length,
    offsets,
    payloadBytes: bytes.byteLength,
    payloadMiB: +(bytes.byteLength / 2 ** 20).toFixed(2),
    ofMaxFrame: `${((bytes.byteLength / 2 ** 28) * 100).toFixed(2)} % of 256 MiB`,
    buildMs: Math.round(buildMs),
    encodeMs: Math.round(encodeMs),
    decodeMs: Math.round(decodeMs),
  };
  if (INSTALL) {
    const b = await replica("follower");
    t0 = performance.now();
    await b.meta.installSnapshot(decodeSnapshotPayload(bytes).state);
    out.installMs = Math.round(performance.now() - t0);
    out.installedTopics = b.topics.all().length;
    out.installedGroups = b.groups.all().length;
    await b.meta.stop();
    await b.store.shutdown();
  }
  if (PER_CHANGE) {
    const c = await replica("per-change");
    t0 = performance.now();
    // ReplicatedMetadata's private per-change applier, as a log record's changes are applied.
    for (const ch of decodeSnapshotPayload(bytes).state.changes) await c.meta.apply(ch, "log");
    out.perChangeInstallMs = Math.round(performance.now() - t0);
    await c.meta.stop();
    await c.store.shutdown();
  }
  await a.meta.stop();
  await a.store.shutdown();
  console.log(JSON.stringify(out));
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
