import { api, asOf, errorBox, fmtNum, h, kvTable, show, table } from "../ui.js";

/** Cluster: every broker with role, address, version, TPS, today's and yesterday's totals; status and config. */
export default {
  id: "cluster",
  title: "Cluster",
  async render(root) {
    const detail = h("div", {});
    const data = await api.get("/api/cluster");
    const open = async (b, what) => {
      show(detail, h("p", { class: "muted" }, "loading…"));
      try {
        const r = await api.get(`/api/cluster/broker${what}`, { addr: b.addr });
        show(
          detail,
          h(
            "div",
            { class: "panel" },
            h("h2", {}, `${what} of ${b.brokerName} (${b.addr})`),
            asOf(r.asOf),
            kvTable(r.table),
          ),
        );
      } catch (err) {
        show(detail, errorBox(err));
      }
    };
    root.append(
      h("h1", {}, "Cluster"),
      h(
        "p",
        { class: "muted" },
        `NameServer ${data.namesrv} · clusters: ${data.clusters.join(", ") || "none"}`,
      ),
      table(
        [
          { title: "cluster", get: (b) => b.cluster },
          { title: "broker", get: (b) => b.brokerName },
          { title: "role", get: (b) => b.role },
          { title: "address", get: (b) => b.addr },
          { title: "version", get: (b) => b.version ?? "" },
          { title: "produce TPS", num: true, get: (b) => fmtNum(b.putTps) },
          { title: "consume TPS", num: true, get: (b) => fmtNum(b.getTps) },
          { title: "produced today", num: true, get: (b) => fmtNum(b.putToday) },
          { title: "consumed today", num: true, get: (b) => fmtNum(b.getToday) },
          { title: "produced yesterday", num: true, get: (b) => fmtNum(b.putYesterday) },
          { title: "consumed yesterday", num: true, get: (b) => fmtNum(b.getYesterday) },
          {
            title: "disk used",
            num: true,
            get: (b) => (b.diskRatio === undefined ? "–" : `${(b.diskRatio * 100).toFixed(1)} %`),
          },
          {
            title: "",
            get: (b) =>
              b.error
                ? h("span", { class: "badge bad" }, b.error)
                : [
                    h("button", { onclick: () => open(b, "Status") }, "Status"),
                    " ",
                    h("button", { onclick: () => open(b, "Config") }, "Config"),
                  ],
          },
        ],
        data.brokers,
      ),
      asOf(data.asOf),
      h(
        "p",
        { class: "muted" },
        "TPS: messages per second over the last 10 s, as the broker counts them (GET_BROKER_RUNTIME_INFO).",
      ),
      detail,
    );
  },
};
