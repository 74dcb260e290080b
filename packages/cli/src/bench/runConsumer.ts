import { Admin, PushConsumer } from "@tidemq/client";
import { ConsumerStats } from "./ConsumerStats.js";
import type { ConsumerBenchOptions } from "./options.js";
import { consumerTickText, formatInt, latencyText, type Reporter } from "./Reporter.js";
import { ReportRecorder } from "./report/ReportRecorder.js";
import { benchLogger, createTopicIfAsked, onStopSignals } from "./runProducer.js";
import { startPosition, startPositionText } from "./StartPosition.js";
import { queueStarts, waitForTopic } from "./topicWait.js";

type ConsumerStop = "count" | "duration" | "signal";

/** `tidemq bench consumer`: returns the exit code. */
export async function runConsumer(o: ConsumerBenchOptions, out: Reporter): Promise<number> {
  const logger = benchLogger();
  await createTopicIfAsked(o, logger);
  const stats = new ConsumerStats();
  let stopResolve: (r: ConsumerStop) => void = () => {};
  let stopRequested = false;
  const stopped = new Promise<ConsumerStop>((resolve) => {
    stopResolve = (r) => {
      stopRequested = true;
      resolve(r);
    };
  });
  const removeSignals = onStopSignals(() => stopResolve("signal"));
  const count = o.count;

  // Before the consumer starts: the topic's route (waiting for it if a producer has yet to
  // create it) and where the group will really start.
  const admin = new Admin({ endpoints: o.namesrv, logger });
  let start: ReturnType<typeof startPosition>;
  try {
    const route = await waitForTopic(
      admin,
      o.topic,
      () => stopRequested,
      () =>
        out.emit(
          { type: "waiting", role: "consumer", topic: o.topic },
          `bench consumer: waiting for topic ${o.topic} to exist… (start the producer, or create it with ` +
            `\`tidemq admin updateTopic -t ${o.topic} -c <cluster>\`)`,
        ),
    );
    if (!route) {
      removeSignals();
      return 0;
    }
    start = startPosition(await queueStarts(admin, route, o.topic, o.group), o.from);
  } catch (err) {
    removeSignals();
    throw err;
  } finally {
    await admin.shutdown();
  }
  const consumer = new PushConsumer({
    endpoints: o.namesrv,
    consumerGroup: o.group,
    subscriptions: new Map([[o.topic, o.expression]]),
    consumeFromWhere: o.from === "first" ? "CONSUME_FROM_FIRST_OFFSET" : "CONSUME_FROM_LAST_OFFSET",
    // --from last means the last offset, not RocketMQ 4.9's "offset 0 on a young queue".
    strictStartPosition: true,
    pullBatchSize: o.pullBatch,
    consumptionThreadCount: o.threads,
    logger,
    messageListener: {
      consume(m) {
        stats.record(m.body, m.bornTimestamp.getTime());
        if (count !== undefined && stats.count >= count) stopResolve("count");
        return undefined; // SUCCESS
      },
    },
  });
  await consumer.startup();
  out.emit(
    { type: "ready", role: "consumer", topic: o.topic, group: o.group, from: o.from, start },
    `bench consumer: topic ${o.topic}, expression ${o.expression}; ${startPositionText(o.group, o.from, start)}` +
      `, until ${[count && `${count} messages`, o.durationSec && `${o.durationSec} s`].filter(Boolean).join(" or ") || "Ctrl-C"}`,
  );

  const recorder = o.report ? new ReportRecorder(o, "consumer") : undefined;
  await recorder?.start();
  // --report: the group's lag, asked from the brokers once a period (one request in flight).
  const lagAdmin = recorder ? new Admin({ endpoints: o.namesrv, logger }) : undefined;
  let lagAsking: Promise<void> | undefined;
  const t0 = performance.now();
  const sampleLag = () => {
    if (!lagAdmin || !recorder || lagAsking) return;
    lagAsking = lagAdmin
      .getConsumeStats(o.group, o.topic)
      .then(
        (s) => recorder.lag((performance.now() - t0) / 1000, s.diffTotal),
        () => undefined, // a period without a lag point: the chart shows the gap
      )
      .finally(() => {
        lagAsking = undefined;
      });
  };
  let lastTick = t0;
  let tick = 0;
  let reported = 0;
  const emitTick = () => {
    const now = performance.now();
    const p = stats.takePeriod();
    const secs = (now - lastTick) / 1000;
    lastTick = now;
    tick++;
    const totals = stats.totals();
    reported = totals.received;
    const line = {
      time: new Date().toISOString(),
      tps: secs > 0 ? Math.round(p.received / secs) : 0,
      e2e: { avg: p.e2e.avg, p50: p.e2e.p50, p99: p.e2e.p99, max: p.e2e.max },
      total: totals.received,
      source: totals.fromBornTimestamp > 0 ? "bornTimestamp (ms)" : "",
    };
    recorder?.tick((now - t0) / 1000, line.tps, p.e2e);
    sampleLag();
    out.emit(
      { type: "tick", role: "consumer", second: tick, elapsedSec: +((now - t0) / 1000).toFixed(3), ...line },
      consumerTickText(line),
    );
  };
  const ticker = setInterval(emitTick, o.intervalMs);
  const progress = setInterval(() => {
    const secs = (performance.now() - t0) / 1000;
    const of = count ? ` / ${formatInt(count)} (${Math.floor((100 * stats.count) / count)}%)` : "";
    out.progress(`${secs.toFixed(1)} s  received ${formatInt(stats.count)}${of}`);
  }, 250);
  const durationTimer =
    o.durationSec !== undefined ? setTimeout(() => stopResolve("duration"), o.durationSec * 1000) : undefined;

  let stoppedBy: ConsumerStop;
  try {
    stoppedBy = await stopped;
  } finally {
    clearInterval(ticker);
    // The last, partial period: every received message appears in some period line.
    if (stats.totals().received > reported) emitTick();
    clearInterval(progress);
    clearTimeout(durationTimer);
    removeSignals();
    out.clearProgress();
  }
  const t = stats.totals();
  const tps = t.elapsedSec > 0 ? Math.round(t.received / t.elapsedSec) : 0;
  out.emit(
    {
      type: "summary",
      role: "consumer",
      stoppedBy,
      topic: o.topic,
      group: o.group,
      received: t.received,
      duplicates: t.duplicates,
      fromBornTimestamp: t.fromBornTimestamp,
      elapsedSec: +t.elapsedSec.toFixed(3),
      tps,
      e2e: t.e2e,
    },
    `\nSummary (stopped by ${stoppedBy}): received ${formatInt(t.received)} (${t.duplicates} duplicates) ` +
      `in ${t.elapsedSec.toFixed(2)} s (first to last) = ${formatInt(tps)} msg/s\n` +
      `end-to-end latency(ms): ${latencyText(t.e2e)}` +
      (t.fromBornTimestamp > 0
        ? `\n(${t.fromBornTimestamp} messages timed from bornTimestamp, ms precision)`
        : ""),
  );
  if (recorder) {
    await lagAsking;
    await lagAdmin!.shutdown();
    await recorder.finish({ tps, sent: t.received, failed: t.duplicates, rt: t.e2e }, out);
  }
  await Promise.race([consumer.shutdown(), new Promise((r) => setTimeout(r, 5000).unref())]);
  return 0;
}
