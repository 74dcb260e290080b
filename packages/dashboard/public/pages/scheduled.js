import { api, asOf, cutNotice, errorBox, fmtNum, fmtTime, h, show, table } from "../ui.js";

/** "1s", "30m", "2h", "1h 30m": a delay level's delay as people write it. */
function fmtDelay(ms) {
  if (ms === undefined || ms < 0) return "(not configured)";
  const parts = [];
  let s = Math.round(ms / 1000);
  for (const [unit, size] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ]) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join(" ") || `${ms}ms`;
}

/** Timer messages of one broker: pending, next due, and pending per due day. */
function timerView(t) {
  if (!t) return "";
  if (t.error) return h("div", { "data-timer": "error" }, h("h3", {}, "Timer messages"), errorBox(t.error));
  return h(
    "div",
    { "data-timer": "true" },
    h("h3", {}, "Timer messages (any delivery time)"),
    h(
      "p",
      {},
      `${fmtNum(t.pending)} timer messages pending · next due ${t.nextDueMs ? fmtTime(t.nextDueMs) : "– (none within the next two days)"} · ${fmtNum(t.loadedInMemory)} loaded for delivery · ${fmtNum(t.delivered)} delivered since the broker started`,
    ),
    t.enqueueBehind > 0
      ? h(
          "div",
          { class: "cut", "data-cut": "true" },
          `${fmtNum(t.enqueueBehind)} timer-topic records not yet in the timer store (counted once they are)`,
        )
      : "",
    cutNotice(t.days, "due days"),
    table(
      [
        { title: "due day (UTC)", get: (d) => d.day },
        { title: "pending", num: true, get: (d) => fmtNum(d.count) },
      ],
      t.days.items,
    ),
    h("p", { class: "muted" }, `Longest delay the broker takes: ${fmtDelay(t.timerMaxDelaySec * 1000)}.`),
  );
}

function brokerView(b) {
  if (b.error)
    return h(
      "div",
      { class: "panel", "data-broker": b.brokerName },
      h("h2", {}, `${b.brokerName} (${b.addr})`),
      errorBox(b.error),
      timerView(b.timer),
    );
  return h(
    "div",
    { class: "panel", "data-broker": b.brokerName },
    h("h2", {}, `${b.brokerName} (${b.addr})`),
    h(
      "p",
      {},
      `${fmtNum(b.pending)} delayed messages pending · next due ${b.nextDue ? fmtTime(b.nextDue) : "–"}`,
    ),
    table(
      [
        { title: "level", num: true, get: (l) => l.level },
        { title: "delay", get: (l) => fmtDelay(l.delayMs) },
        {
          title: "pending",
          num: true,
          get: (l) => (l.pending > 0 ? h("span", { class: "badge" }, fmtNum(l.pending)) : "0"),
        },
        { title: "delivered offset", num: true, get: (l) => fmtNum(l.deliveredOffset) },
        { title: "parked (max offset)", num: true, get: (l) => fmtNum(l.maxOffset) },
        { title: "next due", get: (l) => (l.nextDue ? fmtTime(l.nextDue) : "–") },
      ],
      b.levels,
    ),
    timerView(b.timer),
  );
}

/** Scheduled: delayed messages pending per delay level on every master. */
export default {
  id: "scheduled",
  title: "Scheduled",
  async render(root) {
    const out = h("div", {});
    const load = async () => {
      try {
        const r = await api.get("/api/scheduled");
        show(out, r.brokers.map(brokerView), asOf(r.asOf));
      } catch (err) {
        show(out, errorBox(err));
      }
    };
    root.append(
      h("h1", {}, "Scheduled"),
      h(
        "p",
        { class: "muted" },
        "A message sent with a delay level waits in SCHEDULE_TOPIC_XXXX (one queue per level) until its delay has passed; a message sent with a delivery time (or a delay in ms) waits in the broker's timer wheel. Then the broker delivers it to its topic. Pending = stored and not yet delivered.",
      ),
      h("div", { class: "toolbar" }, h("button", { onclick: load }, "Refresh")),
      out,
    );
    await load();
  },
};
