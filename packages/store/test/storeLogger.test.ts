/**
 * The store's own logger (used when a MessageStore is opened without one): plain text by
 * default, JSON lines with TIDEMQ_LOG_FORMAT=json, as every TideMQ process logs. Checked on
 * the lines a real store writes when it opens and closes, in a child process.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const storeModule = new URL("../src/index.js", import.meta.url).href;

/** Opens a store without a logger in a child process; returns its stderr lines. */
async function storeLines(format: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-storelog-"));
  try {
    const code = `const { MessageStore } = await import(${JSON.stringify(storeModule)});
      const s = await MessageStore.open({ storePathRootDir: ${JSON.stringify(dir)}, storeHost: { host: "127.0.0.1", port: 10911 } });
      await s.shutdown();`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, TIDEMQ_LOG_FORMAT: format, TIDEMQ_LOG_LEVEL: "info" },
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exitCode = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    clearTimeout(killer);
    assert.equal(exitCode, 0, err);
    return err.split("\n").filter((l) => l !== "");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("TIDEMQ_LOG_FORMAT=json: the store's own lines are JSON objects with time, level, component, message", async () => {
  const lines = await storeLines("json");
  assert.ok(lines.length >= 1, "the store says it opened");
  for (const l of lines) {
    const o = JSON.parse(l) as Record<string, unknown>;
    assert.ok(!Number.isNaN(Date.parse(String(o.time))), l);
    assert.match(String(o.level), /^(info|warn|error)$/);
    assert.equal(o.component, "store");
    assert.equal(typeof o.message, "string");
  }
  assert.ok(lines.some((l) => (JSON.parse(l) as { message: string }).message.startsWith("store opened")));
});

test("default format: the store's own lines are `<ISO time> <LEVEL> [store] message`", async () => {
  const lines = await storeLines("");
  assert.ok(
    lines.some((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO \[store\] store opened/.test(l)),
    lines.join("\n"),
  );
});
