import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type MessageInput, MessageStore, type MessageStoreConfig } from "../src/index.js";
import type { Logger } from "../src/Logger.js";

export async function tempDir(prefix = "tidemq-store-"): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true });
}

/** A logger that keeps lines so tests can assert on what recovery reported. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (lvl: string) => (m: string) => {
    lines.push(`${lvl} ${m}`);
    if (process.env.STORE_TEST_LOG) process.stderr.write(`${lvl} ${m}\n`);
  };
  return { lines, debug: add("DEBUG"), info: add("INFO"), warn: add("WARN"), error: add("ERROR") };
}

export function storeConfig(dir: string, extra: Partial<MessageStoreConfig> = {}): MessageStoreConfig {
  return {
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 1024 * 1024,
    consumeQueueEntriesPerFile: 1000,
    storeHost: { host: "10.1.2.3", port: 10911 },
    writeBlockBytes: 256 * 1024,
    maxTailCacheBytes: 1024 * 1024,
    maxIndexEntriesPerFile: 5000,
    indexHashSlotNum: 1031,
    logger: memoryLogger(),
    ...extra,
  };
}

export function openStore(dir: string, extra: Partial<MessageStoreConfig> = {}): Promise<MessageStore> {
  return MessageStore.open(storeConfig(dir, extra));
}

export function msg(
  topic: string,
  queueId: number,
  body: Buffer | string,
  props: Record<string, string> = {},
): MessageInput {
  return {
    topic,
    queueId,
    flag: 0,
    body: typeof body === "string" ? Buffer.from(body) : body,
    properties: props,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    bornHost: { host: "192.168.0.7", port: 40000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  };
}

/** Deterministic PRNG (mulberry32) so every failure replays from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pseudo-random bytes from a seed, cheap enough for MiB-sized bodies. */
export function bodyBytes(seed: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed | 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  for (let i = size - (size % 4); i < size; i++) b[i] = i & 0xff;
  return b;
}
