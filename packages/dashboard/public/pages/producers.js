import { api, asOf, errorBox, form, h, show, table } from "../ui.js";

/** Producers: online connections of a producer group on the brokers of a topic. */
export default {
  id: "producers",
  title: "Producers",
  async render(root, params) {
    const f = form([
      { name: "topic", label: "Topic", value: params.get("topic") ?? "" },
      { name: "group", label: "Producer group", value: params.get("group") ?? "" },
    ]);
    const out = h("div", {});
    const query = async () => {
      try {
        const r = await api.get("/api/producers", f.values());
        show(
          out,
          table(
            [
              { title: "client id", get: (c) => c.clientId },
              { title: "address", get: (c) => c.clientAddr },
              { title: "language", get: (c) => c.language },
              { title: "version", get: (c) => c.version },
            ],
            r.connections,
          ),
          asOf(r.asOf),
        );
      } catch (err) {
        show(out, errorBox(err));
      }
    };
    root.append(
      h("h1", {}, "Producers"),
      h(
        "p",
        { class: "muted" },
        "Brokers know producers by group and connection only, so name the topic and the producer group (as rocketmq-dashboard asks).",
      ),
      f.el,
      h("p", {}, h("button", { class: "primary", onclick: query }, "Query")),
      out,
    );
    if (params.get("topic") && params.get("group")) await query();
  },
};
