/*
 * Power-cut test over lossyfs (/work/shared/tools/lossyfs.py, a FUSE passthrough that keeps
 * unsynced writes in memory and drops them on `echo crash > MOUNT/.lossyfs-control`).
 *
 * This file is two things, because the test and bench/store-powercut.mjs share the round:
 *  - run as a script (`node powercut-child.js <dir> <seed> <SYNC_FLUSH|ASYNC_FLUSH>`) it is
 *    the child: it opens a store under the mount and appends (16 appenders, single and batch
 *    puts), printing every acknowledged message on stdout
 *    ("ack <commitLogOffset> <queueId> <queueOffset> <sha1> <bodyLength>") until killed;
 *  - imported, it exports the parent side: `findLossyfs` and `runPowercutRound`.
 *
 * One round: mount lossyfs, run the child, kill -9 it at a random moment, `crash` (every
 * unsynced write is gone, as in a power cut), reopen the store in this process and check it;
 * append more with SYNC_FLUSH, stop like a crash, `crash` again, reopen and check again.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeMessages, decodeOffsetMsgId } from "@tidemq/protocol";
import { type FlushDiskType, MessageStore } from "../src/index.js";
import { type Ack, ackLines, childLogger, parseAcks, sha1 } from "./acks.js";
import { bodyBytes, memoryLogger, msg, prng, storeConfig } from "./helpers.js";

const TOPIC = "Power";
const QUEUES = 4;
const SEGMENT = 1024 * 1024; // storeConfig's mappedFileSizeCommitLog

// ---------------------------------------------------------------------------- child

async function childMain(dir: string, seed: number, mode: FlushDiskType): Promise<void> {
  const rnd = prng(seed);
  const store = await MessageStore.open(
    storeConfig(dir, {
      flushDiskType: mode,
      logger: childLogger,
      flushIntervalConsumeQueue: 100,
      flushIntervalCommitLog: 200,
    }),
  );
  process.stdout.write("ready\n");
  let n = 0;
  const appender = async (id: number): Promise<void> => {
    // Bounded: the parent kills the child long before this ends.
    for (let i = 0; i < 1_000_000; i++) {
      const queueId = id % QUEUES;
      const count = rnd() < 0.3 ? 2 + Math.floor(rnd() * 5) : 1;
      const bodies = Array.from({ length: count }, () => {
        const size = rnd() < 0.02 ? 100_000 + Math.floor(rnd() * 200_000) : 50 + Math.floor(rnd() * 6000);
        return bodyBytes(seed * 10_000_000 + n++, size);
      });
      const inputs = bodies.map((b) => msg(TOPIC, queueId, b, { KEYS: `p${seed}-${n}` }));
      let r: Awaited<ReturnType<MessageStore["putMessages"]>>;
      try {
        r = count === 1 ? await store.putMessage(inputs[0]!) : await store.putMessages(inputs);
      } catch (err) {
        process.stderr.write(`appender ${id}: ${(err as Error).message}\n`);
        return;
      }
      if (r.status !== "PUT_OK") continue; // not acknowledged as durable
      // Synchronous on Linux pipes: the line is in the pipe before the next append starts.
      process.stdout.write(ackLines(r, queueId, bodies));
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, i) => appender(i)));
}

const thisFile = fileURLToPath(import.meta.url);
if (process.argv[1] && path.resolve(process.argv[1]) === thisFile) {
  const [dir, seedText, mode] = process.argv.slice(2);
  if (!dir || !seedText || (mode !== "SYNC_FLUSH" && mode !== "ASYNC_FLUSH")) {
    process.stderr.write("usage: node powercut-child.js <dir> <seed> <SYNC_FLUSH|ASYNC_FLUSH>\n");
    process.exit(2);
  }
  await childMain(dir, Number(seedText), mode);
}

// ---------------------------------------------------------------------------- lossyfs

export interface Lossyfs {
  python: string;
  script: string;
}

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err?.message ?? "") });
    });
  });
}

function onPath(name: string): boolean {
  for (const d of (process.env.PATH ?? "").split(":")) {
    if (!d) continue;
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The repository root, from dist/test/ (compiled) or test/ (source). */
export function repoRoot(): string {
  const here = path.dirname(thisFile);
  return path.basename(path.dirname(here)) === "dist"
    ? path.resolve(here, "../../../..")
    : path.resolve(here, "../../..");
}

/**
 * lossyfs and what it needs, or why it cannot run. A python3 earlier on PATH (pyenv) may
 * lack Debian's python3-fusepy, so /usr/bin/python3 is tried too.
 */
export async function findLossyfs(root = repoRoot()): Promise<Lossyfs | { unavailable: string }> {
  const script = path.resolve(root, "../shared/tools/lossyfs.py");
  if (!fs.existsSync(script)) return { unavailable: `${script} not found` };
  if (process.platform !== "linux") return { unavailable: "not Linux" };
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return { unavailable: "not root" };
  if (!fs.existsSync("/dev/fuse")) return { unavailable: "no /dev/fuse" };
  if (!onPath("fusermount3")) return { unavailable: "no fusermount3" };
  for (const python of ["python3", "/usr/bin/python3"]) {
    const r = await run(python, ["-c", "import fusepy"], 10_000);
    if (r.code === 0) return { python, script };
  }
  return { unavailable: "python3 cannot import fusepy" };
}

interface Mount {
  backing: string;
  mnt: string;
  pid?: number;
}

const ctlPath = (m: Mount) => path.join(m.mnt, ".lossyfs-control");

function isMounted(mnt: string): boolean {
  const info = fs.readFileSync("/proc/self/mountinfo", "utf8");
  return info.split("\n").some((l) => l.split(" ")[4] === mnt);
}

/** `unsynced_files=N unsynced_bytes=N fsyncs=N crashes=N pid=N`, parsed. */
async function lossyStatus(m: Mount): Promise<Record<string, number>> {
  const text = await fs.promises.readFile(ctlPath(m), "utf8");
  const out: Record<string, number> = {};
  for (const kv of text.trim().split(/\s+/)) {
    const [k, v] = kv.split("=");
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

async function mount(tool: Lossyfs): Promise<Mount> {
  const backing = await fs.promises.mkdtemp(path.join(os.tmpdir(), "tidemq-powercut-backing-"));
  const mnt = await fs.promises.realpath(
    await fs.promises.mkdtemp(path.join(os.tmpdir(), "tidemq-powercut-mnt-")),
  );
  const m: Mount = { backing, mnt };
  // Returns once mounted (the daemon forks off).
  const r = await run(tool.python, [tool.script, backing, mnt], 20_000);
  if (r.code !== 0 || !isMounted(mnt)) {
    await unmount(m);
    throw new Error(`lossyfs did not mount ${mnt} (exit ${r.code}): ${r.stderr.trim()}`);
  }
  try {
    m.pid = (await lossyStatus(m)).pid;
  } catch (err) {
    await unmount(m);
    throw err;
  }
  return m;
}

function isLossyfs(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("lossyfs");
  } catch {
    return false;
  }
}

/** Unmounts, makes sure the daemon is gone (by its PID), removes both directories. */
async function unmount(m: Mount): Promise<void> {
  if (isMounted(m.mnt)) {
    let r = await run("fusermount3", ["-u", m.mnt], 15_000);
    if (r.code !== 0) r = await run("fusermount3", ["-u", "-z", m.mnt], 15_000);
  }
  if (m.pid !== undefined && m.pid > 1) {
    // A clean unmount ends the daemon; wait for that briefly, then kill it.
    // The daemon is not our child: once it exits it may stay a zombie until init reaps it,
    // and kill(pid, 0) still succeeds on a zombie, so read its state instead.
    const alive = () => {
      try {
        const stat = fs.readFileSync(`/proc/${m.pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    // Only while the PID is still the daemon: once init reaped it, the PID can go to any new
    // process (pid_max is 32768 on many machines), and a SIGKILL would hit a stranger.
    if (alive() && isLossyfs(m.pid)) process.kill(m.pid, "SIGKILL");
  }
  await fs.promises.rm(m.backing, { recursive: true, force: true });
  // Never recurse into a directory that is still a mount point.
  if (!isMounted(m.mnt)) await fs.promises.rm(m.mnt, { recursive: true, force: true });
}

/** The power cut: every write not fsynced is gone. Proves it went through lossyfs. */
async function powerCut(m: Mount): Promise<number> {
  const before = await lossyStatus(m);
  await fs.promises.writeFile(ctlPath(m), "crash\n");
  const after = await lossyStatus(m);
  if (after.crashes !== (before.crashes ?? 0) + 1 || after.unsynced_bytes !== 0) {
    throw new Error(`lossyfs did not take the crash command: ${JSON.stringify(after)}`);
  }
  return before.unsynced_bytes ?? 0;
}

// ---------------------------------------------------------------------------- round

/** Segment names and sizes and the checkpoint, for failure reports. */
async function describeStore(dir: string): Promise<string> {
  try {
    const logDir = path.join(dir, "commitlog");
    const segs: string[] = [];
    for (const name of (await fs.promises.readdir(logDir)).sort()) {
      segs.push(`${name}:${(await fs.promises.stat(path.join(logDir, name))).size}`);
    }
    const cp = await fs.promises.readFile(path.join(dir, "checkpoint"), "utf8").catch(() => "(none)");
    return `commitlog [${segs.join(" ")}] checkpoint ${cp}`;
  } catch (err) {
    return `(unreadable: ${(err as Error).message})`;
  }
}

async function runChild(
  m: Mount,
  dir: string,
  seed: number,
  mode: FlushDiskType,
  killAfterMs: number,
): Promise<{ acks: Ack[]; stderr: string }> {
  const child = spawn(process.execPath, [thisFile, dir, String(seed), mode], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let stderr = "";
  let acked = false;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    if (!acked && out.includes("\nack ")) acked = true;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    if (stderr.length < 100_000) stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  try {
    // No event for "first ack written": poll with a deadline.
    const deadline = Date.now() + 20_000;
    while (!acked) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`child acknowledged nothing within 20 s: ${stderr.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, killAfterMs));
    // Then prefer a moment when written-but-unsynced data exists, so the cut takes something
    // back (most of the time group commit leaves nothing unsynced). Bounded: ~40 looks.
    for (let i = 0; i < 40; i++) {
      if (((await lossyStatus(m)).unsynced_bytes ?? 0) > 4096) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    if (child.exitCode !== null) throw new Error(`child exited by itself: ${stderr.slice(-2000)}`);
    child.kill("SIGKILL");
    // Once it has exited, none of its writes or fsyncs can still reach lossyfs.
    await exited;
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  }
  return { acks: parseAcks(out), stderr };
}

interface CheckResult {
  end: number;
  present: number;
  lost: Set<Ack>;
  messages: number;
}

/**
 * Checks a reopened store: every acknowledged message below the recovered end is present and
 * byte-identical, none is lost when `mustKeepAll`, lost ones all lie past the end (a prefix
 * survived), every record served passes its CRC, and the consume-queue entries tile the
 * commit log exactly (gaps only as blank records closing a segment).
 */
async function checkStore(
  store: MessageStore,
  acks: Map<string, Ack>,
  mustKeepAll: boolean,
): Promise<CheckResult> {
  const end = store.stats.confirmedOffset;
  const lost = new Set<Ack>();
  let present = 0;
  for (const a of acks.values()) {
    const rec = await store.lookMessageByOffset(a.offset);
    if (!rec) {
      if (mustKeepAll) {
        throw new Error(
          `acknowledged message lost: commitLogOffset ${a.offset} (segment ${Math.floor(a.offset / SEGMENT) * SEGMENT}, ` +
            `queue ${a.queueId} offset ${a.queueOffset}, ${a.length} bytes); recovered log end ${end}`,
        );
      }
      if (a.offset < end)
        throw new Error(`message at ${a.offset} below the recovered end ${end} is unreadable`);
      lost.add(a);
      continue;
    }
    if (a.offset >= end) throw new Error(`record at ${a.offset} served past the recovered end ${end}`);
    const [m] = decodeMessages(rec, { verifyCrc: true });
    if (!m || m.body.length !== a.length || sha1(m.body) !== a.sha1) {
      throw new Error(`message at ${a.offset} is not byte-identical to the acknowledged one`);
    }
    if (m.queueId !== a.queueId || m.queueOffset !== a.queueOffset) {
      throw new Error(
        `message at ${a.offset} is ${m.queueId}/${m.queueOffset}, acknowledged as ${a.queueId}/${a.queueOffset}`,
      );
    }
    present++;
  }
  // Walk every queue; collect (offset, size) of every record the consume queues point at.
  const runs: Array<[number, number]> = [];
  for (let q = 0; q < QUEUES; q++) {
    const max = store.getMaxOffsetInQueue(TOPIC, q);
    let offset = store.getMinOffsetInQueue(TOPIC, q);
    if (offset !== 0) throw new Error(`queue ${q} min offset ${offset}, expected 0`);
    for (let i = 0; i < 100_000 && offset < max; i++) {
      const g = await store.getMessage(TOPIC, q, offset, 64, undefined, 8 * 1024 * 1024);
      if (g.status !== "FOUND") throw new Error(`queue ${q} at ${offset} below max ${max}: ${g.status}`);
      const ms = decodeMessages(g.body, { verifyCrc: true }); // a torn record throws here
      if (ms.length !== g.messageCount || ms.length === 0)
        throw new Error(`queue ${q} at ${offset}: bad batch`);
      ms.forEach((m, k) => {
        if (m.queueOffset !== offset + k || m.queueId !== q || m.topic !== TOPIC) {
          throw new Error(
            `consume queue ${q} entry ${offset + k} points at ${m.topic} ${m.queueId}/${m.queueOffset} (offset ${m.commitLogOffset})`,
          );
        }
        const a = acks.get(`${q}/${m.queueOffset}`);
        if (a && !lost.has(a) && a.offset !== m.commitLogOffset) {
          throw new Error(
            `consume queue ${q} entry ${m.queueOffset} points at ${m.commitLogOffset}, acked at ${a.offset}`,
          );
        }
        runs.push([m.commitLogOffset, m.storeSize]);
      });
      offset = g.nextBeginOffset;
    }
    if (offset !== max) throw new Error(`queue ${q}: walk stopped at ${offset}, max ${max}`);
    for (const a of acks.values()) {
      if (a.queueId === q && !lost.has(a) && a.queueOffset >= max) {
        throw new Error(`acked ${q}/${a.queueOffset} is in the log but not below the queue max ${max}`);
      }
    }
  }
  runs.sort((x, y) => x[0] - y[0]);
  let pos = store.stats.commitLogMinOffset;
  for (const [off, size] of runs) {
    if (off !== pos) {
      const blankCloses = off > pos && off % SEGMENT === 0 && Math.floor(pos / SEGMENT) === off / SEGMENT - 1;
      if (!blankCloses) {
        throw new Error(`commit log [${pos}, ${off}) is not covered by any consume-queue entry`);
      }
    }
    pos = off + size;
  }
  // The log may also end with a blank record: the next record went to a segment the cut emptied.
  const blankEnds = end % SEGMENT === 0 && pos < end && Math.floor(pos / SEGMENT) === end / SEGMENT - 1;
  if (pos !== end && !blankEnds) {
    throw new Error(`consume queues cover the commit log up to ${pos}, but it ends at ${end}`);
  }
  return { end, present, lost, messages: runs.length };
}

/** Appends after recovery with SYNC_FLUSH (singles and a batch) and checks where they land. */
async function appendMore(store: MessageStore, acks: Map<string, Ack>, seed: number): Promise<number> {
  const rnd = prng(seed ^ 0x5eed);
  const end = store.stats.confirmedOffset;
  let added = 0;
  for (let i = 0; i < 12; i++) {
    const queueId = i % QUEUES;
    const count = i % 4 === 3 ? 4 : 1;
    const bodies = Array.from({ length: count }, (_, k) =>
      bodyBytes(seed * 7 + i * 10 + k, 50 + Math.floor(rnd() * 3000)),
    );
    const before = store.getMaxOffsetInQueue(TOPIC, queueId);
    const inputs = bodies.map((b) => msg(TOPIC, queueId, b));
    const r = count === 1 ? await store.putMessage(inputs[0]!) : await store.putMessages(inputs);
    if (r.status !== "PUT_OK") throw new Error(`append after recovery answered ${r.status}`);
    if (r.queueOffset !== before)
      throw new Error(`append after recovery got queue offset ${r.queueOffset}, not ${before}`);
    bodies.forEach((b, k) => {
      const offset = decodeOffsetMsgId(r.msgIds[k]!).commitLogOffset;
      if (offset < end) throw new Error(`append after recovery landed at ${offset}, below the end ${end}`);
      acks.set(`${queueId}/${before + k}`, {
        offset,
        queueId,
        queueOffset: before + k,
        sha1: sha1(b),
        length: b.length,
      });
      added++;
    });
  }
  return added;
}

export interface PowercutRoundResult {
  mode: FlushDiskType;
  seed: number;
  killAfterMs: number;
  /** Acknowledged by the child before the kill. */
  acked: number;
  /** Of those, missing after the power cut (must be 0 under SYNC_FLUSH). */
  lostAcked: number;
  /** Unsynced bytes lossyfs dropped at the first power cut. */
  droppedBytes: number;
  recoveredEnd: number;
  tornTailCut: boolean;
  appendedAfter: number;
  messagesAtEnd: number;
  ms: number;
}

/** One round on a fresh lossyfs mount; throws (naming seed and offsets) on any violation. */
export async function runPowercutRound(
  tool: Lossyfs,
  mode: FlushDiskType,
  seed: number,
): Promise<PowercutRoundResult> {
  const t0 = Date.now();
  const rnd = prng(seed);
  const killAfterMs = 50 + Math.floor(rnd() * 700);
  const m = await mount(tool);
  const dir = path.join(m.mnt, "store");
  let store: MessageStore | undefined;
  let stage = "child run";
  let logger = memoryLogger();
  try {
    const { acks: got, stderr } = await runChild(m, dir, seed, mode, killAfterMs);
    if (got.length === 0) throw new Error(`child acknowledged nothing: ${stderr.slice(-2000)}`);
    const acks = new Map<string, Ack>();
    for (const a of got) acks.set(`${a.queueId}/${a.queueOffset}`, a);
    stage = "power cut 1";
    const droppedBytes = await powerCut(m);

    stage = "reopen after power cut 1";
    store = await MessageStore.open(storeConfig(dir, { flushDiskType: "SYNC_FLUSH", logger }));
    stage = "check after power cut 1";
    const c1 = await checkStore(store, acks, mode === "SYNC_FLUSH");
    for (const a of c1.lost) acks.delete(`${a.queueId}/${a.queueOffset}`);
    const tornTailCut = logger.lines.some((l) => l.includes("truncated a torn tail"));
    stage = "appends after recovery";
    const appendedAfter = await appendMore(store, acks, seed);
    await store.halt();
    store = undefined;

    // Whatever recovery wrote (a cut tail, re-dispatched queues) must itself survive a power cut.
    stage = "power cut 2";
    await powerCut(m);
    logger = memoryLogger();
    stage = "reopen after power cut 2";
    store = await MessageStore.open(storeConfig(dir, { flushDiskType: "SYNC_FLUSH", logger }));
    stage = "check after power cut 2";
    const c2 = await checkStore(store, acks, true);
    stage = "clean shutdown";
    await store.shutdown();
    store = undefined;
    return {
      mode,
      seed,
      killAfterMs,
      acked: got.length,
      lostAcked: c1.lost.size,
      droppedBytes,
      recoveredEnd: c1.end,
      tornTailCut,
      appendedAfter,
      messagesAtEnd: c2.messages,
      ms: Date.now() - t0,
    };
  } catch (err) {
    const e = err as Error & { file?: string };
    e.message =
      `power-cut round (${mode}, seed ${seed}, kill after ${killAfterMs} ms) failed at "${stage}": ${e.message}` +
      (e.file ? `\nfile: ${e.file}` : "") +
      `\non disk after the cut: ${await describeStore(dir)}` +
      `\nstore log:\n${logger.lines.slice(-20).join("\n")}`;
    throw e;
  } finally {
    await store?.halt().catch(() => {});
    await unmount(m);
  }
}
