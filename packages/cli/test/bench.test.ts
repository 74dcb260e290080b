/**
 * `tidemq bench`: the statistics and loops driven directly, then the real executable as child
 * processes against a NameServer and a broker started in this process on ephemeral ports.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { HEADER_BYTES, makeTemplate, readHeader, stampBody } from "../src/bench/BenchPayload.js";
import { ConsumerStats } from "../src/bench/ConsumerStats.js";
import { LatencyHistogram } from "../src/bench/LatencyHistogram.js";
import { parseConsumerArgs, parseProducerArgs, UsageError } from "../src/bench/options.js";
import { type BenchMessage, ProducerBench } from "../src/bench/ProducerBench.js";
import { startTestCluster, type TestCluster } from "./cluster.js";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));

// ---------------------------------------------------------------- pure parts

test("LatencyHistogram: percentiles within 0.2 % of the exact ones, min/max/avg exact", () => {
  const h = new LatencyHistogram();
  const values: number[] = [];
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < 20_000; i++) {
    // Spread over 1 µs .. ~10 s, log-uniform, as latencies are.
    const v = Math.round(10 ** (rnd() * 7));
    values.push(v);
    h.record(v);
  }
  values.sort((a, b) => a - b);
  for (const p of [50, 90, 99, 99.9]) {
    const exact = values[Math.ceil((p / 100) * values.length) - 1]!;
    const got = h.percentileUs(p);
    assert.ok(Math.abs(got - exact) <= exact * 0.002 + 1, `p${p}: got ${got}, exact ${exact}`);
  }
  const s = h.summary();
  assert.equal(s.count, 20_000);
  assert.equal(s.min, values[0]! / 1000);
  assert.equal(s.max, values.at(-1)! / 1000);
  const avg = values.reduce((a, b) => a + b, 0) / values.length;
  assert.equal(s.avg, Math.round(avg) / 1000);

  const other = new LatencyHistogram();
  other.record(50_000_000);
  h.add(other);
  assert.equal(h.count, 20_001);
  assert.equal(h.summary().max, 50_000);
  h.reset();
  assert.deepEqual(h.summary(), { count: 0, min: 0, avg: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  h.record(-5);
  h.record(Number.NaN);
  h.record(1e15);
  assert.equal(h.count, 3);
  assert.equal(h.summary().min, 0);
  assert.equal(h.summary().max, 0x7fffffff / 1000);
});

test("bench payload: header round trip; short bodies carry none", () => {
  const t = makeTemplate(500, 0xdeadbeef);
  const before = Date.now();
  const b = stampBody(t, 41);
  assert.equal(b.length, 500);
  const h = readHeader(b)!;
  assert.equal(h.runId, 0xdeadbeef);
  assert.equal(h.seq, 41);
  assert.ok(h.sentMs >= before - 1 && h.sentMs <= Date.now() + 1);
  assert.equal(readHeader(stampBody(makeTemplate(HEADER_BYTES - 1, 1), 1)), undefined);
  assert.equal(readHeader(Buffer.from("hello world, not a bench body")), undefined);
});

test("options: RocketMQ-style defaults and flags; bad values are usage errors", () => {
  const p = parseProducerArgs([]);
  assert.equal(p.namesrv, "127.0.0.1:9876");
  assert.equal(p.topic, "BenchmarkTest");
  assert.equal(p.size, 500);
  assert.equal(p.mode, "sync");
  assert.equal(p.keys, false);
  const q = parseProducerArgs(
    "-n h:1 -t T -s 100 -w 8 -b 4 -d 5 -c 99 -k --tag X --async --json -q 2".split(" "),
  );
  assert.deepEqual(
    [
      q.namesrv,
      q.topic,
      q.size,
      q.concurrency,
      q.batch,
      q.durationSec,
      q.count,
      q.keys,
      q.tag,
      q.mode,
      q.json,
    ],
    ["h:1", "T", 100, 8, 4, 5, 99, true, "X", "async", true],
  );
  assert.equal(q.createQueues, 2);
  assert.equal(parseProducerArgs(["-k", "false"]).keys, false);
  assert.equal(parseProducerArgs(["-k", "true", "-s", "7"]).size, 7);
  assert.throws(() => parseProducerArgs(["-s", "abc"]), UsageError);
  assert.throws(() => parseProducerArgs(["-w", "0"]), UsageError);
  assert.throws(() => parseProducerArgs(["--bogus"]), UsageError);
  assert.throws(() => parseProducerArgs(["-s", "4194304", "-b", "2"]), UsageError);
  const c = parseConsumerArgs(["-g", "G", "--from", "first", "-c", "10"], () => 0.5);
  assert.deepEqual([c.group, c.from, c.count, c.expression], ["G", "first", 10, "*"]);
  assert.equal(parseConsumerArgs([], () => 0.1234).group, "benchmark_consumer_1234");
  assert.throws(() => parseConsumerArgs(["--from", "middle"]), UsageError);
});

for (const mode of ["sync", "async"] as const) {
  test(`ProducerBench (${mode}): exact count, never more than the window in flight, failures counted`, async () => {
    let inflight = 0;
    let peak = 0;
    let calls = 0;
    const seqs: number[] = [];
    const send = async (msgs: BenchMessage[]): Promise<{ sendStatus: string }> => {
      inflight++;
      peak = Math.max(peak, inflight);
      const n = calls++;
      for (const m of msgs) seqs.push(readHeader(m.body)!.seq);
      await new Promise((r) => setImmediate(r));
      inflight--;
      if (n % 50 === 7) throw new Error("boom");
      return { sendStatus: n % 50 === 9 ? "FLUSH_DISK_TIMEOUT" : "SEND_OK" };
    };
    const bench = new ProducerBench(
      { size: 64, concurrency: 5, batch: 3, keys: true, mode, count: 1000, durationSec: 30, runId: 7 },
      send,
    );
    const reason = await bench.run();
    assert.equal(reason, "count");
    assert.equal(peak, 5);
    assert.equal(inflight, 0);
    const t = bench.totals();
    assert.equal(t.attempted, 1000);
    assert.equal(t.sent + t.sendFailed + t.responseFailed, 1000);
    assert.equal(calls, Math.ceil(1000 / 3));
    assert.equal(t.sendFailed, 7 * 3); // calls 7, 57, …, 307
    assert.equal(t.responseFailed, 7 * 3);
    assert.equal(t.firstError, "boom");
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.equal(t.rt.count, calls - 14);
    const p = bench.takePeriod();
    assert.equal(p.sent, t.sent);
    assert.equal(bench.takePeriod().sent, 0);
  });
}

test("ProducerBench: stop() ends a run without a count once the sends in flight settle", async () => {
  const pending: Array<() => void> = [];
  const bench = new ProducerBench(
    {
      size: 10,
      concurrency: 4,
      batch: 1,
      keys: false,
      mode: "async",
      count: undefined,
      durationSec: undefined,
      runId: 1,
    },
    () => new Promise<{ sendStatus: string }>((r) => pending.push(() => r({ sendStatus: "SEND_OK" }))),
  );
  const run = bench.run();
  assert.equal(bench.inflightCount, 4);
  bench.stop("signal");
  for (const f of pending.splice(0)) f();
  assert.equal(await run, "signal");
  assert.equal(bench.totals().sent, 4);
});

test("ConsumerStats: latency from the body header or bornTimestamp; duplicates per run", () => {
  const s = new ConsumerStats();
  const t = makeTemplate(100, 9);
  const a = stampBody(t, 0);
  const sent = readHeader(a)!.sentMs;
  s.record(a, 0, sent + 2.5);
  s.record(a, 0, sent + 3.5); // same run + seq: a duplicate
  const other = stampBody(makeTemplate(100, 10), 0); // other run, same seq: not a duplicate
  s.record(other, 0, readHeader(other)!.sentMs + 1);
  s.record(Buffer.from("plain"), 1000, 1004);
  const late = stampBody(t, 5000); // grows the seen-table
  s.record(late, 0, readHeader(late)!.sentMs + 1);
  const tot = s.totals();
  assert.equal(tot.received, 5);
  assert.equal(tot.duplicates, 1);
  assert.equal(tot.fromBornTimestamp, 1);
  assert.equal(tot.e2e.max, 4);
  assert.ok(Math.abs(tot.e2e.min - 1) < 0.01);
  assert.equal(s.takePeriod().received, 5);
  assert.equal(s.takePeriod().received, 0);
});

// ---------------------------------------------------------------- real processes

let nsAddr: string;
let cluster: string;
let testCluster: TestCluster;
let children: Set<ChildProcess>;

before(async () => {
  testCluster = await startTestCluster("tidemq-bench-");
  ({ nsAddr, cluster, children } = testCluster);
});

after(async () => {
  await testCluster?.stop();
});

interface Run {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  text: string[];
  stderr: string[];
  /** Resolves with the first JSON line matching `pred`. */
  waitLine(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs: number,
  ): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function bench(args: string[], timeoutMs: number): Run {
  const child = spawn(process.execPath, [TIDEMQ, "bench", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const lines: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (l) => {
    text.push(l);
    if (l.startsWith("{")) lines.push(JSON.parse(l) as Record<string, unknown>);
    for (const w of waiters) w();
  });
  createInterface({ input: child.stderr! }).on("line", (l) => stderr.push(l));
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(killer);
      children.delete(child);
      for (const w of waiters) w();
      resolve(code);
    }),
  );
  const waitLine: Run["waitLine"] = (pred, ms) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(
            new Error(`bench exited (${child.exitCode}) without the line; stderr: ${stderr.join("\n")}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`no matching line in ${ms} ms; stdout: ${text.join("\n")}; stderr: ${stderr.join("\n")}`),
        );
      }, ms);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { child, lines, text, stderr, waitLine, exited };
}

function num(v: unknown): number {
  assert.equal(typeof v, "number", `expected a number, got ${JSON.stringify(v)}`);
  return v as number;
}

test("bench consumer + producer (--json): 2,000 messages, per-period lines and summaries agree", async () => {
  const topic = "BenchE2E";
  const consumer = bench(
    [
      "consumer",
      "-n",
      nsAddr,
      "-t",
      topic,
      "-g",
      "BenchG1",
      "-c",
      "2000",
      "-q",
      "2",
      "-C",
      cluster,
      "--json",
    ],
    50_000,
  );
  try {
    const ready = await consumer.waitLine((l) => l.type === "ready", 20_000);
    assert.equal(ready.group, "BenchG1");
    const producer = bench(
      [
        "producer",
        "-n",
        nsAddr,
        "-t",
        topic,
        "-c",
        "2000",
        "-w",
        "16",
        "-k",
        "--tag",
        "TagA",
        "--json",
        "--interval",
        "200",
      ],
      40_000,
    );
    assert.equal(await producer.exited, 0, producer.stderr.join("\n"));
    const start = producer.lines.find((l) => l.type === "start")!;
    assert.equal(start.size, 500);
    const ticks = producer.lines.filter((l) => l.type === "tick");
    assert.ok(ticks.length >= 1, "at least one periodic line");
    for (const t of ticks) {
      const rt = t.rt as Record<string, number>;
      assert.ok(num(t.tps) >= 0 && num(t.total) <= 2000);
      if (num(t.tps) > 0) assert.ok(rt.max! >= rt.p99! && rt.p99! >= rt.p50! && rt.avg! > 0);
      assert.equal(t.sendFailed, 0);
    }
    const sum = producer.lines.find((l) => l.type === "summary")!;
    assert.equal(sum.stoppedBy, "count");
    assert.equal(sum.sent, 2000);
    assert.equal(sum.attempted, 2000);
    assert.equal(sum.sendFailed, 0);
    assert.equal(sum.responseFailed, 0);
    assert.ok(num(sum.tps) > 0);
    const rt = sum.rt as Record<string, number>;
    assert.equal(rt.count, 2000);
    assert.ok(rt.min! > 0 && rt.min! <= rt.p50! && rt.p50! <= rt.p99! && rt.p99! <= rt.max!);

    assert.equal(await consumer.exited, 0, consumer.stderr.join("\n"));
    const cs = consumer.lines.find((l) => l.type === "summary")!;
    assert.equal(cs.stoppedBy, "count");
    assert.equal(cs.received, 2000);
    assert.equal(cs.duplicates, 0);
    assert.equal(cs.fromBornTimestamp, 0);
    const e2e = cs.e2e as Record<string, number>;
    assert.equal(e2e.count, 2000);
    // e2e is producer wall clock to consumer wall clock (performance.timeOrigin + now() in two
    // processes): the two readings of the clock may differ by a little, so the fastest delivery
    // can come out 0 (the histogram counts a negative as 0). Its order statistics cannot.
    assert.ok(e2e.min! >= 0 && e2e.min! <= e2e.p50! && e2e.p50! <= e2e.p99! && e2e.p99! <= e2e.max!);
    assert.ok(e2e.p50! > 0, `e2e p50 ${e2e.p50} ms`);
    assert.ok(e2e.max! < 30_000, `e2e max ${e2e.max} ms`);
    const cticks = consumer.lines.filter((l) => l.type === "tick");
    assert.ok(cticks.length >= 1);
    assert.equal(cticks.at(-1)!.total, 2000, "the period lines cover every message");
    for (const t of cticks) {
      const l = t.e2e as Record<string, number>;
      if (num(t.tps) > 0) assert.ok(l.max! >= l.p99! && l.p99! >= l.p50! && l.p50! > 0);
    }
  } finally {
    consumer.child.kill("SIGKILL");
  }
});

test("bench producer --async with batches and bodies too small for a header; text output", async () => {
  const topic = "BenchBatch";
  const producer = bench(
    [
      "producer",
      "-n",
      nsAddr,
      "-t",
      topic,
      "-c",
      "1000",
      "-b",
      "10",
      "-w",
      "4",
      "--async",
      "-s",
      "16",
      "-q",
      "1",
      "-C",
      cluster,
    ],
    40_000,
  );
  assert.equal(await producer.exited, 0, producer.stderr.join("\n"));
  const out = producer.text.join("\n");
  assert.match(out, /bench producer: topic BenchBatch, 16-byte bodies, 4 in flight \(async\), batches of 10/);
  assert.match(
    out,
    /Summary \(stopped by count\): sent 1,000 of 1,000 in [\d.]+ s = [\d,]+ msg\/s; send failed 0, response failed 0/,
  );
  assert.match(out, /RT\(ms\) per send call: avg [\d.]+ {2}p50 [\d.]+ {2}p90 [\d.]+ {2}p99 [\d.]+/);
  assert.ok(!out.includes("\x1b[K"), "no progress line when stdout is not a terminal");

  // The consumer falls back to bornTimestamp for bodies without the bench header.
  const consumer = bench(
    ["consumer", "-n", nsAddr, "-t", topic, "-g", "BenchG2", "--from", "first", "-c", "1000", "--json"],
    40_000,
  );
  try {
    assert.equal(await consumer.exited, 0, consumer.stderr.join("\n"));
    const cs = consumer.lines.find((l) => l.type === "summary")!;
    assert.equal(cs.received, 1000);
    assert.equal(cs.fromBornTimestamp, 1000);
  } finally {
    consumer.child.kill("SIGKILL");
  }
});

test("bench: a bad option is one line on stderr and exit code 2; --help prints the flags", async () => {
  const bad = bench(["producer", "-s", "lots"], 20_000);
  assert.equal(await bad.exited, 2);
  assert.deepEqual(bad.stderr, ["tidemq bench: option -s needs an integer"]);
  const help = bench(["consumer", "--help"], 20_000);
  assert.equal(await help.exited, 0);
  assert.match(help.text.join("\n"), /-g, --group NAME/);
});
