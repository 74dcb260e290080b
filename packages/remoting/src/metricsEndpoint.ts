import http from "node:http";
import type { AddressInfo } from "node:net";
import { collectDefaultMetrics, type Metric, Registry } from "prom-client";

/**
 * The `/metrics` HTTP endpoint of a broker or NameServer, in Prometheus text format.
 *
 * Values are read at scrape time: the hot paths only bump plain numbers, and the metrics
 * registered here are snapshots (`snapshotMetric`) that read those numbers when Prometheus
 * asks. Process metrics (CPU, RSS, heap, event-loop lag, GC pauses, open fds) come from
 * prom-client's default collectors.
 */
export type MetricsRegistry = Registry;

export interface MetricsEndpointOptions {
  /** 0 = an ephemeral port (read `port` after start). */
  port: number;
  /** Default 127.0.0.1: a metrics port is opened to other machines only on purpose. */
  host?: string;
  registry: Registry;
}

export class MetricsEndpoint {
  private server: http.Server | undefined;

  constructor(private readonly options: MetricsEndpointOptions) {}

  async start(): Promise<void> {
    const { registry } = this.options;
    const server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics is served here\n");
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  get port(): number {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error("the metrics endpoint is not started");
    return addr.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A registry with the process metrics every TideMQ process exposes. */
export function createProcessRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  // GC buckets down to 0.1 ms: a scavenge of the broker's young generation is ~0.5 ms.
  collectDefaultMetrics({
    register: registry,
    gcDurationBuckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  });
  // Lets a pressure-test report on the same machine find the process's /proc entries.
  snapshotMetric(registry, {
    name: "tidemq_process_id",
    help: "The process id (for tools that read /proc/<pid> beside the metrics)",
    type: "gauge",
    read: () => [{ value: process.pid }],
  });
  return registry;
}

export interface Sample {
  labels?: Record<string, string | number>;
  value: number;
  /** For histograms: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  metricName?: string;
}

export interface SnapshotMetricSpec {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  /** Called at each scrape; reads numbers the process keeps anyway. */
  read: () => Sample[] | Promise<Sample[]>;
}

/**
 * Registers a metric whose samples are computed at scrape time. prom-client's own Counter
 * and Histogram would need an update call with label hashing on every message; reading the
 * plain counters the broker keeps costs nothing between scrapes.
 */
export function snapshotMetric(registry: Registry, spec: SnapshotMetricSpec): void {
  const metric = {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator: "sum",
    async get() {
      return {
        name: spec.name,
        help: spec.help,
        type: spec.type,
        aggregator: "sum",
        values: await spec.read(),
      };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

/** Cumulative bucket counts as kept by a duration histogram (bounds ascending, +Inf implied). */
export interface BucketCounts {
  readonly bounds: readonly number[];
  /** Per bound (non-cumulative), plus one last slot for values above every bound. */
  readonly counts: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

/** A histogram's Prometheus samples; `scale` converts the kept unit (e.g. 0.001 for ms → s). */
export function histogramSamples(
  name: string,
  h: BucketCounts,
  labels: Record<string, string | number> = {},
  scale = 1,
): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i] ?? 0;
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: h.bounds[i]! * scale },
      value: cumulative,
    });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum * scale });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}
