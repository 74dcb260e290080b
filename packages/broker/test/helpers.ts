import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import {
  createRequest,
  decodeMessages,
  encodeProperties,
  type MessageExt,
  PullSysFlag,
  type RemotingCommand,
  RequestCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import { createLogger, type Logger, RemotingClient } from "@tidemq/remoting";
import type { MessageInput } from "@tidemq/store";
import type { BrokerConfig } from "../src/BrokerConfig.js";
import { BrokerController } from "../src/BrokerController.js";
import { ConsumerOffsetManager } from "../src/ConsumerOffsetManager.js";
import { loadBrokerConfig } from "../src/loadBrokerConfig.js";
import { SubscriptionGroupManager } from "../src/SubscriptionGroupManager.js";
import { TopicConfigManager } from "../src/TopicConfigManager.js";

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `tidemq-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Waits (bounded) for a condition that has no event of its own. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1_000; i++) {
    if (await check()) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Undo steps for a test file, run last-first after all its tests (a failing one does not stop the rest). */
export function cleanupsAfterAll(): Array<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return cleanups;
}

/** A broker config for tests: ephemeral port, 127.0.0.1, small commit-log segments. */
export async function testConfig(dir: string, overrides: Partial<BrokerConfig> = {}): Promise<BrokerConfig> {
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      brokerName: "broker-t",
      brokerIP1: "127.0.0.1",
      listenPort: 0,
      storePathRootDir: dir,
      storePathCommitLog: join(dir, "commitlog"),
      mappedFileSizeCommitLog: 8 * 1024 * 1024,
      ...overrides,
    },
  });
  return config;
}

export async function startBroker(
  dir: string,
  overrides: Partial<BrokerConfig> = {},
): Promise<BrokerController> {
  const broker = new BrokerController(await testConfig(dir, overrides), {
    logger: createLogger("test-broker", "warn"),
  });
  await broker.start();
  return broker;
}

export function newClient(): RemotingClient {
  return new RemotingClient({ requestTimeoutMs: 30_000, logger: createLogger("test-client", "error") });
}

/** A started broker in a fresh directory with a client for it; `close` undoes all three. */
export interface BrokerUnderTest {
  dir: string;
  broker: BrokerController;
  client: RemotingClient;
  addr: string;
  close(): Promise<void>;
}

export async function openBroker(
  prefix: string,
  overrides: Partial<BrokerConfig> = {},
): Promise<BrokerUnderTest> {
  const dir = await tempDir(prefix);
  let broker: BrokerController;
  try {
    broker = await startBroker(dir, overrides);
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
  const client = newClient();
  return {
    dir,
    broker,
    client,
    addr: `127.0.0.1:${broker.port}`,
    async close() {
      await client.close();
      await broker.shutdown();
      await removeDir(dir);
    },
  };
}

export function createTopicRequest(topic: string, queues = 4, perm = 6): RemotingCommand {
  return createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic,
    defaultTopic: "TBW102",
    readQueueNums: queues,
    writeQueueNums: queues,
    perm,
    topicFilterType: "SINGLE_TAG",
    topicSysFlag: 0,
    order: false,
  });
}

export interface SendOptions {
  queueId?: number;
  properties?: Record<string, string>;
  code?: number;
  defaultTopicQueueNums?: number;
}

/** A SEND_MESSAGE_V2 (or SEND_MESSAGE with code 10) request as producers build it. */
export function sendRequest(topic: string, body: Buffer, o: SendOptions = {}): RemotingCommand {
  const header = {
    producerGroup: "PG_TEST",
    topic,
    defaultTopic: "TBW102",
    defaultTopicQueueNums: o.defaultTopicQueueNums ?? 4,
    queueId: o.queueId ?? 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: encodeProperties(o.properties ?? {}),
    reconsumeTimes: 0,
    unitMode: false,
  };
  const code = o.code ?? RequestCode.SEND_MESSAGE_V2;
  return createRequest(code, code === RequestCode.SEND_MESSAGE ? header : sendHeaderToV2(header), body);
}

export interface PullOptions {
  subscription?: string;
  /** "SQL92" for an SQL subscription; absent = tags. */
  expressionType?: string;
  sysFlag?: number;
  suspendTimeoutMillis?: number;
  maxMsgNums?: number;
  commitOffset?: number;
  group?: string;
}

export function pullRequest(
  topic: string,
  queueId: number,
  offset: number,
  o: PullOptions = {},
): RemotingCommand {
  return createRequest(RequestCode.PULL_MESSAGE, {
    consumerGroup: o.group ?? "CG_TEST",
    topic,
    queueId,
    queueOffset: offset,
    maxMsgNums: o.maxMsgNums ?? 32,
    sysFlag: o.sysFlag ?? PullSysFlag.SUBSCRIPTION,
    commitOffset: o.commitOffset ?? 0,
    suspendTimeoutMillis: o.suspendTimeoutMillis ?? 0,
    subscription: o.subscription ?? "*",
    ...(o.expressionType ? { expressionType: o.expressionType } : {}),
    subVersion: 0,
  });
}

/** Pulls every message of a queue from `from` up to its max offset (bounded rounds). */
export async function pullAll(
  client: RemotingClient,
  addr: string,
  topic: string,
  queueId: number,
  from = 0,
  o: PullOptions = {},
): Promise<{ messages: MessageExt[]; codes: number[] }> {
  const messages: MessageExt[] = [];
  const codes: number[] = [];
  let offset = from;
  for (let round = 0; round < 1000; round++) {
    const res = await client.invoke(addr, pullRequest(topic, queueId, offset, o));
    codes.push(res.code);
    const next = Number(res.extFields?.nextBeginOffset);
    const max = Number(res.extFields?.maxOffset);
    if (res.code === 0 && res.body) messages.push(...decodeMessages(res.body));
    if (res.code !== 0 && res.code !== 20) break;
    offset = next;
    if (offset >= max) break;
  }
  return { messages, codes };
}

/** A replica's metadata managers (topics, subscription groups, offsets) under `dir/config`, as
 *  DLedger metadata tests hand them to ReplicatedMetadata. */
export async function replicaManagers(dir: string, logger: Logger) {
  const config = await testConfig(dir);
  const configDir = join(dir, "config");
  return {
    topics: await TopicConfigManager.load({ configDir, config, logger }),
    groups: await SubscriptionGroupManager.load({ configDir, autoCreateSubscriptionGroup: true, logger }),
    offsets: await ConsumerOffsetManager.load({ configDir }),
    configDir,
  };
}

/** A store input carrying `uniqKey` as its UNIQ_KEY (none when undefined): the de-dup tests' message. */
export function keyedInput(
  topic: string,
  uniqKey: string | undefined,
  queueId = 0,
  body = `body-${uniqKey}`,
): MessageInput {
  return {
    topic,
    queueId,
    flag: 0,
    body: Buffer.from(body),
    properties: uniqKey === undefined ? {} : { UNIQ_KEY: uniqKey },
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { host: "127.0.0.1", port: 5000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    tagsCode: 0,
    uniqKey,
  };
}
