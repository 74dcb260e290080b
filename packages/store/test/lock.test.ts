import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { MessageStore, StoreLockedError } from "../src/index.js";
import { removeDir, tempDir } from "./helpers.js";

const storeHost = { host: "127.0.0.1", port: 10911 };

test("a store directory cannot be opened twice in one process; it can after shutdown", async () => {
  const dir = await tempDir("lock");
  try {
    const a = await MessageStore.open({ storePathRootDir: dir, storeHost });
    await assert.rejects(MessageStore.open({ storePathRootDir: dir, storeHost }), StoreLockedError);
    await a.shutdown();
    const b = await MessageStore.open({ storePathRootDir: dir, storeHost });
    await b.shutdown();
  } finally {
    await removeDir(dir);
  }
});

test("an abort marker naming another live node process refuses the open; a dead one is crash recovery", async () => {
  const dir = await tempDir("lock-pid");
  // A live node process that is not us.
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", reject);
    });
    await writeFile(join(dir, "abort"), String(child.pid));
    await assert.rejects(MessageStore.open({ storePathRootDir: dir, storeHost }), (err: Error) => {
      assert.ok(err instanceof StoreLockedError);
      assert.match(err.message, new RegExp(`in use by process ${child.pid}`));
      return true;
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const store = await MessageStore.open({ storePathRootDir: dir, storeHost });
    await store.shutdown();
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await removeDir(dir);
  }
});
