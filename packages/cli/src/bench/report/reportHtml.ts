import {
  type BenchReportData,
  fmt,
  reportSeries,
  reportTable,
  type Series,
  stats,
  verdict,
} from "./BenchReport.js";

/** Text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const W = 560;
const H = 180;
const PAD = { left: 56, right: 12, top: 26, bottom: 28 };

/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at or above `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * One series as an inline SVG line chart (no script, no external asset): a polyline over
 * the finite points, axes with the time span and the value range. NaN points break nothing:
 * they are left out.
 */
export function svgLineChart(s: Series, tMax: number): string {
  const pts = s.values.filter(([, v]) => Number.isFinite(v));
  const yMax = niceMax(Math.max(0, ...pts.map(([, v]) => v)));
  const xs = (t: number) => PAD.left + (tMax > 0 ? (t / tMax) * (W - PAD.left - PAD.right) : 0);
  const ys = (v: number) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  const poly = pts.map(([t, v]) => `${xs(t).toFixed(1)},${ys(v).toFixed(1)}`).join(" ");
  const st = stats(pts.map(([, v]) => v));
  const title = `${s.label} (${s.unit})`;
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const yb = H - PAD.bottom;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-series="${escapeHtml(s.key)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(title)}">`,
    `<title>${escapeHtml(title)}</title>`,
    `<text x="${x0}" y="16" class="t">${escapeHtml(title)} — avg ${escapeHtml(fmt(st.avg))}, max ${escapeHtml(fmt(st.max))}</text>`,
    `<line x1="${x0}" y1="${PAD.top}" x2="${x0}" y2="${yb}" class="axis"/>`,
    `<line x1="${x0}" y1="${yb}" x2="${x1}" y2="${yb}" class="axis"/>`,
    `<line x1="${x0}" y1="${ys(yMax / 2).toFixed(1)}" x2="${x1}" y2="${ys(yMax / 2).toFixed(1)}" class="grid"/>`,
    `<text x="${x0 - 4}" y="${PAD.top + 4}" class="l" text-anchor="end">${escapeHtml(fmt(yMax))}</text>`,
    `<text x="${x0 - 4}" y="${(ys(yMax / 2) + 4).toFixed(1)}" class="l" text-anchor="end">${escapeHtml(fmt(yMax / 2))}</text>`,
    `<text x="${x0 - 4}" y="${yb + 4}" class="l" text-anchor="end">0</text>`,
    `<text x="${x0}" y="${H - 8}" class="l">0 s</text>`,
    `<text x="${x1}" y="${H - 8}" class="l" text-anchor="end">${escapeHtml(fmt(tMax))} s</text>`,
    pts.length > 0
      ? `<polyline points="${poly}" class="line"/>`
      : `<text x="${(x0 + x1) / 2}" y="${H / 2}" class="l" text-anchor="middle">no data</text>`,
    "</svg>",
  ].join("\n");
}

/**
 * The whole report as one self-contained HTML page: the summary, the verdict, the table,
 * one chart per series, and the raw samples as JSON (id "report-data") for scripts.
 */
export function renderReportHtml(d: BenchReportData): string {
  const series = reportSeries(d);
  const tMax = Math.max(0, ...series.flatMap((s) => s.values.map(([t]) => t)));
  const rt = Object.entries(d.summary.rt)
    .filter(([k]) => k !== "count")
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(", ");
  // "</" cannot close the script element early once escaped.
  const json = JSON.stringify(d).replace(/</g, "\\u003c");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(d.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
pre { background: #f6f6f6; padding: 12px; overflow-x: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { border: 1px solid #ddd; background: #fff; }
.axis { stroke: #888; } .grid { stroke: #eee; }
.line { fill: none; stroke: #1f6feb; stroke-width: 1.5; }
.t { font-size: 13px; fill: #222; } .l { font-size: 11px; fill: #666; }
</style>
</head>
<body>
<h1>${escapeHtml(d.title)}</h1>
<p>${escapeHtml(d.startedAt)} · ${escapeHtml(d.machine)}<br><code>${escapeHtml(d.command)}</code></p>
<p><strong>${escapeHtml(fmt(d.summary.tps))} msg/s</strong> over the run, ${escapeHtml(d.summary.sent.toLocaleString("en-US"))} ${d.role === "consumer" ? "received" : "sent"}, ${escapeHtml(d.summary.failed.toLocaleString("en-US"))} ${d.role === "consumer" ? "duplicates" : "failed"}; ${d.role === "consumer" ? "end-to-end latency" : "RT"} (ms) ${escapeHtml(rt)}</p>
<h2>Where the limit is</h2>
<ul>
${verdict(d)
  .map((v) => `<li>${escapeHtml(v)}</li>`)
  .join("\n")}
</ul>
${d.problems.length > 0 ? `<p>Not measured: ${d.problems.map(escapeHtml).join("; ")}</p>` : ""}
<h2>Summary (steady seconds)</h2>
<pre>${escapeHtml(reportTable(d))}</pre>
<h2>Over time</h2>
<div class="charts">
${series.map((s) => svgLineChart(s, tMax)).join("\n")}
</div>
<script type="application/json" id="report-data">${json}</script>
</body>
</html>
`;
}
