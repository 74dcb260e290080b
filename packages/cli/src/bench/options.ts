/**
 * Command-line options of `tidemq bench producer|consumer` (the flags of RocketMQ's
 * benchmark scripts where they exist: -n -t -s -w -k -g). Pure: parsing never touches the
 * network, so tests drive it directly.
 */

export class UsageError extends Error {}

export interface CommonBenchOptions {
  namesrv: string;
  topic: string;
  /** Stop after this many seconds (undefined: no time limit). */
  durationSec: number | undefined;
  /** Stop after this many messages (undefined: no count limit). */
  count: number | undefined;
  json: boolean;
  /** Create the topic with this many queues on every master of `cluster` first. */
  createQueues: number | undefined;
  cluster: string;
  /** Report period, ms (1000 = every second, as RocketMQ's tools). */
  intervalMs: number;
  help: boolean;
}

export interface ProducerBenchOptions extends CommonBenchOptions {
  size: number;
  concurrency: number;
  batch: number;
  keys: boolean;
  tag: string | undefined;
  mode: "sync" | "async";
  group: string;
  sendTimeoutMs: number;
  /** --report: HTML file to write (the table is printed too); undefined = no report. */
  report: string | undefined;
  /** The broker's /metrics the report samples. */
  metricsUrl: string;
}

export interface ConsumerBenchOptions extends CommonBenchOptions {
  /** --report: HTML file to write (the table is printed too); undefined = no report. */
  report: string | undefined;
  /** The broker's /metrics the report samples. */
  metricsUrl: string;
  group: string;
  from: "first" | "last";
  expression: string;
  pullBatch: number;
  threads: number;
}

export const PRODUCER_USAGE = `usage: tidemq bench producer [options]

Sends fixed-size messages as fast as the window allows and prints, every second, the send
TPS, average / p99 / max response time and failures; a summary at the end.

  -n, --namesrv ADDR     NameServer address(es), "host:port;host:port" (default 127.0.0.1:9876)
  -t, --topic NAME       topic (default BenchmarkTest)
  -s, --size BYTES       message body size (default 500; >= 24 carries a send timestamp)
  -w, --concurrency N    sends in flight at once (default 64)
  -b, --batch N          messages per send: N > 1 uses sendBatch (default 1)
  -d, --duration SEC     stop after SEC seconds
  -c, --count N          stop after N messages (default: run until Ctrl-C unless -d)
  -k, --keys [true|false] give every message a unique key (default false)
      --tag TAG          tag of every message (default none)
      --sync             N loops that each await their send (RocketMQ's threads; default)
      --async            one loop that refills the window from completion callbacks
  -p, --group NAME       producer group (default benchmark_producer)
      --timeout MS       send timeout (default 3000)
      --report [FILE]    sample the broker (CPU, RSS, GC, event-loop lag from its /metrics) and
                         this machine (disk MB/s and busy %, I/O wait, loopback MB/s from /proc)
                         every second; print them beside TPS and RT at the end and write an
                         HTML report with plots to FILE (default tidemq-bench-report.html)
      --metrics URL      the broker's metrics for --report (default http://127.0.0.1:5557/metrics,
                         the dev cluster's)
  -q, --create-queues N  create the topic with N queues on every master of the cluster first
  -C, --cluster NAME     cluster for --create-queues (default DefaultCluster)
      --interval MS      report period (default 1000)
      --json             one JSON object per line (per period, then a summary)
  -h, --help             this text`;

export const CONSUMER_USAGE = `usage: tidemq bench consumer [options]

Consumes a topic and prints, every second, the receive TPS and end-to-end latency
percentiles (send timestamp in a bench body, else the message's bornTimestamp); a summary
at the end.

  -n, --namesrv ADDR     NameServer address(es) (default 127.0.0.1:9876)
  -t, --topic NAME       topic (default BenchmarkTest)
  -g, --group NAME       consumer group (default benchmark_consumer_<random>)
  -e, --expression EXPR  tag filter expression (default *)
      --from first|last  where a new group starts (default last)
  -d, --duration SEC     stop after SEC seconds
  -c, --count N          stop after N messages (default: run until Ctrl-C unless -d)
      --pull-batch N     messages per pull (default 32)
      --threads N        listener calls in flight (default 64)
      --report [FILE]    record receive TPS, end-to-end latency p50/p99/max and the group's
                         lag (broker offset − committed offset, asked every period), and sample
                         the broker and this machine as \`bench producer --report\` does; print
                         the table at the end and write an HTML report with plots to FILE
                         (default tidemq-bench-consumer-report.html)
      --metrics URL      the broker's metrics for --report (default http://127.0.0.1:5557/metrics)
  -q, --create-queues N  create the topic with N queues on every master of the cluster first
  -C, --cluster NAME     cluster for --create-queues (default DefaultCluster)
      --interval MS      report period (default 1000)
      --json             one JSON object per line: {"type":"ready"}, per period, summary
  -h, --help             this text`;

function intArg(flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`option ${flag} needs an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`option ${flag} must be between ${min} and ${max}`);
  return n;
}

function strArg(flag: string, v: string | undefined): string {
  if (v === undefined || v.length === 0) throw new UsageError(`option ${flag} needs a value`);
  return v;
}

/** Options both roles accept; returns the number of argv entries consumed, 0 if not ours. */
function parseCommon(o: CommonBenchOptions, argv: string[], i: number): number {
  const arg = argv[i]!;
  const next = argv[i + 1];
  switch (arg) {
    case "-n":
    case "--namesrv":
      o.namesrv = strArg(arg, next);
      return 2;
    case "-t":
    case "--topic":
      o.topic = strArg(arg, next);
      return 2;
    case "-d":
    case "--duration":
      o.durationSec = intArg(arg, next, 1, 7 * 24 * 3600);
      return 2;
    case "-c":
    case "--count":
      o.count = intArg(arg, next, 1, Number.MAX_SAFE_INTEGER);
      return 2;
    case "-q":
    case "--create-queues":
      o.createQueues = intArg(arg, next, 1, 1024);
      return 2;
    case "-C":
    case "--cluster":
      o.cluster = strArg(arg, next);
      return 2;
    case "--interval":
      o.intervalMs = intArg(arg, next, 100, 3_600_000);
      return 2;
    case "--json":
      o.json = true;
      return 1;
    case "-h":
    case "--help":
      o.help = true;
      return 1;
    default:
      return 0;
  }
}

function common(): CommonBenchOptions {
  return {
    namesrv: "127.0.0.1:9876",
    topic: "BenchmarkTest",
    durationSec: undefined,
    count: undefined,
    json: false,
    createQueues: undefined,
    cluster: "DefaultCluster",
    intervalMs: 1000,
    help: false,
  };
}

export function parseProducerArgs(argv: string[]): ProducerBenchOptions {
  const o: ProducerBenchOptions = {
    ...common(),
    size: 500,
    concurrency: 64,
    batch: 1,
    keys: false,
    tag: undefined,
    mode: "sync",
    group: "benchmark_producer",
    sendTimeoutMs: 3000,
    report: undefined,
    metricsUrl: "http://127.0.0.1:5557/metrics",
  };
  for (let i = 0; i < argv.length; ) {
    const used = parseCommon(o, argv, i);
    if (used > 0) {
      i += used;
      continue;
    }
    const arg = argv[i]!;
    const next = argv[i + 1];
    let n = 2;
    switch (arg) {
      case "-s":
      case "--size":
        o.size = intArg(arg, next, 1, 4 * 1024 * 1024);
        break;
      case "-w":
      case "--concurrency":
        o.concurrency = intArg(arg, next, 1, 65_536);
        break;
      case "-b":
      case "--batch":
        o.batch = intArg(arg, next, 1, 1024);
        break;
      case "-k":
      case "--keys":
        // `-k` alone, or `-k true|false` as in RocketMQ's scripts.
        if (next === "true" || next === "false") o.keys = next === "true";
        else {
          o.keys = true;
          n = 1;
        }
        break;
      case "--tag":
        o.tag = strArg(arg, next);
        break;
      case "--sync":
        o.mode = "sync";
        n = 1;
        break;
      case "--async":
        o.mode = "async";
        n = 1;
        break;
      case "-p":
      case "--group":
        o.group = strArg(arg, next);
        break;
      case "--timeout":
        o.sendTimeoutMs = intArg(arg, next, 1, 600_000);
        break;
      case "--report":
        // The file is optional: a next argument that is not an option names it.
        if (next !== undefined && !next.startsWith("-")) o.report = next;
        else {
          o.report = "tidemq-bench-report.html";
          n = 1;
        }
        break;
      case "--metrics":
        if (!/^https?:\/\//.test(next ?? "")) throw new UsageError("option --metrics needs an http:// URL");
        o.metricsUrl = next!;
        break;
      default:
        throw new UsageError(`unknown option ${arg} (see tidemq bench producer --help)`);
    }
    i += n;
  }
  if (o.batch > 1 && o.size * o.batch > 4 * 1024 * 1024) {
    throw new UsageError("a batch (size × batch) must stay under 4 MiB");
  }
  return o;
}

export function parseConsumerArgs(argv: string[], random = Math.random): ConsumerBenchOptions {
  const o: ConsumerBenchOptions = {
    ...common(),
    group: `benchmark_consumer_${Math.floor(random() * 10_000)}`,
    from: "last",
    expression: "*",
    pullBatch: 32,
    threads: 64,
    report: undefined,
    metricsUrl: "http://127.0.0.1:5557/metrics",
  };
  for (let i = 0; i < argv.length; ) {
    const used = parseCommon(o, argv, i);
    if (used > 0) {
      i += used;
      continue;
    }
    const arg = argv[i]!;
    const next = argv[i + 1];
    let n = 2;
    switch (arg) {
      case "-g":
      case "--group":
        o.group = strArg(arg, next);
        break;
      case "-e":
      case "--expression":
        o.expression = strArg(arg, next);
        break;
      case "--from":
        if (next !== "first" && next !== "last") throw new UsageError("option --from takes first or last");
        o.from = next;
        break;
      case "--pull-batch":
        o.pullBatch = intArg(arg, next, 1, 1024);
        break;
      case "--threads":
        o.threads = intArg(arg, next, 1, 4096);
        break;
      case "--report":
        if (next !== undefined && !next.startsWith("-")) o.report = next;
        else {
          o.report = "tidemq-bench-consumer-report.html";
          n = 1;
        }
        break;
      case "--metrics":
        if (!/^https?:\/\//.test(next ?? "")) throw new UsageError("option --metrics needs an http:// URL");
        o.metricsUrl = next!;
        break;
      default:
        throw new UsageError(`unknown option ${arg} (see tidemq bench consumer --help)`);
    }
    i += n;
  }
  return o;
}
