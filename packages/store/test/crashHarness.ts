import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { decodeMessages } from "@tidemq/protocol";
import { MessageStore } from "../src/index.js";
import { type Ack, parseAcks, sha1 } from "./acks.js";
import { memoryLogger, prng, storeConfig } from "./helpers.js";

const childPath = fileURLToPath(new URL("./crash-child.js", import.meta.url));

/** Runs the child until `killAfterMs` after it is ready, kills it with SIGKILL, returns its acks. */
async function runChild(
  dir: string,
  seed: number,
  killAfterMs: number,
): Promise<{ acks: Ack[]; stderr: string }> {
  const child = spawn(process.execPath, [childPath, dir, String(seed)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  try {
    const deadline = Date.now() + 20_000;
    while (!out.startsWith("ready\n")) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`child did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, killAfterMs));
    child.kill("SIGKILL");
    await exited;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  }
  return { acks: parseAcks(out), stderr };
}

/** Opens the store the child left, checks every acknowledged message and the consume queues. */
async function verify(
  dir: string,
  acks: Map<string, Ack>,
  clean: boolean,
): Promise<{ messages: number; truncated: boolean }> {
  const logger = memoryLogger();
  const store = await MessageStore.open(storeConfig(dir, { flushDiskType: "SYNC_FLUSH", logger }));
  try {
    for (const a of acks.values()) {
      const rec = await store.lookMessageByOffset(a.offset);
      assert.ok(rec, `acknowledged message at ${a.offset} is missing`);
      const [m] = decodeMessages(rec, { verifyCrc: true });
      assert.equal(sha1(m!.body), a.sha1, `body at ${a.offset}`);
      assert.equal(m!.queueId, a.queueId);
      assert.equal(m!.queueOffset, a.queueOffset);
    }
    // Consume queues agree with the commit log, and nothing torn is ever served.
    let messages = 0;
    for (let q = 0; q < 4; q++) {
      const max = store.getMaxOffsetInQueue("Crash", q);
      let offset = store.getMinOffsetInQueue("Crash", q);
      assert.equal(offset, 0);
      for (let i = 0; i < 100_000 && offset < max; i++) {
        const g = await store.getMessage("Crash", q, offset, 64, undefined, 8 * 1024 * 1024);
        assert.equal(g.status, "FOUND", `queue ${q} at ${offset}`);
        const ms = decodeMessages(g.body, { verifyCrc: true });
        assert.equal(ms.length, g.messageCount);
        ms.forEach((m, k) => {
          assert.equal(
            m.queueOffset,
            offset + k,
            "consume queue entry n points at the record with queue offset n",
          );
          assert.equal(m.queueId, q);
          const a = acks.get(`${q}/${m.queueOffset}`);
          if (a) assert.equal(m.commitLogOffset, a.offset);
        });
        messages += ms.length;
        offset = g.nextBeginOffset;
      }
      for (const a of acks.values())
        if (a.queueId === q) assert.ok(a.queueOffset < max, `ack ${q}/${a.queueOffset} below max ${max}`);
    }
    return { messages, truncated: logger.lines.some((l) => l.includes("truncated a torn tail")) };
  } finally {
    if (clean) await store.shutdown();
    else await store.halt();
  }
}

export interface CrashRoundsResult {
  rounds: number;
  acked: number;
  stored: number;
  truncations: number;
}

/** kill -9 rounds against one store directory; throws on the first lost or damaged message. */
export async function runCrashRounds(
  dir: string,
  rounds: number,
  seed: number,
  onRound?: (line: string) => void,
): Promise<CrashRoundsResult> {
  const rnd = prng(seed);
  const acks = new Map<string, Ack>();
  let truncations = 0;
  let stored = 0;
  for (let round = 0; round < rounds; round++) {
    const killAfter = 30 + Math.floor(rnd() * 600);
    const { acks: got, stderr } = await runChild(dir, seed * 1000 + round, killAfter);
    for (const a of got) acks.set(`${a.queueId}/${a.queueOffset}`, a);
    try {
      const v = await verify(dir, acks, round % 2 === 0);
      stored = v.messages;
      if (v.truncated) truncations++;
      onRound?.(
        `round ${round + 1}: killed after ${killAfter} ms, ${got.length} new acks, ${acks.size} acked in total, ${v.messages} in queues${v.truncated ? ", torn tail cut" : ""}`,
      );
    } catch (err) {
      (err as Error).message =
        `crash round ${round + 1} (seed ${seed}): ${(err as Error).message}\nchild stderr: ${stderr.slice(-2000)}`;
      throw err;
    }
  }
  return { rounds, acked: acks.size, stored, truncations };
}
