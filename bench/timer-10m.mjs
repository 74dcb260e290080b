#!/usr/bin/env node
// A broker holding 10 million pending timers: its start-up time, RSS and heap, and the
// lateness of timers that fall due while the 10 M wait.
//
// The 10 M are written by this script before the broker starts, through the store's own API
// (an internal fast path: sending 10 M messages over the wire would take far longer on a
// shared 2-core machine): each is a real timer-topic record in the broker's commit log
// (MessageStore.putMessagesBatch, 100-byte bodies) and its entry in the timer store
// (TimerStore.add, what the broker's enqueue does). They fall due between 1 h and 365 days
// ahead, so none is delivered during the run; the broker loads and rolls (stores again)
// their slots as it would with timers sent over the wire.
//
// Then: start the broker (child process) on that store, time until it serves, sample RSS;
// send 2,000 real timers due over 2 s and measure their lateness; kill -9 the broker and time
// the restart; print figures and the machine.
//
// Usage: node bench/timer-10m.mjs [--timers 10000000] [--keep DIR] [--json]   (npx tsc -b first)
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dist, machine, mib, pct, procMemory, quiet } from "./lib/common.mjs";
import { startTimerBroker } from "./lib/timerBroker.mjs";

const { values: opt } = parseArgs({
  options: {
    timers: { type: "string", default: "10000000" },
    keep: { type: "string" },
    json: { type: "boolean", default: false },
  },
});

async function main() {
  const n = Number(opt.timers);
  const dir = opt.keep ?? mkdtempSync(join(os.tmpdir(), "tidemq-timer-10m-"));
  const out = { timers: n };
  let child;
  try {
    // 1. The 10 M, straight into the timer store.
    const { TimerStore, TimerKind, MessageStore } = await import(dist("store"));
    const { javaStringHashCode } = await import(dist("protocol"));
    const t0 = Date.now();
    const ms = await MessageStore.open({
      storePathRootDir: dir,
      storePathCommitLog: join(dir, "commitlog"),
      consumeQueueEntriesPerFile: 300_000,
      storeHost: { host: "127.0.0.1", port: 10911 },
      logger: quiet,
    });
    const store = await TimerStore.open({ dir: join(dir, "timer") });
    const now = Date.now();
    const year = 365 * 86_400_000;
    const body = Buffer.alloc(100, "x");
    for (let k = 0; k < n; ) {
      const inputs = [];
      const dues = [];
      for (const end = Math.min(n, k + 2000); k < end; k++) {
        const dueMs = now + 3_600_000 + Math.floor(Math.random() * (year - 3_600_000));
        dues.push(dueMs);
        inputs.push({
          topic: "rmq_sys_wheel_timer",
          queueId: 0,
          flag: 0,
          body,
          properties: {
            REAL_TOPIC: "Timer10M",
            REAL_QID: "0",
            TIMER_OUT_MS: String(dueMs),
            UNIQ_KEY: `B${k}`,
          },
          sysFlag: 0,
          bornTimestamp: now,
          bornHost: { host: "127.0.0.1", port: 1 },
          reconsumeTimes: 0,
          preparedTransactionOffset: 0,
        });
      }
      const results = await ms.putMessagesBatch(inputs);
      results.forEach((r, i) => {
        store.add(
          {
            dueMs: dues[i],
            commitLogOffset: r.commitLogOffset,
            cqOffset: r.queueOffset,
            size: 0,
            uniqHash: javaStringHashCode(inputs[i].properties.UNIQ_KEY),
            kind: TimerKind.MESSAGE,
          },
          r.queueOffset,
        );
      });
    }
    await ms.shutdown();
    await store.close(true);
    out.writeSeconds = (Date.now() - t0) / 1000;
    out.timerLogMiB = mib(store.logBytes);

    // 2. Start the broker on it.
    let s = await startTimerBroker(dir);
    child = s.child;
    out.startMs = s.startMs;
    const rssAtStart = procMemory(child.pid).rss;
    // The store was written a while ago: the broker first loads (and rolls) the slots of that
    // gap, as after downtime. Wait until it has caught up.
    const catchUpStart = Date.now();
    for (let i = 0; i < 6000; i++) {
      child.send({ status: true });
      const st = await child.next((m) => m.status);
      if (st.status.loadedUpToMs >= Date.now()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    out.catchUpMs = Date.now() - catchUpStart;
    out.gapSeconds = Math.round((Date.now() - now) / 1000);
    const { Producer, PushConsumer, ConsumeResult } = await import(dist("client"));
    const topic = "Timer10M";
    const p = new Producer({ endpoints: s.ns, logger: quiet, pollNameServerInterval: 500 });
    await p.startup();
    await p.send({ topic, body: Buffer.from("warm-up") });
    const late = [];
    let early = 0;
    const c = new PushConsumer({
      endpoints: s.ns,
      consumerGroup: "Timer10MGroup",
      subscriptions: new Map([[topic, "*"]]),
      logger: quiet,
      pollNameServerInterval: 500,
      rebalanceInterval: 500,
      messageListener: {
        consume(m) {
          const due = Number(m.properties.get("TIMER_OUT_MS"));
          if (Number.isFinite(due)) {
            late.push(m.storeTimestamp.getTime() - due);
            if (Date.now() < due) early++;
          }
          return ConsumeResult.SUCCESS;
        },
      },
    });
    await c.startup();
    // 3. 2,000 real timers due over 2 s, 5 s from now.
    const first = Date.now() + 5000;
    let i = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (i < 2000) {
          const k = i++;
          await p.send({ topic, body: Buffer.from(`t${k}`), deliveryTimestamp: first + k });
        }
      }),
    );
    const deadline = Date.now() + 60_000;
    while (late.length < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    child.send({ status: true });
    const st = await child.next((m) => m.status);
    const r = procMemory(child.pid);
    const sorted = late.sort((a, b) => a - b);
    out.pendingAtBroker = st.status.pending;
    out.rssAtStartMiB = mib(rssAtStart);
    out.rssAfterMiB = mib(r.rss);
    out.peakRssMiB = mib(r.hwm);
    out.heapUsedMiB = mib(st.heapUsed);
    out.realTimers = {
      received: late.length,
      early,
      p50: pct(sorted, 50),
      p99: pct(sorted, 99),
      max: sorted.at(-1),
    };
    await c.shutdown();
    await p.shutdown();
    const runSeconds = (Date.now() - catchUpStart) / 1000;
    out.journalKiBPerSecond = Math.round(
      statSync(join(dir, "timer", "wheel.journal")).size / 1024 / runSeconds,
    );
    // 4. kill -9 and restart.
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    s = await startTimerBroker(dir);
    child = s.child;
    out.restartAfterKillMs = s.startMs;
    child.send({ status: true });
    out.pendingAfterRestart = (await child.next((m) => m.status)).status.pending;
    out.machine = `${machine()}, load ${os.loadavg()[0].toFixed(1)}`;
    if (opt.json) console.log(JSON.stringify(out));
    else {
      console.log(`${n} pending timers written in ${out.writeSeconds} s (timer log ${out.timerLogMiB} MiB)`);
      console.log(
        `caught up with ${out.gapSeconds} s of slots (written before start) in ${out.catchUpMs} ms`,
      );
      console.log(
        `broker start-up ${out.startMs} ms; RSS ${out.rssAtStartMiB} MiB at start, ${out.rssAfterMiB} MiB after the run, peak ${out.peakRssMiB} MiB; heap used ${out.heapUsedMiB} MiB; pending ${out.pendingAtBroker}`,
      );
      console.log(
        `2,000 real timers with the 10 M pending: ${out.realTimers.received} received, ${early} early, lateness (store − due) p50 ${out.realTimers.p50} ms p99 ${out.realTimers.p99} ms max ${out.realTimers.max} ms`,
      );
      console.log(`wheel journal written: ${out.journalKiBPerSecond} KiB/s while the 10 M roll`);
      console.log(`restart after kill -9: ${out.restartAfterKillMs} ms, pending ${out.pendingAfterRestart}`);
      console.log(out.machine);
    }
  } finally {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    if (!opt.keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
