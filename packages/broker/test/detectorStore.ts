import { join } from "node:path";
import type { Logger } from "@tidemq/remoting";
import { MessageStore } from "@tidemq/store";
import { DuplicateDetector } from "../src/dedup/DuplicateDetector.js";
import { removeDir, tempDir } from "./helpers.js";

/**
 * Runs `body` with a fresh store (1 MiB segments, in a temp dir) and a duplicate detector over
 * it (10 min, 1,000 entries, no rebuild), then shuts the store down and removes the dir.
 */
export async function withDetectorStore(
  name: string,
  logger: Logger,
  body: (store: MessageStore, d: DuplicateDetector) => Promise<void>,
): Promise<void> {
  const dir = await tempDir(name);
  const store = await MessageStore.open({
    storePathRootDir: join(dir, "store"),
    mappedFileSizeCommitLog: 1024 * 1024,
    storeHost: { host: "127.0.0.1", port: 10911 },
    logger,
  });
  try {
    const d = new DuplicateDetector({
      windowSeconds: 600,
      maxEntries: 1000,
      rebuildMaxBytes: 0,
      store,
      logger,
    });
    await body(store, d);
  } finally {
    await store.shutdown();
    await removeDir(dir);
  }
}
