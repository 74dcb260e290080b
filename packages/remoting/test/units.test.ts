import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  FrameWriter,
  formatAddress,
  MAX_OPAQUE,
  OpaqueSequence,
  parseAddress,
  ReconnectBackoff,
  type WriteSink,
} from "../src/index.js";

/** A sink recording what reaches "the socket"; accepts until `capacity` bytes are buffered. */
class RecordingSink implements WriteSink {
  writes: Buffer[][] = [];
  private current: Buffer[] | undefined;
  private corked = 0;
  writableLength = 0;
  callbacks: Array<() => void> = [];
  constructor(private readonly capacity = Number.POSITIVE_INFINITY) {}
  write(chunk: Buffer, callback?: (err?: Error | null) => void): boolean {
    if (this.corked > 0) this.current!.push(chunk);
    else this.writes.push([chunk]);
    this.writableLength += chunk.length;
    if (callback) this.callbacks.push(() => callback());
    return this.writableLength < this.capacity;
  }
  cork(): void {
    if (this.corked++ === 0) this.current = [];
  }
  uncork(): void {
    if (--this.corked === 0) {
      this.writes.push(this.current!);
      this.current = undefined;
    }
  }
  /** The kernel took everything. */
  drainAll(): void {
    this.writableLength = 0;
    const cbs = this.callbacks;
    this.callbacks = [];
    for (const cb of cbs) cb();
  }
}

function manualWriter(
  sink: WriteSink,
  maxQueuedBytes = 1 << 20,
  onOverflow = () => {},
  writeNowBytes = Number.POSITIVE_INFINITY,
) {
  const scheduled: FrameWriter[] = [];
  const writer = new FrameWriter(sink, {
    maxQueuedBytes,
    onOverflow,
    writeNowBytes,
    schedule: (w) => scheduled.push(w),
  });
  return { writer, scheduled };
}

test("frames queued in one turn leave in one socket write, in order", () => {
  const sink = new RecordingSink();
  const { writer, scheduled } = manualWriter(sink);
  for (let i = 0; i < 100; i++) writer.enqueue([Buffer.from([i])]);
  assert.equal(scheduled.length, 1, "one flush scheduled for the whole turn");
  assert.equal(writer.queuedBytes, 100);
  writer.flush();
  assert.equal(sink.writes.length, 1);
  assert.equal(writer.writeCalls, 1);
  assert.deepEqual(
    [...sink.writes[0]![0]!],
    Array.from({ length: 100 }, (_, i) => i),
  );
});

test("a large body reaches the socket by reference, not copied, in a single corked write", () => {
  const sink = new RecordingSink();
  const { writer } = manualWriter(sink, 64 << 20);
  const body = Buffer.alloc(1 << 20, 9);
  const head = Buffer.from("head");
  writer.enqueue([Buffer.from("small")]);
  writer.enqueue([head, body]);
  writer.enqueue([Buffer.from("tail")]);
  writer.flush();
  assert.equal(sink.writes.length, 1);
  const chunks = sink.writes[0]!;
  assert.equal(chunks.length, 3);
  assert.equal(chunks[0]!.toString(), "smallhead");
  assert.equal(chunks[1], body, "same Buffer instance");
  assert.equal(chunks[2]!.toString(), "tail");
});

test("a turn's frames are written as soon as they reach writeNowBytes, the rest at the end of the turn", () => {
  const sink = new RecordingSink();
  const { writer, scheduled } = manualWriter(sink, 1 << 20, () => {}, 100);
  for (let i = 0; i < 25; i++) writer.enqueue([Buffer.alloc(10, i)]);
  assert.equal(sink.writes.length, 2, "written at 100 and 200 queued bytes");
  assert.equal(writer.queuedBytes - sink.writableLength, 50, "50 bytes still queued here");
  assert.equal(scheduled.length, 3, "the end-of-turn flush is re-armed after each early write");
  writer.flush();
  const bytes = Buffer.concat(sink.writes.flat());
  assert.equal(bytes.length, 250);
  for (let i = 0; i < 25; i++) assert.equal(bytes[i * 10], i, "in order");
});

test("after the socket refuses more, frames wait for drain; the queue limit triggers overflow once", () => {
  const sink = new RecordingSink(10);
  const overflows: Array<[number, number]> = [];
  const { writer, scheduled } = manualWriter(sink, 30, () => void overflows.push([writer.queuedBytes, 0]));
  writer.enqueue([Buffer.alloc(12)]);
  writer.flush(); // sink now over capacity: write returned false
  writer.enqueue([Buffer.alloc(8)]);
  assert.equal(scheduled.length, 1, "no flush is scheduled while waiting for drain");
  writer.flush();
  assert.equal(sink.writes.length, 1, "nothing handed to a full socket");
  assert.equal(writer.queuedBytes, 20);
  sink.drainAll();
  writer.onDrain();
  assert.equal(sink.writes.length, 2);
  assert.equal(writer.queuedBytes, 8);
  assert.equal(writer.enqueue([Buffer.alloc(30)]), false, "8 + 30 > 30");
  assert.equal(overflows.length, 1);
  assert.equal(writer.enqueue([Buffer.alloc(1)]), false, "a failed writer takes nothing");
  assert.equal(overflows.length, 1);
});

test("an empty queue takes one frame bigger than the limit", () => {
  const sink = new RecordingSink();
  const { writer } = manualWriter(sink, 10);
  assert.equal(writer.enqueue([Buffer.alloc(100)]), true);
});

test("write callbacks run after the flush reaches the socket; fail() errors the waiting ones", () => {
  const sink = new RecordingSink();
  const { writer } = manualWriter(sink);
  const seen: string[] = [];
  writer.enqueue([Buffer.from("a")], (err) => seen.push(err ? "a:err" : "a"));
  writer.flush();
  writer.enqueue([Buffer.from("b")], (err) => seen.push(err ? `b:${err.message}` : "b"));
  sink.drainAll();
  writer.fail(new Error("gone"));
  assert.deepEqual(seen, ["a", "b:gone"]);
});

test("reconnect back-off doubles from 100 ms to 5 s, minus jitter, and resets", () => {
  const noJitter = new ReconnectBackoff({ random: () => 0 });
  const delays = Array.from({ length: 9 }, () => noJitter.nextDelayMs());
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  noJitter.reset();
  assert.equal(noJitter.nextDelayMs(), 100);
  const fullJitter = new ReconnectBackoff({ random: () => 0.999999 });
  assert.equal(fullJitter.nextDelayMs(), 80);
});

test("opaque ids start at 1 and wrap before 2^31", () => {
  const seq = new OpaqueSequence();
  assert.equal(seq.next(), 1);
  assert.equal(seq.next(), 2);
  const nearEnd = new OpaqueSequence(MAX_OPAQUE);
  assert.equal(nearEnd.next(), MAX_OPAQUE);
  assert.equal(nearEnd.next(), 1);
  assert.ok(MAX_OPAQUE < 2 ** 31);
});

test("addresses: host:port, IPv4, bracketed and bare IPv6; bad ones are rejected", () => {
  assert.deepEqual(parseAddress("localhost:9876"), { host: "localhost", port: 9876 });
  assert.deepEqual(parseAddress(" 10.0.0.1:10911 "), { host: "10.0.0.1", port: 10911 });
  assert.deepEqual(parseAddress("[::1]:9876"), { host: "::1", port: 9876 });
  assert.deepEqual(parseAddress("fe80::1:9876"), { host: "fe80::1", port: 9876 });
  for (const bad of [
    "",
    "localhost",
    ":9876",
    "host:",
    "host:0",
    "host:65536",
    "host:12ab",
    "[::1:9876",
    "[zz]:1",
  ]) {
    assert.throws(() => parseAddress(bad), TypeError, bad);
  }
  assert.equal(formatAddress("::1", 9876), "[::1]:9876");
  assert.equal(formatAddress("127.0.0.1", 1), "127.0.0.1:1");
});

test("createLogger writes ISO-stamped lines to stderr, honours the level and TIDEMQ_LOG_LEVEL", () => {
  const index = fileURLToPath(new URL("../src/index.js", import.meta.url));
  const script = `
    const { createLogger } = await import(${JSON.stringify(index)});
    const a = createLogger("alpha");
    a.debug("d1"); a.info("i1"); a.warn("w1");
    const s = createLogger("quiet", "silent");
    s.error("never");
    createLogger("beta", "debug").debug("d2");
  `;
  const run = (level: string | undefined) =>
    spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, TIDEMQ_LOG_LEVEL: level },
      encoding: "utf8",
      timeout: 20_000,
    });
  const info = run(undefined);
  assert.equal(info.status, 0, info.stderr);
  const lines = info.stderr.trim().split("\n");
  assert.equal(lines.length, 3, info.stderr);
  assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO +\[alpha\] i1$/);
  assert.match(lines[1]!, /WARN +\[alpha\] w1$/);
  assert.match(lines[2]!, /DEBUG \[beta\] d2$/);
  assert.ok(!info.stderr.includes("never"));
  const warnOnly = run("warn");
  assert.deepEqual(
    warnOnly.stderr
      .trim()
      .split("\n")
      .map((l) => l.replace(/^\S+ /, "")),
    ["WARN  [alpha] w1", "DEBUG [beta] d2"],
  );
  assert.equal(
    run("silent")
      .stderr.split("\n")
      .filter((l) => l.includes("[alpha]")).length,
    0,
  );
});
