import { join } from "node:path";
import { type DataVersion, ResponseCode, TideMQError } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { readConfigJson, writeFileAtomic } from "./ConfigFile.js";
import type { SubscriptionGroupConfig, SubscriptionGroupManagerApi } from "./context.js";
import type { MetadataChange } from "./dledger/MetadataRecord.js";

/**
 * Subscription groups (spec §8.3): per-group consume settings, persisted in
 * `<configDir>/subscriptionGroup.json` as RocketMQ writes it
 * (`{"subscriptionGroupTable":{"G":{…}},"dataVersion":{…}}`).
 */
export const SUBSCRIPTION_GROUP_FILE = "subscriptionGroup.json";

const MAX_GROUP_LENGTH = 255;
const GROUP_NAME = /^[%|a-zA-Z0-9_-]+$/;
/** A cap on auto-created groups: each heartbeat with a new name would otherwise add one. */
const MAX_GROUPS = 100_000;

/** Throws SYSTEM_ERROR unless `name` is a legal group name (RocketMQ's topic/group character set). */
export function validateGroupName(name: string): void {
  if (typeof name !== "string" || name.length === 0) {
    throw new TideMQError(ResponseCode.SYSTEM_ERROR, "invalid group name: the group name is empty");
  }
  if (name.length > MAX_GROUP_LENGTH) {
    throw new TideMQError(
      ResponseCode.SYSTEM_ERROR,
      `invalid group name "${name.slice(0, 40)}…": longer than ${MAX_GROUP_LENGTH} characters`,
    );
  }
  if (!GROUP_NAME.test(name)) {
    throw new TideMQError(
      ResponseCode.SYSTEM_ERROR,
      `invalid group name "${name}": only letters, digits, %, |, _ and - are allowed (^[%|a-zA-Z0-9_-]+$)`,
    );
  }
}

/** RocketMQ's defaults (spec §8.3). */
export function defaultSubscriptionGroupConfig(groupName: string): SubscriptionGroupConfig {
  return {
    groupName,
    consumeEnable: true,
    consumeFromMinEnable: true,
    consumeBroadcastEnable: true,
    retryQueueNums: 1,
    retryMaxTimes: 16,
    brokerId: 0,
    whichBrokerWhenConsumeSlowly: 1,
    notifyConsumerIdsChangedEnable: true,
  };
}

/** MQVersion V3_4_9 (ali-ons' 121): from this client version on, a request's maxReconsumeTimes counts. */
const VERSION_V3_4_9 = 121;

/**
 * How many reconsumptions a message of the group gets before the DLQ (spec §4.1, §4.11):
 * the request's `maxReconsumeTimes` from clients that send it, else the group's setting.
 */
export function maxReconsumeTimes(
  clientVersion: number,
  requested: number | undefined,
  group: SubscriptionGroupConfig,
): number {
  return clientVersion >= VERSION_V3_4_9 && requested !== undefined ? requested : group.retryMaxTimes;
}

/**
 * Fills a config that came from a file or an admin request: missing fields take the
 * defaults, wrongly typed ones are rejected.
 */
export function normalizeSubscriptionGroupConfig(raw: unknown): SubscriptionGroupConfig {
  if (typeof raw !== "object" || raw === null) {
    throw new TideMQError(ResponseCode.SYSTEM_ERROR, "subscription group config is not a JSON object");
  }
  const r = raw as Record<string, unknown>;
  const groupName = r.groupName;
  if (typeof groupName !== "string") {
    throw new TideMQError(ResponseCode.SYSTEM_ERROR, "subscription group config lacks groupName");
  }
  validateGroupName(groupName);
  const out = defaultSubscriptionGroupConfig(groupName);
  const bools = [
    "consumeEnable",
    "consumeFromMinEnable",
    "consumeBroadcastEnable",
    "notifyConsumerIdsChangedEnable",
  ] as const;
  for (const f of bools) {
    const v = r[f];
    if (v === undefined || v === null) continue;
    if (typeof v === "boolean") out[f] = v;
    else if (v === "true" || v === "false") out[f] = v === "true";
    else
      throw new TideMQError(
        ResponseCode.SYSTEM_ERROR,
        `subscription group ${groupName}: ${f} is not a boolean`,
      );
  }
  const ints = [
    ["retryQueueNums", 0, 1024],
    ["retryMaxTimes", -1, 10_000],
    ["brokerId", 0, 1_000_000],
    ["whichBrokerWhenConsumeSlowly", 0, 1_000_000],
  ] as const;
  for (const [f, min, max] of ints) {
    const v = r[f];
    if (v === undefined || v === null) continue;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      throw new TideMQError(
        ResponseCode.SYSTEM_ERROR,
        `subscription group ${groupName}: ${f} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`,
      );
    }
    out[f] = n;
  }
  return out;
}

interface SubscriptionGroupFile {
  subscriptionGroupTable?: Record<string, unknown>;
  dataVersion?: Partial<DataVersion>;
}

export interface SubscriptionGroupManagerOptions {
  configDir: string;
  autoCreateSubscriptionGroup: boolean;
  logger: Logger;
}

export class SubscriptionGroupManager implements SubscriptionGroupManagerApi {
  private readonly table = new Map<string, SubscriptionGroupConfig>();
  private readonly file: string;
  private readonly autoCreate: boolean;
  private readonly logger: Logger;
  private version: DataVersion = { timestamp: Date.now(), counter: 0 };
  private persisting: Promise<void> = Promise.resolve();
  /** DLedger mode: writes a change to the replicated log, resolving once committed. */
  replicate: ((change: MetadataChange) => Promise<void>) | undefined;
  /** DLedger mode: queues a change for the leader's next metadata record (no-op on a follower). */
  replicateLater: ((change: MetadataChange) => void) | undefined;

  private constructor(options: SubscriptionGroupManagerOptions) {
    this.file = join(options.configDir, SUBSCRIPTION_GROUP_FILE);
    this.autoCreate = options.autoCreateSubscriptionGroup;
    this.logger = options.logger;
  }

  static async load(options: SubscriptionGroupManagerOptions): Promise<SubscriptionGroupManager> {
    const m = new SubscriptionGroupManager(options);
    const parsed = await readConfigJson<SubscriptionGroupFile>(m.file);
    if (parsed) m.decode(parsed);
    return m;
  }

  get path(): string {
    return this.file;
  }

  get dataVersion(): DataVersion {
    return { ...this.version };
  }

  /**
   * The group's config; an unknown group is created with the defaults when
   * autoCreateSubscriptionGroup is on (and persisted in the background), else undefined.
   * Throws SYSTEM_ERROR for an illegal group name.
   */
  findOrCreate(group: string): SubscriptionGroupConfig | undefined {
    const found = this.table.get(group);
    if (found) return found;
    validateGroupName(group);
    if (!this.autoCreate) return undefined;
    if (this.table.size >= MAX_GROUPS) {
      throw new TideMQError(
        ResponseCode.SYSTEM_ERROR,
        `cannot auto-create subscription group ${group}: ${MAX_GROUPS} groups exist; delete unused ones`,
      );
    }
    const config = defaultSubscriptionGroupConfig(group);
    this.table.set(group, config);
    this.bumpVersion();
    this.logger.info(`auto-created subscription group ${group}`);
    this.persist().catch((err: Error) => this.logger.error(`persisting ${this.file} failed: ${err.message}`));
    // DLedger: replicated in the background (on a follower it stays local, as before).
    this.replicateLater?.({ t: "group", config });
    return config;
  }

  get(group: string): SubscriptionGroupConfig | undefined {
    return this.table.get(group);
  }

  all(): SubscriptionGroupConfig[] {
    return [...this.table.values()];
  }

  async upsert(config: SubscriptionGroupConfig): Promise<void> {
    const normalized = normalizeSubscriptionGroupConfig(config);
    // DLedger: committed on a majority first, then applied (on every replica).
    if (this.replicate) await this.replicate({ t: "group", config: normalized });
    await this.applyUpsert(normalized);
  }

  /** With `cleanOffset` (DELETE_SUBSCRIPTIONGROUP's 5.x flag) the group's consumer offsets go
   *  too — in DLedger mode as part of the same replicated record, even when the group's config
   *  is already gone (its offsets may not be). */
  async delete(group: string, cleanOffset = false): Promise<void> {
    if (!this.table.has(group) && !cleanOffset) return;
    if (this.replicate)
      await this.replicate({ t: "groupDelete", group, ...(cleanOffset ? { cleanOffset } : {}) });
    await this.applyDelete(group);
  }

  /** Sets a group without replicating it (a change read from the replicated log). */
  async applyUpsert(config: SubscriptionGroupConfig): Promise<void> {
    await this.applyUpsertAll([config]);
  }

  /** Sets many groups with one write of the table (a DLedger snapshot installs them all at once). */
  async applyUpsertAll(configs: readonly SubscriptionGroupConfig[]): Promise<void> {
    if (configs.length === 0) return;
    for (const c of configs) {
      const normalized = normalizeSubscriptionGroupConfig(c);
      this.table.set(normalized.groupName, normalized);
    }
    this.bumpVersion();
    await this.persist();
  }

  async applyDelete(group: string): Promise<void> {
    if (!this.table.delete(group)) return;
    this.bumpVersion();
    await this.persist();
  }

  /** The GET_ALL_SUBSCRIPTIONGROUP_CONFIG body and the file content. */
  encode(): string {
    const subscriptionGroupTable = Object.fromEntries(
      [...this.table].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    return JSON.stringify({ subscriptionGroupTable, dataVersion: this.version }, null, 2);
  }

  /** Writes the table; writes are serialized so the file never goes back in time. */
  persist(): Promise<void> {
    const next = this.persisting.then(() => writeFileAtomic(this.file, this.encode()));
    this.persisting = next.catch(() => undefined);
    return next;
  }

  private bumpVersion(): void {
    this.version = { timestamp: Date.now(), counter: this.version.counter + 1 };
  }

  private decode(parsed: SubscriptionGroupFile): void {
    for (const [name, raw] of Object.entries(parsed.subscriptionGroupTable ?? {})) {
      try {
        const config = normalizeSubscriptionGroupConfig({ groupName: name, ...(raw as object) });
        this.table.set(config.groupName, config);
      } catch (err) {
        // One bad entry must not stop the broker: report it and keep the others.
        this.logger.warn(`${this.file}: skipping subscription group "${name}": ${(err as Error).message}`);
      }
    }
    const dv = parsed.dataVersion;
    if (dv && Number.isSafeInteger(dv.timestamp) && Number.isSafeInteger(dv.counter)) {
      this.version = { timestamp: dv.timestamp!, counter: dv.counter! };
    }
  }
}
