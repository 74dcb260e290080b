import { api, asOf, cutNotice, errorBox, fmtNum, fmtTime, form, h, show, table } from "../ui.js";

/** Every step of a timeline as one row: [time, end, step, group, host, cost, result, detail]. */
function steps(t) {
  const rows = [];
  for (const p of t.pubs)
    rows.push({
      time: p.time,
      kind: "sent",
      group: p.group,
      host: p.clientHost,
      costMs: p.costMs,
      result: p.success ? "SEND_OK" : "FAILED",
      ok: p.success,
      detail: `${p.topic}${p.tags ? ` tag ${p.tags}` : ""}${p.keys ? ` keys ${p.keys}` : ""} → ${p.storeHost} (${p.msgType})`,
    });
  for (const c of t.consumes)
    rows.push({
      time: c.start ?? c.end,
      kind: "consumed",
      group: c.group,
      host: c.clientHost,
      costMs: c.costMs,
      result: c.result,
      ok: c.success,
      detail: `${c.retryTimes > 0 ? `retry ${c.retryTimes}` : "first delivery"}${c.start === undefined ? " (no SubBefore record)" : ""}`,
    });
  for (const x of t.transactions)
    rows.push({
      time: x.time,
      kind: "transaction",
      group: x.group,
      host: x.clientHost,
      result: x.state,
      ok: true,
      detail: `${x.transactionId}${x.fromTransactionCheck ? " (answer to a check-back)" : ""}`,
    });
  for (const r of t.recalls)
    rows.push({
      time: r.time,
      kind: "recalled",
      group: r.group,
      host: r.clientHost,
      result: r.success ? "OK" : "FAILED",
      ok: r.success,
      detail: "",
    });
  return rows.sort((a, b) => (a.time ?? 0) - (b.time ?? 0));
}

/** A bar per step, placed on the time axis of the whole timeline (CSSOM widths: no inline style). */
function bar(row, t0, span) {
  const outer = h("div", { class: "tl-track" });
  const b = h("div", { class: `tl-bar ${row.ok === false ? "bad" : row.ok === undefined ? "open" : ""}` });
  const left = span > 0 ? ((row.time - t0) / span) * 100 : 0;
  const width = span > 0 ? Math.max(0.8, ((row.costMs ?? 0) / span) * 100) : 100;
  b.style.marginLeft = `${Math.min(99, left)}%`;
  b.style.width = `${Math.min(100 - Math.min(99, left), width)}%`;
  outer.append(b);
  return outer;
}

function timeline(t) {
  const rows = steps(t);
  if (rows.length === 0)
    return h(
      "p",
      { class: "muted", "data-trace-empty": "true" },
      `No trace records for ${t.msgId}. Traces exist only for messages sent or consumed with tracing on (enableTrace), and are written asynchronously: try again in a moment.`,
    );
  const t0 = Math.min(...rows.map((r) => r.time ?? Number.POSITIVE_INFINITY));
  const end = Math.max(...rows.map((r) => (r.time ?? t0) + (r.costMs ?? 0)));
  const span = end - t0;
  return h(
    "div",
    { "data-trace": t.msgId },
    h("p", {}, `${rows.length} steps over ${fmtNum(span)} ms, from ${fmtTime(t0)}`),
    table(
      [
        { title: "time", get: (r) => fmtTime(r.time) },
        { title: "+ms", num: true, get: (r) => (r.time ? fmtNum(r.time - t0) : "–") },
        { title: "step", get: (r) => r.kind },
        { title: "group", get: (r) => r.group },
        { title: "client", get: (r) => r.host },
        { title: "cost ms", num: true, get: (r) => fmtNum(r.costMs) },
        {
          title: "result",
          get: (r) => h("span", { class: `badge ${r.ok === false ? "bad" : r.ok ? "ok" : ""}` }, r.result),
        },
        { title: "timeline", get: (r) => bar(r, t0, span) },
        { title: "detail", get: (r) => r.detail },
      ],
      rows,
    ),
    t.unreadable.length
      ? h(
          "div",
          { class: "cut", "data-cut": "true" },
          `${t.unreadable.length} trace records could not be read`,
        )
      : "",
  );
}

/** Message trace: a message's timeline (sent, consumed by each group, transaction, recall). */
export default {
  id: "trace",
  title: "Message trace",
  async render(root, params) {
    const f = form([
      { name: "msgId", label: "Message id", value: params.get("msgId") ?? "" },
      {
        name: "traceTopic",
        label: "Trace topic (empty = RMQ_SYS_TRACE_TOPIC)",
        value: params.get("traceTopic") ?? "",
      },
    ]);
    const out = h("div", {});
    const run = async () => {
      try {
        const r = await api.get("/api/trace", f.values());
        show(out, cutNotice(r), timeline(r), asOf(r.asOf));
      } catch (err) {
        show(out, errorBox(err));
      }
    };
    f.inputs.msgId.addEventListener("keydown", (e) => e.key === "Enter" && run());
    root.append(
      h("h1", {}, "Message trace"),
      h(
        "p",
        { class: "muted" },
        "The trace records producers and consumers with tracing on write to the trace topic, found by the message id (the client's message id, as sent).",
      ),
      h("div", { "data-form": "trace" }, f.el),
      h("p", {}, h("button", { class: "primary", onclick: run }, "Show trace")),
      out,
    );
    if (params.get("msgId")) await run();
  },
};
