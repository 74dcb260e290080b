import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NameServer } from "@tidemq/namesrv";
import { ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";
import { type PromSample, scrape, value } from "./prom.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"], { metricsPort: 0 });
});
after(async () => {
  await cluster?.stop();
});

test("broker /metrics: counters, lag and latency follow a real send/consume run", async () => {
  const broker = cluster.brokers.get("broker-a")!;
  const port = broker.metricsPort!;
  assert.ok(port > 0);
  const topic = uniq("Metrics");
  const group = uniq("MG");
  await cluster.createTopic(topic, 2);

  const before = await scrape(port);
  assert.equal(value(before, "rocketmq_messages_in_total", { topic }), undefined);
  const sendsBefore = value(before, "rocketmq_rpc_latency_count", { request_code: "send_message" }) ?? 0;
  assert.ok((value(before, "rocketmq_topic_number") ?? 0) >= 1);
  assert.ok((value(before, "process_resident_memory_bytes") ?? 0) > 0);
  assert.notEqual(value(before, "nodejs_eventloop_lag_seconds"), undefined);
  assert.equal(value(before, "rocketmq_broker_permission"), 6);
  for (const s of before) {
    assert.equal(s.labels.cluster, "DefaultCluster");
    assert.equal(s.labels.node_id, "broker-a-0");
  }

  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  let consumed = 0;
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: group,
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume() {
        consumed++;
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    for (let i = 0; i < 30; i++) await p.send({ topic, body: Buffer.alloc(100, 65 + (i % 26)) });
    const sent = await scrape(port);
    assert.equal(value(sent, "rocketmq_messages_in_total", { topic }), 30);
    assert.ok((value(sent, "rocketmq_throughput_in_total", { topic }) ?? 0) >= 30 * 100);
    assert.equal(
      value(sent, "rocketmq_messages_in_total", { topic, is_retry: "false", is_system: "false" }),
      30,
    );
    const sends =
      (value(sent, "rocketmq_rpc_latency_count", { request_code: "send_message" }) ?? 0) - sendsBefore;
    // One send request in 16 is timed; 30 sends awaited one by one are 30 requests.
    assert.ok(sends >= 1 && sends <= 2, `send requests timed: ${sends}`);
    const inf = value(sent, "rocketmq_rpc_latency_bucket", { request_code: "send_message", le: "+Inf" });
    assert.equal(inf, value(sent, "rocketmq_rpc_latency_count", { request_code: "send_message" }));

    await c.startup();
    await waitFor(() => consumed >= 30, 15_000, "30 messages consumed");
    // Offsets are committed every 200 ms (FAST): the lag reaches 0 once they land.
    const deadline = Date.now() + 10_000;
    let drained: PromSample[] = [];
    for (;;) {
      drained = await scrape(port);
      if (value(drained, "rocketmq_consumer_lag_messages", { topic, consumer_group: group }) === 0) break;
      assert.ok(Date.now() < deadline, "consumer lag never reached 0");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(value(drained, "rocketmq_messages_out_total", { topic, consumer_group: group }), 30);
    assert.ok(
      (value(drained, "rocketmq_throughput_out_total", { topic, consumer_group: group }) ?? 0) > 30 * 100,
    );
    assert.equal(value(drained, "rocketmq_consumer_inflight_messages", { topic, consumer_group: group }), 0);
    assert.equal(value(drained, "rocketmq_consumer_connections", { consumer_group: group }), 1);
    assert.ok((value(drained, "rocketmq_consumer_group_number") ?? 0) >= 1);
  } finally {
    await c.shutdown();
  }
  try {
    // With the consumer gone, 10 more messages are lag: stored, not pulled, not committed.
    for (let i = 0; i < 10; i++) await p.send({ topic, body: Buffer.from(`late-${i}`) });
    const late = await scrape(port);
    assert.equal(value(late, "rocketmq_messages_in_total", { topic }), 40);
    assert.equal(value(late, "rocketmq_consumer_lag_messages", { topic, consumer_group: group }), 10);
    // A pull the stopped consumer left parked may still be answered with some of them: those
    // count as pulled (in flight), the rest as ready; together they are the lag.
    const ready = value(late, "rocketmq_consumer_ready_messages", { topic, consumer_group: group }) ?? -1;
    const inflight =
      value(late, "rocketmq_consumer_inflight_messages", { topic, consumer_group: group }) ?? -1;
    assert.equal(ready + inflight, 10, `ready ${ready} + in flight ${inflight}`);
    assert.ok(ready >= 0 && inflight >= 0);
    assert.equal(value(late, "rocketmq_messages_out_total", { topic, consumer_group: group }), 30 + inflight);
    assert.ok((value(late, "tidemq_store_put_messages_total") ?? 0) >= 40);
    assert.ok((value(late, "tidemq_store_disk_bytes", { kind: "total" }) ?? 0) > 0);
    const used = value(late, "tidemq_store_disk_used_ratio") ?? -1;
    assert.ok(used >= 0 && used <= 1);
  } finally {
    await p.shutdown();
  }
  // ASYNC_FLUSH flushes every 500 ms: the flush histogram counts rounds.
  const flushDeadline = Date.now() + 10_000;
  for (;;) {
    const s = await scrape(port);
    if ((value(s, "tidemq_commitlog_flush_duration_seconds_count") ?? 0) > 0) break;
    assert.ok(Date.now() < flushDeadline, "no commit-log flush counted");
    await new Promise((r) => setTimeout(r, 100));
  }
});

test("NameServer /metrics: route tables and process metrics; other paths are 404", async () => {
  const ns = new NameServer({ port: 0, host: "127.0.0.1", metricsPort: 0, logger: testLogger("ns-metrics") });
  await ns.start();
  try {
    const samples = await scrape(ns.metricsPort!);
    assert.equal(value(samples, "tidemq_namesrv_topics"), 0);
    assert.equal(value(samples, "tidemq_namesrv_connections"), 0);
    assert.ok((value(samples, "process_cpu_seconds_total") ?? -1) >= 0);
    const other = await fetch(`http://127.0.0.1:${ns.metricsPort}/`);
    assert.equal(other.status, 404);
    await other.text();
  } finally {
    await ns.stop();
  }
  const off = new NameServer({ port: 0, host: "127.0.0.1", logger: testLogger("ns-off") });
  await off.start();
  try {
    assert.equal(off.metricsPort, undefined);
  } finally {
    await off.stop();
  }
});

test("the Grafana dashboard (bench/grafana/tidemq.json) only queries metrics a broker exposes (DLedger ones: see e2e-replication-metrics)", async () => {
  const { readFile } = await import("node:fs/promises");
  const dashboard = JSON.parse(
    await readFile(new URL("../../../../bench/grafana/tidemq.json", import.meta.url), "utf8"),
  ) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  const res = await fetch(`http://127.0.0.1:${cluster.brokers.get("broker-a")!.metricsPort}/metrics`);
  const text = await res.text();
  const exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  let checked = 0;
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets.length > 0, `panel ${panel.title} has queries`);
    for (const t of panel.targets) {
      for (const m of t.expr.matchAll(/\b((?:rocketmq|tidemq|process|nodejs)_[a-z0-9_]+)/g)) {
        // DLedger replicas' metrics: checked against a real group in e2e-replication-metrics.
        if (m[1]!.startsWith("tidemq_dledger_")) continue;
        const base = m[1]!.replace(/_(bucket|sum|count)$/, "");
        assert.ok(
          exposed.has(base) || exposed.has(m[1]!),
          `panel "${panel.title}" queries ${m[1]}, not exposed`,
        );
        checked++;
      }
    }
  }
  assert.ok(checked >= 15);
});
