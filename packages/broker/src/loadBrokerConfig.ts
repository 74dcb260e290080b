import { readFile } from "node:fs/promises";
import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import { join, resolve } from "node:path";
import { ResponseCode, TideMQError } from "@tidemq/protocol";
import { type BrokerConfig, DEFAULT_BROKER_CONFIG } from "./BrokerConfig.js";
import { checkDLedgerConfig } from "./dledger/DLedgerPeers.js";
import { parseDelayLevels } from "./schedule/DelayLevelTable.js";
import { topicNameProblem } from "./TopicValidator.js";

/**
 * Reads RocketMQ-style broker.conf files (java.util.Properties syntax, the subset people
 * write: `key=value` or `key: value`, `#`/`!` comments, blank lines, trailing spaces,
 * backslash line continuations) into a BrokerConfig.
 *
 * RocketMQ silently ignores keys it does not know, which hides typos (`flushDiskTyp=SYNC_FLUSH`
 * leaves the broker asynchronous). We start anyway, as RocketMQ does, but say so by name.
 * A value that does not parse stops start-up: running with a guessed value is worse.
 */
export class BrokerConfigError extends TideMQError {
  constructor(message: string) {
    super(ResponseCode.SYSTEM_ERROR, message);
    this.name = "BrokerConfigError";
  }
}

export interface LoadBrokerConfigOptions {
  /** Path of the properties file (`-c`); omitted = defaults only. */
  file?: string;
  /** `-n`: overrides the file's namesrvAddr. */
  namesrvAddr?: string;
  /** `-p`: overrides the file's listenPort. */
  listenPort?: number;
  /** Settings applied after the file (tests, embedding). */
  overrides?: Partial<BrokerConfig>;
  /** Environment consulted for NAMESRV_ADDR when neither the file nor -n names one. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedBrokerConfig {
  config: BrokerConfig;
  /** One line per problem that did not stop start-up (unknown keys…). */
  warnings: string[];
}

/**
 * RocketMQ keys that belong to features TideMQ does not have yet. They are reported as
 * "not supported yet" rather than "unknown", so a user does not hunt for a typo.
 */
const KNOWN_UNSUPPORTED = new Set([
  "brokerIP2",
  "aclEnable",
  "transientStorePoolEnable",
  "storePathConsumeQueue",
  "storePathIndex",
  "storeCheckpoint",
  "abortFile",
  "useReentrantLockWhenPutMessage",
  "osPageCacheBusyTimeOutMills",
  "pullMessageThreadPoolNums",
  "rejectTransactionMessage",
  "fetchNamesrvAddrByAddressServer",
  "rocketmqHome",
  "brokerFastFailureEnable",
  "waitTimeMillsInPullQueue",
  "serverWorkerThreads",
  "serverSelectorThreads",
  "clientWorkerThreads",
]);

/**
 * RocketMQ keys that ask for a safety TideMQ does not give: set to ask for it, they refuse
 * start-up (a warning that is easy to miss would leave a broker running without what its
 * config asked for — no authentication, no failover, a weaker replication guarantee).
 * Set to the harmless value, they are only reported like KNOWN_UNSUPPORTED.
 */
const REFUSED_WHEN_ASKED: ReadonlyMap<string, { asks: (v: string) => boolean; why: string }> = new Map([
  [
    "aclEnable",
    {
      asks: isTrue,
      why: "access control (ACL) is not supported: every client would be served unauthenticated",
    },
  ],
  [
    "enableControllerMode",
    {
      asks: isTrue,
      why: "controller mode is not supported; replicated broker groups with automatic failover are DLedger groups (enableDLegerCommitLog=true with dLegerPeers: README 'Replicated broker groups (DLedger)')",
    },
  ],
  [
    "enableSlaveActingMaster",
    { asks: isTrue, why: "a slave acting as master is not supported (use a DLedger group for failover)" },
  ],
  [
    "rejectTransactionMessage",
    { asks: isTrue, why: "refusing transactional messages is not supported: they would be accepted" },
  ],
  ...(["totalReplicas", "inSyncReplicas", "minInSyncReplicas"] as const).map(
    (k) =>
      [
        k,
        {
          asks: (v: string) => Number(v) !== 1,
          why: "RocketMQ 5's in-sync replica counts are not supported; a SYNC_MASTER waits for its slave, a DLedger group for a majority (README Durability)",
        },
      ] as const,
  ),
  [
    "allAckInSyncStateSet",
    { asks: isTrue, why: "RocketMQ 5's in-sync state set is not supported (README Durability)" },
  ],
]);

function isTrue(v: string): boolean {
  return v.trim().toLowerCase() === "true";
}

type Kind = "string" | "int" | "bool" | "enum" | "port";
interface KeySpec {
  kind: Kind;
  values?: readonly string[];
  min?: number;
  max?: number;
}

/** How each key parses; derived from the default's type, refined where RocketMQ has rules. */
const SPECS: Partial<Record<keyof BrokerConfig, KeySpec>> = {
  listenPort: { kind: "port" },
  brokerId: { kind: "int", min: 0, max: 1024 },
  flushDiskType: { kind: "enum", values: ["ASYNC_FLUSH", "SYNC_FLUSH"] },
  brokerRole: { kind: "enum", values: ["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"] },
  brokerPermission: { kind: "int", min: 0, max: 15 },
  defaultTopicQueueNums: { kind: "int", min: 1, max: 1024 },
  diskMaxUsedSpaceRatio: { kind: "int", min: 10, max: 95 },
  cleanResourceInterval: { kind: "int", min: 100, max: 3_600_000 },
  maxMessageSize: { kind: "int", min: 1, max: 256 * 1024 * 1024 },
  timerMaxDelaySec: { kind: "int", min: 1, max: 100 * 31_536_000 },
  mappedFileSizeCommitLog: { kind: "int", min: 4096 },
  mappedFileSizeConsumeQueue: { kind: "int", min: 20 * 16 },
  sendMessageThreadPoolNums: { kind: "int", min: 1, max: 1024 },
  sendThreadPoolQueueCapacity: { kind: "int", min: 1 },
  pullThreadPoolQueueCapacity: { kind: "int", min: 1 },
  maxTransferCountOnMessageInMemory: { kind: "int", min: 1, max: 65536 },
  registerNameServerPeriod: { kind: "int", min: 1000, max: 60000 },
  maxMsgsNumBatch: { kind: "int", min: 1, max: 1024 },
  defaultQueryMaxNum: { kind: "int", min: 1, max: 10000 },
  rebalanceLockMaxLiveTime: { kind: "int", min: 1000, max: 3_600_000 },
  metricsPort: { kind: "int", min: -1, max: 65535 },
  transactionCheckInterval: { kind: "int", min: 10 },
  transactionCheckMax: { kind: "int", min: 0, max: 10000 },
  transactionCheckpointInterval: { kind: "int", min: 0, max: 3_600_000 },
  haListenPort: { kind: "port" },
  haSendHeartbeatInterval: { kind: "int", min: 100, max: 60000 },
  haHousekeepingInterval: { kind: "int", min: 1000, max: 600000 },
  haTransferBatchSize: { kind: "int", min: 4096, max: 64 * 1024 * 1024 },
  accessMessageInMemoryMaxRatio: { kind: "int", min: 0, max: 100 },
  duplicateWindowSeconds: { kind: "int", min: 1, max: 86_400 },
  duplicateWindowMaxEntries: { kind: "int", min: 1, max: 100_000_000 },
  duplicateRebuildMaxBytes: { kind: "int", min: 0 },
  duplicateSnapshotIntervalSeconds: { kind: "int", min: 0, max: 86_400 },
  dLegerTickMs: { kind: "int", min: 1, max: 1000 },
  // 64 bits: MatchBits' least; 2^30 bits = 128 MiB a pair, far past any useful lag window.
  sqlMatchIndexMaxPairs: { kind: "int", min: 0, max: 65_536 },
  sqlMatchIndexBitsPerPair: { kind: "int", min: 64, max: 1 << 30 },
};

function specOf(key: keyof BrokerConfig): KeySpec {
  const explicit = SPECS[key];
  if (explicit) return explicit;
  const def = DEFAULT_BROKER_CONFIG[key];
  if (typeof def === "boolean") return { kind: "bool" };
  if (typeof def === "number") return { kind: "int", min: 0 };
  return { kind: "string" };
}

export function isBrokerConfigKey(key: string): key is keyof BrokerConfig {
  return Object.hasOwn(DEFAULT_BROKER_CONFIG, key);
}

/**
 * Parses one value for `key`; throws BrokerConfigError naming the key, the value and what
 * was expected. Also used by UPDATE_BROKER_CONFIG.
 */
export function parseConfigValue(
  key: keyof BrokerConfig,
  raw: string,
  where: string,
): BrokerConfig[typeof key] {
  const spec = specOf(key);
  const value = raw.trim();
  const fail = (expected: string): never => {
    throw new BrokerConfigError(`invalid value for ${key} in ${where}: "${raw}" (expected ${expected})`);
  };
  switch (spec.kind) {
    case "string":
      return value;
    case "bool": {
      const lower = value.toLowerCase();
      if (lower === "true") return true;
      if (lower === "false") return false;
      return fail("true or false");
    }
    case "enum":
      if (!spec.values!.includes(value)) return fail(`one of ${spec.values!.join(", ")}`);
      return value;
    case "port": {
      if (!/^\d+$/.test(value)) return fail("a port number 0-65535");
      const n = Number(value);
      if (n > 65535) return fail("a port number 0-65535");
      return n;
    }

    case "int": {
      if (!/^[+-]?\d+$/.test(value)) return fail("an integer");
      const n = Number(value);
      if (!Number.isSafeInteger(n)) return fail("an integer");
      const min = spec.min ?? Number.MIN_SAFE_INTEGER;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (n < min || n > max) {
        return fail(spec.max === undefined ? `an integer ≥ ${min}` : `an integer between ${min} and ${max}`);
      }
      return n;
    }
  }
}

/** Parses java.util.Properties text into ordered key/value pairs (later keys win). */
export function parsePropertiesText(text: string): Array<{ key: string; value: string; line: number }> {
  const out: Array<{ key: string; value: string; line: number }> = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let line = lines[i]!.replace(/^\s+/, "");
    if (line.length === 0 || line.startsWith("#") || line.startsWith("!")) continue;
    // A line ending in an odd number of backslashes continues on the next one.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) {
      line = line.slice(0, -1) + lines[++i]!.replace(/^\s+/, "");
    }
    const m = /^([^=:\s]+)\s*[=:\s]\s*(.*)$/.exec(line) ?? /^([^=:\s]+)()$/.exec(line);
    if (!m) continue;
    out.push({ key: m[1]!, value: m[2]!.replace(/\s+$/, ""), line: startLine });
  }
  return out;
}

/** First non-internal IPv4 of this host, else 127.0.0.1 (RocketMQ's brokerIP1 default). */
function defaultBrokerIP(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      if (ni.family === "IPv4" && !ni.internal) return ni.address;
    }
  }
  return "127.0.0.1";
}

/** Applies properties text to a config; returns the warnings. Throws on invalid values. */
function applyProperties(config: BrokerConfig, text: string, where: string): string[] {
  const warnings: string[] = [];
  const target = config as unknown as Record<string, unknown>;
  for (const { key, value, line } of parsePropertiesText(text)) {
    if (!isBrokerConfigKey(key)) {
      const refused = REFUSED_WHEN_ASKED.get(key);
      if (refused?.asks(value))
        throw new BrokerConfigError(`${key}=${value} in ${where} (line ${line}): ${refused.why}`);
      warnings.push(
        KNOWN_UNSUPPORTED.has(key) || REFUSED_WHEN_ASKED.has(key)
          ? `config key ${key} in ${where} (line ${line}) is a RocketMQ setting TideMQ does not support yet; ignored`
          : `unknown config key ${key} in ${where} (line ${line}); ignored — check its spelling`,
      );
      continue;
    }
    target[key] = parseConfigValue(key, value, `${where} (line ${line})`);
  }
  return warnings;
}

/**
 * Role rules, checked on every config a broker starts with (file or overrides), as
 * RocketMQ's BrokerStartup does except that we refuse instead of silently rewriting: a
 * master (ASYNC_MASTER / SYNC_MASTER) is brokerId 0, a SLAVE has brokerId > 0.
 */
export function checkBrokerRole(c: BrokerConfig): void {
  // DLedger mode: Raft decides the role; brokerId and brokerRole are ignored (as RocketMQ does).
  if (c.enableDLegerCommitLog) {
    checkDLedgerConfig(c);
    return;
  }
  if (c.brokerRole === "SLAVE") {
    if (c.brokerId <= 0) {
      throw new BrokerConfigError(
        `brokerId=${c.brokerId} with brokerRole=SLAVE: a slave's brokerId must be > 0`,
      );
    }
    return;
  }
  if (c.brokerId !== 0) {
    throw new BrokerConfigError(
      `brokerId=${c.brokerId} with brokerRole=${c.brokerRole}: a master must have brokerId 0 (brokerId > 0 is a slave: set brokerRole=SLAVE)`,
    );
  }
  if (c.haMasterAddress) {
    throw new BrokerConfigError(
      `haMasterAddress is set but brokerRole=${c.brokerRole}: only a SLAVE replicates from a master`,
    );
  }
}

/** Fills the settings whose defaults depend on others, and checks cross-field rules. */
function finishBrokerConfig(config: BrokerConfig, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const c = { ...config };
  if (!c.namesrvAddr && env.NAMESRV_ADDR) c.namesrvAddr = env.NAMESRV_ADDR;
  c.namesrvAddr = c.namesrvAddr.trim();
  for (const addr of splitNamesrvAddr(c.namesrvAddr)) {
    const m = /^(.+):(\d+)$/.exec(addr);
    if (!m || Number(m[2]) > 65535) {
      throw new BrokerConfigError(
        `invalid value for namesrvAddr: "${c.namesrvAddr}" (expected host:port;host:port)`,
      );
    }
  }
  if (!c.brokerIP1) c.brokerIP1 = defaultBrokerIP();
  // Stamped into every record and message id as 4 bytes (spec §7.1): an IPv4 literal only.
  if (!isIPv4(c.brokerIP1)) {
    throw new BrokerConfigError(`invalid value for brokerIP1: "${c.brokerIP1}" (expected an IPv4 address)`);
  }
  if (!/^[a-zA-Z0-9_.%|-]+$/.test(c.brokerName) || c.brokerName.length > 127) {
    throw new BrokerConfigError(
      `invalid value for brokerName: "${c.brokerName}" (letters, digits, _ - . only)`,
    );
  }
  if (!/^[a-zA-Z0-9_.%|-]+$/.test(c.brokerClusterName) || c.brokerClusterName.length > 127) {
    throw new BrokerConfigError(`invalid value for brokerClusterName: "${c.brokerClusterName}"`);
  }
  {
    const problem = topicNameProblem(c.msgTraceTopicName);
    if (problem) throw new BrokerConfigError(`invalid value for msgTraceTopicName: ${problem}`);
  }
  if (!c.storePathRootDir) c.storePathRootDir = join(".", "data", c.brokerName);
  c.storePathRootDir = resolve(c.storePathRootDir);
  c.storePathCommitLog = c.storePathCommitLog
    ? resolve(c.storePathCommitLog)
    : join(c.storePathRootDir, "commitlog");
  // A delay level may be longer than fileReservedTime: retention keeps a segment that holds a
  // delay-level record not yet delivered (the "delay levels" retention guard), whatever its age.
  try {
    parseDelayLevels(c.messageDelayLevel);
  } catch (err) {
    throw new BrokerConfigError(`invalid value for messageDelayLevel: ${(err as Error).message}`);
  }
  checkBrokerRole(c);
  // Also when set by overrides (embedding, tests), which bypass the file's parsing.
  for (const key of ["sqlMatchIndexMaxPairs", "sqlMatchIndexBitsPerPair"] as const)
    parseConfigValue(key, String(c[key]), "the config");
  if (c.mappedFileSizeCommitLog < c.maxMessageSize + 4096) {
    throw new BrokerConfigError(
      `invalid value for mappedFileSizeCommitLog: ${c.mappedFileSizeCommitLog} (must exceed maxMessageSize ${c.maxMessageSize} by at least 4096 bytes)`,
    );
  }
  return c;
}

export function splitNamesrvAddr(addr: string): string[] {
  return addr
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Reads the file (if any), applies -n/-p/overrides, fills defaults. */
export async function loadBrokerConfig(options: LoadBrokerConfigOptions = {}): Promise<LoadedBrokerConfig> {
  let config: BrokerConfig = { ...DEFAULT_BROKER_CONFIG };
  const warnings: string[] = [];
  if (options.file) {
    let text: string;
    try {
      text = await readFile(options.file, "utf8");
    } catch (err) {
      throw new BrokerConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`);
    }
    warnings.push(...applyProperties(config, text, options.file));
  }
  if (options.namesrvAddr !== undefined) config.namesrvAddr = options.namesrvAddr;
  if (options.listenPort !== undefined) {
    config.listenPort = parseConfigValue("listenPort", String(options.listenPort), "-p") as number;
  }
  if (options.overrides) config = { ...config, ...options.overrides };
  return { config: finishBrokerConfig(config, options.env ?? process.env), warnings };
}

/** The config as properties text, for GET_BROKER_CONFIG (sorted keys, like Java's dump). */
export function brokerConfigToProperties(config: BrokerConfig): string {
  return Object.keys(config)
    .sort()
    .map((k) => `${k}=${String((config as unknown as Record<string, unknown>)[k])}`)
    .join("\n")
    .concat("\n");
}
