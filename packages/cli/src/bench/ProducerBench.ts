import { makeTemplate, stampBody } from "./BenchPayload.js";
import { LatencyHistogram, type LatencySummary } from "./LatencyHistogram.js";

/** One message as the bench hands it to the client. */
export interface BenchMessage {
  body: Buffer;
  keys: string[] | undefined;
}

/**
 * Sends one message (batch of 1) or a batch; resolves with the send result, whose `sendStatus`
 * "SEND_OK" counts as success and anything else as a response failure; rejects on error. The
 * client's own promise, not one wrapped in an async function per send: the wrapper was about
 * half the bench producer's garbage (~400 B per message).
 */
export type SendFn = (messages: BenchMessage[]) => Promise<{ readonly sendStatus: string }>;

export interface ProducerBenchConfig {
  size: number;
  concurrency: number;
  batch: number;
  keys: boolean;
  mode: "sync" | "async";
  count: number | undefined;
  durationSec: number | undefined;
  runId: number;
}

export interface ProducerPeriod {
  /** Messages confirmed SEND_OK in the period. */
  sent: number;
  sendFailed: number;
  responseFailed: number;
  rt: LatencySummary;
}

export interface ProducerTotals {
  sent: number;
  sendFailed: number;
  responseFailed: number;
  attempted: number;
  inflight: number;
  firstError: string | undefined;
  elapsedSec: number;
  rt: LatencySummary;
}

export type StopReason = "count" | "duration" | "signal";

/**
 * The send loop of `tidemq bench producer`, apart from the client and the output so tests
 * can drive it with any SendFn. Keeps `concurrency` sends in flight:
 *  - sync: `concurrency` loops, each awaiting its send before the next (RocketMQ's threads);
 *  - async: one pump that starts sends while fewer than `concurrency` are outstanding and is
 *    resumed from each completion.
 * Response time is measured per send call (per batch when batch > 1), TPS per message.
 */
export class ProducerBench {
  private readonly template: Buffer;
  private readonly period = new LatencyHistogram();
  private readonly total = new LatencyHistogram();
  private pSent = 0;
  private pSendFailed = 0;
  private pResponseFailed = 0;
  private sent = 0;
  private sendFailed = 0;
  private responseFailed = 0;
  private issued = 0;
  private inflight = 0;
  private firstError: string | undefined;
  private stopped: StopReason | undefined;
  private started = 0;
  private lastDone = 0;
  private finish: (() => void) | undefined;

  constructor(
    private readonly cfg: ProducerBenchConfig,
    private readonly send: SendFn,
  ) {
    this.template = makeTemplate(cfg.size, cfg.runId);
  }

  get stopReason(): StopReason | undefined {
    return this.stopped;
  }

  get inflightCount(): number {
    return this.inflight;
  }

  /** Messages handed to the client so far. */
  get attempted(): number {
    return this.issued;
  }

  /** Runs until count / duration / stop(); resolves once every send in flight has settled. */
  run(): Promise<StopReason> {
    this.started = performance.now();
    this.lastDone = this.started;
    const done = new Promise<void>((resolve) => {
      this.finish = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    if (this.cfg.durationSec !== undefined) {
      timer = setTimeout(() => this.stop("duration"), this.cfg.durationSec * 1000);
    }
    if (this.cfg.mode === "sync") {
      const loops: Promise<void>[] = [];
      for (let i = 0; i < this.cfg.concurrency; i++) loops.push(this.loop());
      void Promise.all(loops).then(() => this.finish?.());
    } else {
      this.pump();
    }
    return done.then(() => {
      clearTimeout(timer);
      return this.stopped ?? "count";
    });
  }

  /** Stops starting new sends; run() resolves when those in flight have settled. */
  stop(reason: StopReason): void {
    if (this.stopped) return;
    this.stopped = reason;
    if (this.cfg.mode === "async" && this.inflight === 0) this.finish?.();
  }

  /** The next batch to send, or undefined when the count is reached or stopped. */
  private next(): BenchMessage[] | undefined {
    if (this.stopped) return undefined;
    const count = this.cfg.count;
    let n = this.cfg.batch;
    if (count !== undefined) {
      n = Math.min(n, count - this.issued);
      if (n <= 0) {
        this.stop("count");
        return undefined;
      }
    }
    const out: BenchMessage[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const seq = this.issued++;
      out[i] = {
        body: stampBody(this.template, seq),
        keys: this.cfg.keys ? [`${this.cfg.runId.toString(16)}-${seq}`] : undefined,
      };
    }
    return out;
  }

  private async loop(): Promise<void> {
    for (;;) {
      const batch = this.next();
      if (!batch) return;
      const t0 = performance.now();
      this.inflight++;
      try {
        const { sendStatus } = await this.send(batch);
        this.settle(batch.length, t0, sendStatus, undefined);
      } catch (err) {
        this.settle(batch.length, t0, undefined, err);
      }
    }
  }

  private pump(): void {
    while (this.inflight < this.cfg.concurrency) {
      const batch = this.next();
      if (!batch) {
        if (this.inflight === 0) this.finish?.();
        return;
      }
      const t0 = performance.now();
      this.inflight++;
      let p: Promise<{ readonly sendStatus: string }>;
      try {
        p = this.send(batch);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (result) => {
          this.settle(batch.length, t0, result.sendStatus, undefined);
          this.pump();
        },
        (err: unknown) => {
          this.settle(batch.length, t0, undefined, err);
          this.pump();
        },
      );
    }
  }

  private settle(n: number, t0: number, status: string | undefined, err: unknown): void {
    this.inflight--;
    const now = performance.now();
    this.lastDone = now;
    const us = (now - t0) * 1000;
    if (status === "SEND_OK") {
      this.pSent += n;
      this.sent += n;
      this.period.record(us);
      this.total.record(us);
    } else if (status !== undefined) {
      this.pResponseFailed += n;
      this.responseFailed += n;
      this.firstError ??= `send status ${status}`;
    } else {
      this.pSendFailed += n;
      this.sendFailed += n;
      this.firstError ??= (err as Error)?.message ?? String(err);
    }
  }

  /** Counters since the previous call (the per-second line), then resets them. */
  takePeriod(): ProducerPeriod {
    const out = {
      sent: this.pSent,
      sendFailed: this.pSendFailed,
      responseFailed: this.pResponseFailed,
      rt: this.period.summary(),
    };
    this.pSent = 0;
    this.pSendFailed = 0;
    this.pResponseFailed = 0;
    this.period.reset();
    return out;
  }

  totals(): ProducerTotals {
    return {
      sent: this.sent,
      sendFailed: this.sendFailed,
      responseFailed: this.responseFailed,
      attempted: this.issued,
      inflight: this.inflight,
      firstError: this.firstError,
      elapsedSec: Math.max(0, (this.lastDone - this.started) / 1000),
      rt: this.total.summary(),
    };
  }
}
