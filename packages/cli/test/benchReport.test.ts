/**
 * `tidemq bench producer --report`: the /proc and Prometheus parsers and the verdict on fixed
 * inputs, then a short real run against a broker with /metrics that must print the table and
 * write an HTML file a real HTML parser reads, with one chart per series.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { BrokerController, loadBrokerConfig } from "@tidemq/broker";
import { NameServer } from "@tidemq/namesrv";
import { createLogger } from "@tidemq/remoting";
import { type DefaultTreeAdapterMap, parse } from "parse5";
import { type BenchReportData, reportTable, verdict } from "../src/bench/report/BenchReport.js";
import {
  parseDiskstats,
  parseNetDev,
  parseProcIo,
  parseProcStat,
  parsePromTotals,
} from "../src/bench/report/procStats.js";
import type { ResourceSample } from "../src/bench/report/ResourceSampler.js";
import { renderReportHtml, svgLineChart } from "../src/bench/report/reportHtml.js";

const TIDEMQ = fileURLToPath(new URL("../../bin/tidemq.js", import.meta.url));

test("/proc parsers: diskstats sums whole disks only, stat's cpu line, net/dev per interface, io bytes", () => {
  const disk = [
    "   7       0 loop0 10 0 0 0 0 0 999 0 0 0 0 0 0 0 0 0 0",
    " 254       0 vda 120142 24230 3803682 54898 54161 65208 7818408 65780 0 20792 131328 18431 116 1723184 4918 9877 5730",
    " 254       1 vda1 100 0 0 0 50 0 4000 0 0 300 0 0 0 0 0 0 0",
    " 259       0 nvme0n1 1 0 0 0 2 0 1000 0 0 50000 0 0 0 0 0 0 0",
  ].join("\n");
  assert.deepEqual(parseDiskstats(disk, ["loop0", "vda", "nvme0n1"]), {
    sectorsWritten: 7819408,
    ioMs: 50000,
  });
  assert.deepEqual(parseProcStat("cpu  100 5 50 800 40 0 5 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"), {
    total: 1000,
    idle: 800,
    iowait: 40,
  });
  const net =
    "Inter-|   Receive    |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n" +
    "    lo: 880584464   49389    0    0    0     0          0         0 880584000   49389    0    0    0     0       0          0\n" +
    "  eth0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n";
  assert.deepEqual(parseNetDev(net, "lo"), { rxBytes: 880584464, txBytes: 880584000 });
  assert.deepEqual(parseNetDev(net, "eth0"), { rxBytes: 1, txBytes: 3 });
  assert.ok(Number.isNaN(parseNetDev(net, "wlan0").rxBytes));
  assert.deepEqual(parseProcIo("rchar: 6976\nwchar: 0\nread_bytes: 4096\nwrite_bytes: 1048576\n"), {
    readBytes: 4096,
    writeBytes: 1048576,
  });
  const prom = parsePromTotals(
    '# HELP x y\nnodejs_gc_duration_seconds_count{kind="minor"} 98\nnodejs_gc_duration_seconds_count{kind="major"} 2\nprocess_cpu_seconds_total 1.5\nbad line\n',
  );
  assert.equal(prom.get("nodejs_gc_duration_seconds_count"), 100);
  assert.equal(prom.get("process_cpu_seconds_total"), 1.5);
});

function sample(t: number, over: Partial<ResourceSample>): ResourceSample {
  return {
    t,
    brokerCpuPct: 30,
    brokerRssMiB: 100,
    gcPerSec: 5,
    gcPauseMsPerSec: 2,
    loopLagP99Ms: 11,
    loopLagMaxMs: 15,
    brokerInPerSec: 1000,
    brokerDiskWriteMBs: 1,
    diskWriteMBs: 1,
    diskUtilPct: 5,
    iowaitPct: 0,
    machineCpuPct: 40,
    loopbackMBs: 2,
    ...over,
  };
}

function data(over: Partial<ResourceSample>): BenchReportData {
  return {
    title: "t",
    startedAt: "2026-01-01T00:00:00Z",
    machine: "m",
    command: "tidemq bench producer --report",
    ticks: [1, 2, 3, 4, 5, 6].map((t) => ({ t, tps: 1000 * t, rtAvgMs: 1, rtP99Ms: 3, rtMaxMs: 9 })),
    // First and last samples are start-up / drain: a spike there must not decide the verdict.
    resources: [1, 2, 3, 4, 5, 6].map((t) =>
      sample(t, t === 1 || t === 6 ? { brokerCpuPct: 100, diskUtilPct: 100 } : over),
    ),
    summary: { tps: 3500, sent: 21000, failed: 0, rt: { avg: 1, p99: 3 } },
    problems: [],
  };
}

test("verdict: names the saturated resource from the steady seconds; none saturated says so", () => {
  assert.match(verdict(data({ brokerCpuPct: 97 }))[0]!, /^CPU \(broker\): the broker used 97\.0% of a core/);
  assert.match(verdict(data({ machineCpuPct: 95 }))[0]!, /^CPU \(machine\)/);
  assert.match(verdict(data({ diskUtilPct: 85 }))[0]!, /^Disk: the busiest disk was busy 85\.0%/);
  assert.match(verdict(data({ iowaitPct: 30 }))[0]!, /^Disk:/);
  const calm = verdict(data({}));
  assert.match(calm[0]!, /^No resource saturated/);
  assert.match(calm.at(-1)!, /^Network: loopback moved 2\.00 MB\/s/);
  const table = reportTable(data({ brokerCpuPct: Number.NaN }));
  assert.match(table, /^broker CPU \(% of a core\)\s+n\/a\s+n\/a\s+n\/a$/m);
  assert.match(table, /^send TPS \(msg\/s\)\s+3,500\s+2,000\s+5,000$/m);
});

test("charts: escaped titles, NaN points left out, no data said so", () => {
  const svg = svgLineChart(
    {
      key: "k",
      label: 'a<b & "c"',
      unit: "ms",
      values: [
        [0, 1],
        [1, Number.NaN],
        [2, 3],
      ],
    },
    2,
  );
  assert.match(svg, /a&#60;b &#38; &#34;c&#34;/);
  assert.equal(/points="([^"]*)"/.exec(svg)![1]!.split(" ").length, 2);
  assert.match(svgLineChart({ key: "k", label: "x", unit: "u", values: [] }, 0), /no data/);
  const html = renderReportHtml({ ...data({}), command: "</script><script>alert(1)</script>" });
  assert.ok(!html.includes("</script><script>alert(1)"));
});

type Node = DefaultTreeAdapterMap["node"];
type Element = DefaultTreeAdapterMap["element"];

function elements(n: Node, out: Element[] = []): Element[] {
  if ("tagName" in n) out.push(n);
  for (const c of "childNodes" in n ? n.childNodes : []) elements(c, out);
  if ("content" in n && n.content) elements(n.content as Node, out);
  return out;
}

const attr = (e: Element, name: string) => e.attrs.find((a) => a.name === name)?.value;
const text = (e: Element) =>
  e.childNodes.map((c) => ("value" in c ? (c as { value: string }).value : "")).join("");

test("a short --report run prints the resource table beside TPS and writes a parseable HTML report", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-report-"));
  const logger = createLogger("test", "warn");
  const ns = new NameServer({ port: 0, host: "127.0.0.1", logger });
  await ns.start();
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      namesrvAddr: `127.0.0.1:${ns.port}`,
      listenPort: 0,
      brokerIP1: "127.0.0.1",
      storePathRootDir: join(dir, "store"),
      mappedFileSizeCommitLog: 16 * 1024 * 1024,
      autoCreateTopicEnable: true,
      metricsPort: 0,
    },
  });
  const broker = new BrokerController(config, { logger });
  await broker.start();
  const file = join(dir, "report.html");
  const child = spawn(
    process.execPath,
    [
      TIDEMQ,
      "bench",
      "producer",
      ...["-n", `127.0.0.1:${ns.port}`, "-t", "ReportTopic", "-w", "8", "-d", "3", "-s", "200"],
      ...["--report", file, "--metrics", `http://127.0.0.1:${broker.metricsPort}/metrics`],
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /Summary \(stopped by duration\)/);
    assert.match(stdout, /Resources \(broker from http:\/\/127\.0\.0\.1:\d+\/metrics, machine from \/proc/);
    for (const row of [
      "send TPS (msg/s)",
      "broker CPU (% of a core)",
      "broker RSS (MiB)",
      "broker GC pause (ms/s)",
    ]) {
      const line = stdout.split("\n").find((l) => l.startsWith(row));
      assert.ok(line, `table row ${row} in\n${stdout}`);
      assert.match(line, /\s(\d[\d,.]*)\s+(\d[\d,.]*)\s+(\d[\d,.]*)$/, line);
    }
    assert.ok(/^broker event-loop lag p99 \(ms\)/m.test(stdout));
    assert.ok(/^disk writes \(all\) \(MB\/s\)/m.test(stdout));
    assert.ok(/^loopback traffic \(MB\/s\)/m.test(stdout));
    assert.match(stdout, /Where the limit is:\n {2}- /);
    assert.match(stdout, new RegExp(`HTML report: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));

    const html = await readFile(file, "utf8");
    const all = elements(parse(html) as unknown as Node);
    const charts = all.filter((e) => e.tagName === "svg");
    assert.equal(charts.length, 16);
    const byKey = new Map(charts.map((c) => [attr(c, "data-series"), c]));
    for (const key of ["tps", "brokerCpuPct", "brokerRssMiB", "loopbackMBs"]) {
      const chart = byKey.get(key);
      assert.ok(chart, `chart ${key}`);
      const line = elements(chart).find((e) => e.tagName === "polyline");
      assert.ok(line, `chart ${key} has a line`);
      assert.ok(attr(line, "points")!.split(" ").length >= 2, `chart ${key} has ≥ 2 points`);
    }
    const script = all.find((e) => e.tagName === "script" && attr(e, "id") === "report-data");
    assert.ok(script);
    const d = JSON.parse(text(script)) as BenchReportData;
    assert.ok(d.resources.length >= 2, `resource samples: ${d.resources.length}`);
    assert.ok(
      d.resources.some((r) => (r.brokerInPerSec ?? 0) > 0),
      "the broker's stored rate moved",
    );
    assert.ok(d.resources.every((r) => (r.brokerRssMiB ?? 0) > 0));
    assert.ok(d.summary.sent > 0);
    assert.deepEqual(d.problems, []);
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill("SIGKILL");
    await broker.shutdown();
    await ns.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/** Runs `tidemq bench …` to its end (killed by PID after 60 s); returns its output. */
async function benchChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [TIDEMQ, "bench", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    return { code, stdout, stderr };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

test("bench consumer --report: receive TPS, end-to-end latency and the group's lag over time beside the resources", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tidemq-creport-"));
  const logger = createLogger("test", "warn");
  const ns = new NameServer({ port: 0, host: "127.0.0.1", logger });
  await ns.start();
  const { config } = await loadBrokerConfig({
    env: {},
    overrides: {
      namesrvAddr: `127.0.0.1:${ns.port}`,
      listenPort: 0,
      brokerIP1: "127.0.0.1",
      storePathRootDir: join(dir, "store"),
      mappedFileSizeCommitLog: 16 * 1024 * 1024,
      autoCreateTopicEnable: true,
      metricsPort: 0,
    },
  });
  const broker = new BrokerController(config, { logger });
  await broker.start();
  const nsAddr = `127.0.0.1:${ns.port}`;
  const file = join(dir, "consumer.html");
  try {
    // A backlog of 2,000 bench messages (they carry their send time), then consume it all.
    const p = await benchChild([
      "producer",
      "-n",
      nsAddr,
      "-t",
      "CReportTopic",
      "-c",
      "2000",
      "-s",
      "100",
      "-w",
      "16",
    ]);
    assert.equal(p.code, 0, `${p.stdout}\n${p.stderr}`);
    const c = await benchChild([
      "consumer",
      ...[
        "-n",
        nsAddr,
        "-t",
        "CReportTopic",
        "-g",
        "CReportGroup",
        "--from",
        "first",
        "-c",
        "2000",
        "-d",
        "40",
      ],
      ...["--report", file, "--metrics", `http://127.0.0.1:${broker.metricsPort}/metrics`],
    ]);
    assert.equal(c.code, 0, `${c.stdout}\n${c.stderr}`);
    assert.match(c.stdout, /Summary \(stopped by count\): received 2,000/);
    for (const row of [
      "consume TPS (msg/s)",
      "end-to-end latency p99 (ms)",
      "group lag (committed) (messages)",
      "broker CPU (% of a core)",
    ]) {
      assert.ok(
        c.stdout.split("\n").some((l) => l.startsWith(row)),
        `table row ${row} in\n${c.stdout}`,
      );
    }
    assert.match(c.stdout, /Where the limit is:\n {2}- /);
    const html = await readFile(file, "utf8");
    const all = elements(parse(html) as unknown as Node);
    const charts = all.filter((e) => e.tagName === "svg");
    assert.equal(charts.length, 18, "5 consumer series + 13 resource series");
    assert.ok(charts.some((e) => attr(e, "data-series") === "lag"));
    assert.ok(
      all.some(
        (e) =>
          e.tagName === "p" &&
          /2,000 received, 0 duplicates; end-to-end latency/.test(elements(e).map(text).join("")),
      ),
    );
    const script = all.find((e) => e.tagName === "script" && attr(e, "id") === "report-data");
    const d = JSON.parse(text(script!)) as BenchReportData;
    assert.equal(d.role, "consumer");
    assert.equal(d.summary.sent, 2000);
    assert.ok(d.ticks.length >= 1 && d.ticks.some((t) => t.tps > 0));
    assert.ok(d.ticks.every((t) => t.rtP50Ms === undefined || t.rtP50Ms <= t.rtP99Ms + 1e-9));
    // The lag is the broker's answer, so it is an integer between 0 and the backlog.
    assert.ok((d.lag ?? []).length >= 1, `lag samples: ${JSON.stringify(d.lag)}`);
    for (const [, v] of d.lag!) assert.ok(Number.isInteger(v) && v >= 0 && v <= 2000, `lag ${v}`);
  } finally {
    await broker.shutdown();
    await ns.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
