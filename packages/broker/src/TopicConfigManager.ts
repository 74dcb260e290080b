import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DataVersion,
  isInherited,
  Perm,
  ResponseCode,
  TideMQError,
  type TopicConfig,
  type TopicConfigSerializeWrapper,
} from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import type { BrokerConfig } from "./BrokerConfig.js";
import { writeFileAtomic } from "./ConfigFile.js";
import type { TopicConfigManagerApi } from "./context.js";
import type { MetadataChange } from "./dledger/MetadataRecord.js";
import {
  AUTO_CREATE_TOPIC_KEY_TOPIC,
  OFFSET_MOVED_EVENT,
  SCHEDULE_TOPIC,
  SELF_TEST_TOPIC,
  topicNameProblem,
} from "./TopicValidator.js";

/** At most this many topics per broker: each costs consume-queue files and registration bytes. */
export const MAX_TOPICS = 100_000;
/** Delay levels of RocketMQ's default messageDelayLevel, one queue each. */
const SCHEDULE_QUEUE_NUMS = 18;

export function newTopicConfig(topicName: string, queueNums: number, perm: number): TopicConfig {
  return {
    topicName,
    readQueueNums: queueNums,
    writeQueueNums: queueNums,
    perm,
    topicFilterType: "SINGLE_TAG",
    topicSysFlag: 0,
    order: false,
  };
}

/**
 * The broker's topic table (RocketMQ's TopicConfigManager): persisted in
 * `<root>/config/topics.json` in Java's `{"topicConfigTable":…,"dataVersion":…}` shape, with a
 * data version bumped on every change so NameServers can tell a changed registration.
 * Listeners hear about every change (NamesrvRegistration re-registers at once).
 */
export class TopicConfigManager implements TopicConfigManagerApi {
  private readonly table = new Map<string, TopicConfig>();
  private version: DataVersion = { timestamp: Date.now(), counter: 0 };
  private readonly listeners: Array<(changed: TopicConfig[]) => void> = [];
  private persistChain: Promise<void> = Promise.resolve();
  private readonly file: string;
  /**
   * DLedger mode: writes a change to the replicated log and resolves once it is committed
   * (throws SERVICE_NOT_AVAILABLE on a replica that is not the leader). Undefined: local only.
   */
  replicate: ((change: MetadataChange) => Promise<void>) | undefined;

  private constructor(
    private readonly configDir: string,
    private readonly config: BrokerConfig,
    private readonly logger: Logger,
  ) {
    this.file = join(configDir, "topics.json");
  }

  /** Loads the persisted table (a corrupt file falls back to its .bak) and adds missing system topics. */
  static async load(opts: {
    configDir: string;
    config: BrokerConfig;
    logger: Logger;
  }): Promise<TopicConfigManager> {
    const m = new TopicConfigManager(opts.configDir, opts.config, opts.logger);
    await mkdir(opts.configDir, { recursive: true });
    const loaded = (await m.readWrapper(m.file)) ?? (await m.readWrapper(`${m.file}.bak`));
    if (loaded) {
      for (const [name, tc] of Object.entries(loaded.topicConfigTable ?? {})) {
        if (tc && typeof tc === "object") m.table.set(name, normalize(name, tc));
      }
      if (loaded.dataVersion) m.version = { ...loaded.dataVersion };
    }
    const added = m.addSystemTopics();
    if (added > 0 || !loaded) {
      m.bumpVersion();
      await m.persist();
    }
    return m;
  }

  private async readWrapper(path: string): Promise<TopicConfigSerializeWrapper | undefined> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      return undefined;
    }
    try {
      return JSON.parse(text) as TopicConfigSerializeWrapper;
    } catch (err) {
      this.logger.error(`topic config ${path} is not JSON (${(err as Error).message}); trying the backup`);
      return undefined;
    }
  }

  /** RocketMQ's start-up topics (spec §8.2), created only when missing so persisted edits win. */
  private addSystemTopics(): number {
    const c = this.config;
    const wanted: TopicConfig[] = [newTopicConfig(SELF_TEST_TOPIC, 1, Perm.READ | Perm.WRITE)];
    if (c.autoCreateTopicEnable) {
      wanted.push(newTopicConfig(AUTO_CREATE_TOPIC_KEY_TOPIC, c.defaultTopicQueueNums, 7));
    }
    wanted.push(
      newTopicConfig(c.brokerClusterName, 16, c.clusterTopicEnable ? 7 : Perm.INHERIT),
      newTopicConfig(c.brokerName, 1, c.brokerTopicEnable ? 7 : Perm.INHERIT),
      newTopicConfig(OFFSET_MOVED_EVENT, 1, Perm.READ | Perm.WRITE),
      newTopicConfig(SCHEDULE_TOPIC, SCHEDULE_QUEUE_NUMS, Perm.READ | Perm.WRITE),
    );
    // RocketMQ: one queue, read-write, when traceTopicEnable.
    if (c.traceTopicEnable) wanted.push(newTopicConfig(c.msgTraceTopicName, 1, Perm.READ | Perm.WRITE));
    let added = 0;
    for (const tc of wanted) {
      if (!this.table.has(tc.topicName)) {
        this.table.set(tc.topicName, tc);
        added++;
      }
    }
    return added;
  }

  onChange(listener: (changed: TopicConfig[]) => void): void {
    this.listeners.push(listener);
  }

  get(topic: string): TopicConfig | undefined {
    return this.table.get(topic);
  }

  all(): TopicConfig[] {
    return [...this.table.values()];
  }

  get dataVersion(): DataVersion {
    return { ...this.version };
  }

  /** What REGISTER_BROKER and GET_ALL_TOPIC_CONFIG carry. */
  wrapper(): TopicConfigSerializeWrapper {
    return { topicConfigTable: Object.fromEntries(this.table), dataVersion: this.dataVersion };
  }

  async upsert(config: TopicConfig): Promise<void> {
    const problem = topicNameProblem(config.topicName);
    if (problem) throw new TideMQError(ResponseCode.SYSTEM_ERROR, problem);
    if (!this.table.has(config.topicName) && this.table.size >= MAX_TOPICS) {
      throw new TideMQError(
        ResponseCode.SYSTEM_ERROR,
        `this broker already holds ${MAX_TOPICS} topics, the limit`,
      );
    }
    const tc = normalize(config.topicName, config);
    // DLedger: the change is committed on a majority first (it then applies on every replica).
    if (this.replicate) await this.replicate({ t: "topic", config: tc });
    await this.applyUpsert(tc);
  }

  async delete(topic: string): Promise<void> {
    if (!this.table.has(topic)) return;
    if (this.replicate) await this.replicate({ t: "topicDelete", topic });
    await this.applyDelete(topic);
  }

  /** Sets a topic without replicating it (a change read from the replicated log, or a local one). */
  async applyUpsert(config: TopicConfig): Promise<void> {
    await this.applyUpsertAll([config]);
  }

  /**
   * Sets many topics with one write of the table: a DLedger snapshot installs every topic at
   * once, and one persist each rewrites the whole file per topic (quadratic in the topics).
   */
  async applyUpsertAll(configs: readonly TopicConfig[]): Promise<void> {
    if (configs.length === 0) return;
    const changed = configs.map((c) => normalize(c.topicName, c));
    for (const tc of changed) this.table.set(tc.topicName, tc);
    this.bumpVersion();
    await this.persist();
    this.emit(changed);
  }

  async applyDelete(topic: string): Promise<void> {
    if (!this.table.delete(topic)) return;
    this.bumpVersion();
    await this.persist();
    this.emit([]);
  }

  async ensureSystemTopic(topic: string, queueNums: number, perm: number): Promise<TopicConfig> {
    const existing = this.table.get(topic);
    if (existing) return existing;
    const tc = newTopicConfig(topic, queueNums, perm);
    const problem = topicNameProblem(topic);
    if (problem) throw new TideMQError(ResponseCode.SYSTEM_ERROR, problem);
    try {
      if (this.replicate) await this.replicate({ t: "topic", config: tc });
    } catch (err) {
      // DLedger: a follower (e.g. a heartbeat's retry topic), or a leader just deposed or slow
      // to commit: local only, as a broker always did — the leader's own creation reaches
      // this replica through the log.
      this.logger.debug(`system topic ${topic} created locally only: ${(err as Error).message}`);
    }
    if (!this.table.has(topic)) await this.applyUpsert(tc);
    return this.table.get(topic)!;
  }

  /**
   * Auto-creation on send (spec §8.2): from the template `defaultTopic` when it carries
   * PERM_INHERIT, with min(requested, template write queues) queues and the template's perm
   * minus INHERIT. TBW102 only serves as a template while autoCreateTopicEnable is on.
   */
  async createTopicInSendMessageMethod(
    topic: string,
    defaultTopic: string,
    requestedQueueNums: number,
  ): Promise<TopicConfig | undefined> {
    const existing = this.table.get(topic);
    if (existing) return existing;
    const template = this.table.get(defaultTopic);
    if (!template) return undefined;
    if (defaultTopic === AUTO_CREATE_TOPIC_KEY_TOPIC && !this.config.autoCreateTopicEnable) return undefined;
    if (!isInherited(template.perm)) return undefined;
    const queueNums = Math.max(
      1,
      Math.min(requestedQueueNums > 0 ? requestedQueueNums : 1, template.writeQueueNums),
    );
    const tc: TopicConfig = {
      ...newTopicConfig(topic, queueNums, template.perm & ~Perm.INHERIT),
      topicFilterType: template.topicFilterType,
    };
    await this.upsert(tc);
    this.logger.info(
      `auto-created topic ${topic} from template ${defaultTopic}: ${queueNums} queues, perm ${tc.perm}`,
    );
    return tc;
  }

  private bumpVersion(): void {
    const now = Date.now();
    this.version = { timestamp: Math.max(now, this.version.timestamp), counter: this.version.counter + 1 };
  }

  private emit(changed: TopicConfig[]): void {
    for (const l of this.listeners) {
      try {
        l(changed);
      } catch (err) {
        this.logger.error(`topic change listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Writes atomically, keeping the previous file as .bak; writes are serialized. */
  persist(): Promise<void> {
    const text = JSON.stringify(this.wrapper(), null, 2);
    const run = async () => {
      await mkdir(this.configDir, { recursive: true });
      await writeFileAtomic(this.file, text, { keepBackup: true });
    };
    const p = this.persistChain.then(run, run);
    this.persistChain = p.catch((err) =>
      this.logger.error(`cannot persist ${this.file}: ${(err as Error).message}`),
    );
    return p;
  }
}

function normalize(name: string, tc: Partial<TopicConfig>): TopicConfig {
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : d);
  return {
    topicName: name,
    readQueueNums: num(tc.readQueueNums, 16),
    writeQueueNums: num(tc.writeQueueNums, 16),
    perm: num(tc.perm, 6) & 0xf,
    topicFilterType: tc.topicFilterType === "MULTI_TAG" ? "MULTI_TAG" : "SINGLE_TAG",
    topicSysFlag: num(tc.topicSysFlag, 0),
    order: tc.order === true,
  };
}
