// A time-series line chart drawn as SVG (about 100 lines): the Dashboard page needs lines
// of a few series over time, which does not justify vendoring a chart library.

const NS = "http://www.w3.org/2000/svg";
export const COLORS = [
  "#1f6feb",
  "#cf222e",
  "#1a7f37",
  "#9a6700",
  "#8250df",
  "#bf3989",
  "#0a7b83",
  "#57606a",
];

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Round step for ~5 ticks up to `max`. */
function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

/**
 * series: [{name, points: [{t, v}]}] → <svg>. Empty series draw an empty frame that says so.
 */
export function lineChart(series, { unit = "msg/s", width = 900, height = 260 } = {}) {
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  const pad = { l: 56, r: 12, t: 22, b: 26 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    svg.append(
      el(
        "text",
        { x: width / 2, y: height / 2, "text-anchor": "middle" },
        "no samples yet: the console samples every few seconds",
      ),
    );
    return svg;
  }
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t), t0 + 1000);
  const vmax = Math.max(1, ...all.map((p) => p.v));
  const step = niceStep(vmax);
  const top = Math.ceil(vmax / step) * step;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / top) * (height - pad.t - pad.b);
  for (let v = 0; v <= top + step / 2; v += step) {
    svg.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), stroke: "#eaeef2" }));
    svg.append(
      el(
        "text",
        { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end" },
        v >= 1000 ? `${(v / 1000).toFixed(v % 1000 ? 1 : 0)}k` : String(+v.toFixed(2)),
      ),
    );
  }
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    const d = new Date(t);
    const label = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}:${String(d.getSeconds()).padStart(2, "0")}`;
    svg.append(el("text", { x: x(t), y: height - 8, "text-anchor": "middle" }, label));
  }
  svg.append(el("text", { x: 4, y: 12 }, unit));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const path = el("path", {
      d,
      fill: "none",
      stroke: COLORS[i % COLORS.length],
      "stroke-width": 2,
      "data-series": s.name,
    });
    path.append(el("title", {}, `${s.name}: ${s.points.at(-1).v.toFixed(2)} ${unit} now`));
    svg.append(path);
  });
  return svg;
}

export function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = COLORS[i % COLORS.length];
    item.append(sw, `${s.name} (${s.points.length ? s.points.at(-1).v.toFixed(2) : "–"})`);
    box.append(item);
  });
  return box;
}
