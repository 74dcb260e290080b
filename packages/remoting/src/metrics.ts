/**
 * The Prometheus side of the remoting package, as its own entry point
 * (`@tidemq/remoting/metrics`): brokers and NameServers serve /metrics, clients never do, so
 * prom-client stays out of what an application installs with the client.
 */
export {
  type BucketCounts,
  createProcessRegistry,
  histogramSamples,
  MetricsEndpoint,
  type MetricsEndpointOptions,
  type MetricsRegistry,
  type Sample,
  type SnapshotMetricSpec,
  snapshotMetric,
} from "./metricsEndpoint.js";
