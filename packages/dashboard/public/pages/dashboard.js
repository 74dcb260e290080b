import { legend, lineChart } from "../chart.js";
import { api, errorBox, h, show } from "../ui.js";

/** Dashboard: live charts of broker produce/consume TPS and the busiest topics' produce TPS. */
export default {
  id: "dashboard",
  title: "Dashboard",
  async render(root) {
    const topicInput = h("input", { name: "topic", placeholder: "also chart topic…" });
    const charts = h("div", {});
    root.append(
      h("h1", {}, "Dashboard"),
      h(
        "div",
        { class: "toolbar" },
        topicInput,
        h("button", { onclick: () => draw() }, "Show"),
        h("span", { class: "muted" }, "live: redrawn every 5 s"),
      ),
      charts,
    );
    const draw = async () => {
      try {
        const r = await api.get("/api/dashboard/tps", { topic: topicInput.value.trim() });
        const brokers = [
          ...r.brokerPut.map((s) => ({ name: `${s.name} produce`, points: s.points })),
          ...r.brokerGet.map((s) => ({ name: `${s.name} consume`, points: s.points })),
        ];
        show(
          charts,
          h(
            "div",
            { class: "panel" },
            h("h2", {}, "Brokers: messages per second"),
            lineChart(brokers),
            legend(brokers),
          ),
          h(
            "div",
            { class: "panel" },
            h("h2", {}, "Topics: messages produced per second (busiest first)"),
            r.topicNote ? h("div", { class: "cut", "data-cut": "true" }, r.topicNote) : null,
            lineChart(r.topics),
            legend(r.topics),
            h(
              "p",
              { class: "muted" },
              "Topic rates come from the growth of each topic's queue offsets between sweeps of the console (every 15 s by default).",
            ),
          ),
        );
      } catch (err) {
        show(charts, errorBox(err));
      }
    };
    await draw();
    const timer = setInterval(draw, 5000);
    return () => clearInterval(timer);
  },
};
