import { api, asOf, cutNotice, errorBox, fmtNum, fmtTime, h, show, table } from "../ui.js";

function fmtAge(ms) {
  if (ms === undefined) return "–";
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function brokerView(b) {
  const head = h("h2", {}, `${b.brokerName} (${b.addr})`);
  if (b.error) return h("div", { class: "panel", "data-broker": b.brokerName }, head, errorBox(b.error));
  return h(
    "div",
    { class: "panel", "data-broker": b.brokerName },
    head,
    h(
      "p",
      {},
      `${fmtNum(b.pending)} half messages pending · oldest ${fmtTime(b.oldest)} (${fmtAge(b.oldestAgeMs)} ago)`,
    ),
    h(
      "p",
      { class: "muted" },
      `The broker asks the producer group about a half older than ${fmtNum(b.timeout)} ms, every ${fmtNum(b.checkInterval)} ms, at most ${fmtNum(b.checkMax)} times; then it discards the half.`,
    ),
    cutNotice(b.groups, "producer groups"),
    table(
      [
        { title: "producer group", get: (g) => g.group },
        { title: "pending halves", num: true, get: (g) => fmtNum(g.pending) },
      ],
      b.groups.items,
    ),
  );
}

/** Transactions: pending half messages on every master, per producer group. */
export default {
  id: "transactions",
  title: "Transactions",
  async render(root) {
    const out = h("div", {});
    const load = async () => {
      try {
        const r = await api.get("/api/transactions");
        show(
          out,
          table(
            [
              { title: "broker", get: (b) => b.brokerName },
              { title: "address", get: (b) => b.addr },
              {
                title: "pending halves",
                num: true,
                get: (b) => (b.error ? h("span", { class: "badge bad" }, b.error) : fmtNum(b.pending)),
              },
              { title: "oldest", get: (b) => fmtTime(b.oldest) },
              { title: "oldest age", get: (b) => fmtAge(b.oldestAgeMs) },
            ],
            r.brokers,
          ),
          r.brokers.map(brokerView),
          asOf(r.asOf),
        );
      } catch (err) {
        show(out, errorBox(err));
      }
    };
    root.append(
      h("h1", {}, "Transactions"),
      h(
        "p",
        { class: "muted" },
        "A transactional message is stored as a half in RMQ_SYS_TRANS_HALF_TOPIC, invisible to consumers, until its producer commits or rolls it back (or answers the broker's check-back).",
      ),
      h("div", { class: "toolbar" }, h("button", { onclick: load }, "Refresh")),
      out,
    );
    await load();
  },
};
