import { writeFile } from "node:fs/promises";
import os from "node:os";
import { resolve } from "node:path";
import type { PeriodLatency, Reporter } from "../Reporter.js";
import type { BenchReportData, TickPoint } from "./BenchReport.js";
import { reportTable, verdict } from "./BenchReport.js";
import { ResourceSampler } from "./ResourceSampler.js";
import { renderReportHtml } from "./reportHtml.js";

/**
 * `tidemq bench producer|consumer --report`: keeps the bench's per-period figures (and a
 * consumer group's lag) and the resource samples, then prints the table and the verdict and
 * writes the HTML file.
 */
export class ReportRecorder {
  private readonly ticks: TickPoint[] = [];
  private readonly lagPoints: Array<[number, number]> = [];
  private readonly sampler: ResourceSampler;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly o: { report: string | undefined; metricsUrl: string; intervalMs: number },
    private readonly role: "producer" | "consumer" = "producer",
  ) {
    this.sampler = new ResourceSampler(o.metricsUrl, o.intervalMs);
  }

  start(): Promise<void> {
    return this.sampler.start();
  }

  tick(t: number, tps: number, rt: PeriodLatency): void {
    const p: TickPoint = { t: +t.toFixed(3), tps, rtAvgMs: rt.avg, rtP99Ms: rt.p99, rtMaxMs: rt.max };
    if (this.role === "consumer") p.rtP50Ms = rt.p50;
    this.ticks.push(p);
  }

  /** Consumer: the group's lag at `t` seconds. */
  lag(t: number, messages: number): void {
    this.lagPoints.push([+t.toFixed(3), messages]);
  }

  async finish(
    summary: { tps: number; sent: number; failed: number; rt: object },
    out: Reporter,
  ): Promise<void> {
    await this.sampler.stop();
    const cpus = os.cpus();
    const data: BenchReportData = {
      role: this.role,
      title: this.role === "consumer" ? "TideMQ pressure test (consumer)" : "TideMQ pressure test",
      startedAt: this.startedAt,
      machine: `${cpus[0]?.model.trim() ?? "unknown CPU"}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`,
      command: `tidemq ${process.argv.slice(2).join(" ")}`,
      ticks: this.ticks,
      resources: this.sampler.samples,
      summary: {
        tps: summary.tps,
        sent: summary.sent,
        failed: summary.failed,
        rt: summary.rt as Record<string, number>,
      },
      problems: [...this.sampler.problems],
      ...(this.role === "consumer" ? { lag: this.lagPoints } : {}),
    };
    const file = resolve(this.o.report ?? `tidemq-bench-${this.role}-report.html`);
    await writeFile(file, renderReportHtml(data));
    const notes = data.problems.length > 0 ? `\nNot measured: ${data.problems.join("; ")}` : "";
    out.emit(
      { type: "report", file, verdict: verdict(data), resources: data.resources, problems: data.problems },
      `\nResources (broker from ${this.o.metricsUrl}, machine from /proc; steady seconds):\n${reportTable(data)}\n\n` +
        `Where the limit is:\n${verdict(data)
          .map((v) => `  - ${v}`)
          .join("\n")}${notes}\nHTML report: ${file}`,
    );
  }
}
