import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { BrokerConfigError, loadBrokerConfig, parsePropertiesText } from "../src/loadBrokerConfig.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tidemq-broker-conf-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function conf(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text, "utf8");
  return file;
}

test("properties text: comments, blank lines, trailing spaces, ':' and continuation lines", () => {
  const pairs = parsePropertiesText(
    "# a comment\n! another\n\n  brokerName = broker-b   \nlistenPort:10921\r\nmessageDelayLevel=1s 5s \\\n   10s\n",
  );
  assert.deepEqual(
    pairs.map((p) => [p.key, p.value]),
    [
      ["brokerName", "broker-b"],
      ["listenPort", "10921"],
      ["messageDelayLevel", "1s 5s 10s"],
    ],
  );
});

test("a RocketMQ broker.conf loads with its values and derived defaults", async () => {
  const file = await conf(
    "ok.conf",
    [
      "brokerClusterName = DefaultCluster",
      "brokerName = broker-a",
      "brokerId = 0",
      "deleteWhen = 04",
      "fileReservedTime = 48",
      "brokerRole = ASYNC_MASTER",
      "flushDiskType = SYNC_FLUSH   ",
      "autoCreateTopicEnable=false",
      "brokerIP1=127.0.0.1",
    ].join("\n"),
  );
  const { config, warnings } = await loadBrokerConfig({ file, env: {} });
  assert.deepEqual(warnings, []);
  assert.equal(config.flushDiskType, "SYNC_FLUSH");
  assert.equal(config.fileReservedTime, 48);
  assert.equal(config.autoCreateTopicEnable, false);
  assert.equal(config.storePathRootDir, resolve("data", "broker-a"));
  assert.equal(config.storePathCommitLog, join(resolve("data", "broker-a"), "commitlog"));
  assert.equal(config.listenPort, 10911);
});

test("an unknown key is reported by name and start-up continues", async () => {
  const file = await conf(
    "typo.conf",
    "brokerName=b1\nflushDiskTyp=SYNC_FLUSH\naclEnable=false\nenableDLegerCommitLog=false\n",
  );
  const { config, warnings } = await loadBrokerConfig({ file, env: {} });
  assert.equal(config.brokerName, "b1");
  assert.equal(config.flushDiskType, "ASYNC_FLUSH");
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^unknown config key flushDiskTyp in .*typo\.conf/);
  assert.match(warnings[1]!, /aclEnable .* does not support yet/);
});

test("a RocketMQ key asking for a safety TideMQ does not give refuses start-up, naming the key and why", async () => {
  const cases: Array<[string, RegExp]> = [
    ["aclEnable=true", /aclEnable=true in .* \(line 2\): access control \(ACL\) is not supported/],
    [
      "enableControllerMode=TRUE",
      /enableControllerMode=TRUE .*controller mode is not supported.*enableDLegerCommitLog=true/,
    ],
    ["enableSlaveActingMaster=true", /enableSlaveActingMaster=true .*not supported/],
    ["rejectTransactionMessage=true", /rejectTransactionMessage=true .*they would be accepted/],
    ["minInSyncReplicas=2", /minInSyncReplicas=2 .*in-sync replica counts are not supported/],
    ["totalReplicas=3", /totalReplicas=3 /],
    ["allAckInSyncStateSet=true", /allAckInSyncStateSet=true /],
  ];
  for (const [line, expected] of cases) {
    const file = await conf("safety.conf", `brokerName=b1\n${line}\n`);
    await assert.rejects(loadBrokerConfig({ file, env: {} }), expected, line);
  }
  // The harmless values are only reported.
  const file = await conf("harmless.conf", "brokerName=b1\nenableControllerMode=false\ntotalReplicas=1\n");
  const { warnings } = await loadBrokerConfig({ file, env: {} });
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /enableControllerMode .* does not support yet; ignored/);
});

test("a config asking for replication that is not built, or roles that contradict, refuse to start, naming the key", async () => {
  const cases: Array<[string, RegExp]> = [
    ["enableDLegerCommitLog=TRUE", /enableDLegerCommitLog=true but dLegerPeers is empty/],
    ["enableDLegerCommitLog=maybe", /enableDLegerCommitLog.*"maybe".*true or false/],
    [
      "enableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1",
      /invalid dLegerPeers entry "n1-127.0.0.1" \(expected id-host:port/,
    ],
    [
      "enableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:40911\ndLegerSelfId=n1",
      /dLegerSelfId=n1 is not one of dLegerPeers \(n0\)/,
    ],
    [
      "brokerName=b\nenableDLegerCommitLog=true\ndLegerGroup=g\ndLegerPeers=n0-127.0.0.1:40911\ndLegerSelfId=n0",
      /dLegerGroup=g differs from brokerName=b/,
    ],
    [
      "enableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:40911\ndLegerSelfId=n0\npreferredLeaderId=n5",
      /preferredLeaderId=n5 is not one of dLegerPeers/,
    ],
    ["brokerRole=SLAVE", /brokerId=0 with brokerRole=SLAVE: a slave's brokerId must be > 0/],
    [
      "brokerRole=SYNC_MASTER\nbrokerId=2",
      /brokerId=2 with brokerRole=SYNC_MASTER: a master must have brokerId 0/,
    ],
    ["brokerId=1", /brokerId=1 with brokerRole=ASYNC_MASTER: a master must have brokerId 0/],
    ["haMasterAddress=127.0.0.1:10912", /haMasterAddress is set but brokerRole=ASYNC_MASTER/],
  ];
  for (const [i, [text, re]] of cases.entries()) {
    const file = await conf(`repl${i}.conf`, `${text}\n`);
    await assert.rejects(loadBrokerConfig({ file, env: {} }), (err: unknown) => {
      assert.ok(err instanceof BrokerConfigError, String(err));
      assert.match((err as Error).message, re);
      return true;
    });
  }
  // The seed's DLedger member config loads; brokerId and brokerRole are then Raft's to decide.
  const seed = await conf(
    "seed-n0.conf",
    "brokerName=RaftNode00\nbrokerId=7\nenableDLegerCommitLog=true\ndLegerGroup=RaftNode00\ndLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\ndLegerSelfId=n0\n",
  );
  const loaded = await loadBrokerConfig({ file: seed, env: {} });
  assert.equal(loaded.config.enableDLegerCommitLog, true);
  assert.equal(loaded.config.dLegerSelfId, "n0");
  assert.deepEqual(loaded.warnings, []);
  // Overrides (embedding, tests) go through the same rule.
  await assert.rejects(
    loadBrokerConfig({ env: {}, overrides: { brokerRole: "SLAVE", brokerId: 0 } }),
    /SLAVE/,
  );
});

test("master/slave keys load: a SLAVE with brokerId > 0, HA settings, slave reads", async () => {
  const file = await conf(
    "slave.conf",
    "brokerRole=SLAVE\nbrokerId=1\nhaMasterAddress=10.0.0.1:10912\nhaListenPort=10922\nslaveReadEnable=true\naccessMessageInMemoryMaxRatio=30\n",
  );
  const { config, warnings } = await loadBrokerConfig({ file, env: {} });
  assert.deepEqual(warnings, []);
  assert.equal(config.brokerRole, "SLAVE");
  assert.equal(config.brokerId, 1);
  assert.equal(config.haMasterAddress, "10.0.0.1:10912");
  assert.equal(config.haListenPort, 10922);
  assert.equal(config.slaveReadEnable, true);
  assert.equal(config.accessMessageInMemoryMaxRatio, 30);
});

test("invalid values stop start-up with the key and the value named", async () => {
  const cases: Array<[string, RegExp]> = [
    ["flushDiskType=FOO", /flushDiskType.*"FOO".*ASYNC_FLUSH, SYNC_FLUSH/],
    ["listenPort=70000", /listenPort.*"70000"/],
    ["listenPort=abc", /listenPort.*"abc"/],
    ["maxMessageSize=4M", /maxMessageSize.*"4M".*integer/],
    ["autoCreateTopicEnable=yes", /autoCreateTopicEnable.*"yes".*true or false/],
    ["brokerRole=MASTER", /brokerRole.*"MASTER"/],
    ["brokerIP1=broker.example.com", /brokerIP1.*"broker\.example\.com".*IPv4/],
  ];
  for (const [i, [line, re]] of cases.entries()) {
    const file = await conf(`bad${i}.conf`, `${line}\n`);
    await assert.rejects(loadBrokerConfig({ file, env: {} }), (err: unknown) => {
      assert.ok(err instanceof BrokerConfigError, String(err));
      assert.match((err as Error).message, re);
      return true;
    });
  }
});

test("-n and -p override the file; NAMESRV_ADDR is the fallback", async () => {
  const file = await conf("ns.conf", "namesrvAddr=10.0.0.1:9876\nlistenPort=10911\n");
  const a = await loadBrokerConfig({
    file,
    namesrvAddr: "127.0.0.1:9876;127.0.0.1:9877",
    listenPort: 0,
    env: {},
  });
  assert.equal(a.config.namesrvAddr, "127.0.0.1:9876;127.0.0.1:9877");
  assert.equal(a.config.listenPort, 0);
  const empty = await conf("empty.conf", "");
  const b = await loadBrokerConfig({ file: empty, env: { NAMESRV_ADDR: "10.1.1.1:9876" } });
  assert.equal(b.config.namesrvAddr, "10.1.1.1:9876");
  const c = await loadBrokerConfig({ file, env: { NAMESRV_ADDR: "10.1.1.1:9876" } });
  assert.equal(c.config.namesrvAddr, "10.0.0.1:9876");
  await assert.rejects(loadBrokerConfig({ namesrvAddr: "nonsense", env: {} }), /namesrvAddr.*nonsense/);
});

test("a missing config file is a clear error", async () => {
  await assert.rejects(
    loadBrokerConfig({ file: join(dir, "nope.conf"), env: {} }),
    /cannot read config file/,
  );
});
