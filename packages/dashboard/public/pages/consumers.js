import { choiceField, openDetail, resetOffsetPanel, savePanel, updateDeletePanel } from "../panels.js";
import {
  api,
  asOf,
  canWrite,
  cutNotice,
  errorBox,
  fmtNum,
  fmtTime,
  form,
  h,
  kvTable,
  pager,
  show,
  table,
  tabs,
} from "../ui.js";
import { runningInfoPanel } from "./consumerRunningInfo.js";

const SIZE = 100;

function groupForm(g = {}) {
  const c = g.config ?? {};
  return form([
    { name: "group", label: "Group", value: g.group ?? "" },
    {
      name: "consumeEnable",
      label: "Consume enabled",
      value: String(c.consumeEnable ?? true),
      options: ["true", "false"],
    },
    {
      name: "consumeBroadcastEnable",
      label: "Broadcast allowed",
      value: String(c.consumeBroadcastEnable ?? true),
      options: ["true", "false"],
    },
    { name: "retryQueueNums", label: "Retry queues", type: "number", value: c.retryQueueNums ?? 1 },
    { name: "retryMaxTimes", label: "Max retries", type: "number", value: c.retryMaxTimes ?? 16 },
    { name: "clusterName", label: "Cluster (empty = the only one)", value: "" },
  ]);
}

function groupValues(v) {
  return {
    ...v,
    consumeEnable: v.consumeEnable === "true",
    consumeBroadcastEnable: v.consumeBroadcastEnable === "true",
    retryQueueNums: Number(v.retryQueueNums),
    retryMaxTimes: Number(v.retryMaxTimes),
  };
}

/** Consumers: groups by lag, per-queue offsets and owners, online clients and subscriptions, offset reset, group CRUD. */
export default {
  id: "consumers",
  title: "Consumers",
  async render(root, params) {
    const state = { search: "", sort: "lag", system: false, page: 0 };
    const search = h("input", { name: "search", placeholder: "search groups" });
    const sort = h(
      "select",
      { name: "sort" },
      ["lag", "group", "tps", "clients"].map((s) => h("option", { value: s }, `sort by ${s}`)),
    );
    const system = h("input", { type: "checkbox", name: "system" });
    const list = h("div", {});
    const detail = h("div", {});
    const result = h("div", {});
    const out = h("div", {});
    let retry = null;
    const load = async () => {
      clearTimeout(retry);
      try {
        const r = await api.get("/api/consumers", { ...state });
        // Lag still being computed (just after the console started): ask again shortly.
        if (r.lagPending) retry = setTimeout(load, 2000);
        show(
          list,
          cutNotice(r, `groups (${fmtNum(r.all)} in all)`),
          table(
            [
              { title: "group", get: (g) => g.group },
              {
                title: "lag",
                num: true,
                get: (g) => (g.lag === undefined || g.lag === null ? "?" : fmtNum(g.lag)),
              },
              { title: "consume TPS", num: true, get: (g) => fmtNum(g.consumeTps) },
              { title: "online clients", num: true, get: (g) => g.clients },
              { title: "topics", num: true, get: (g) => g.topics },
              { title: "mode", get: (g) => (g.broadcast ? "broadcast allowed" : "clustering") },
              {
                title: "",
                get: (g) =>
                  g.error
                    ? h("span", { class: "badge bad" }, g.error)
                    : g.consumeEnable
                      ? ""
                      : h("span", { class: "badge" }, "disabled"),
              },
            ],
            r.items,
            (g) => open(g.group),
          ),
          pager(r, SIZE, (p) => {
            state.page = p;
            load();
          }),
          asOf(r.asOf),
          h(
            "p",
            { class: "muted" },
            "Lag, TPS and clients are refreshed every few seconds in the background; the group's detail reads them fresh.",
          ),
        );
      } catch (err) {
        show(list, errorBox(err));
      }
    };
    // Results of the detail's actions live outside it, so reloading the detail keeps them.
    const open = (group, keepResult = false) =>
      openDetail(detail, result, {
        name: group,
        keepResult,
        load: () => api.get("/api/consumers/detail", { group }),
        render: (d) => groupDetail(d, load, (g) => open(g, true), result),
      });
    const apply = () => {
      Object.assign(state, {
        search: search.value.trim(),
        sort: sort.value,
        system: system.checked,
        page: 0,
      });
      load();
    };
    search.addEventListener("keydown", (e) => e.key === "Enter" && apply());
    sort.addEventListener("change", apply);
    system.addEventListener("change", apply);
    const create = () => {
      const f = groupForm();
      show(
        out,
        savePanel("create-group", "Add or update a group", f, async () => {
          const r = await api.post("/api/consumers/createOrUpdate", groupValues(f.values()));
          await load();
          return `group ${r.group} saved on ${r.brokers.join(", ")}`;
        }),
      );
    };
    root.append(
      h("h1", {}, "Consumers"),
      h(
        "div",
        { class: "toolbar" },
        search,
        sort,
        h("label", {}, system, " system groups"),
        h("button", { onclick: apply }, "Search"),
        canWrite() ? h("button", { class: "primary", onclick: create }, "Add / update group") : null,
      ),
      out,
      list,
      detail,
      result,
    );
    // The list and a group named in the URL load at once (neither needs the other).
    await Promise.all([load(), params.get("group") ? open(params.get("group")) : undefined]);
    return () => clearTimeout(retry);
  },
};

function groupDetail(d, reload, reopen, res) {
  // The group's own topics first, its retry topic last.
  const topics = [...new Set(d.queues.map((q) => q.mq.topic))].sort(
    (a, b) => Number(a.startsWith("%")) - Number(b.startsWith("%")) || (a < b ? -1 : 1),
  );
  const conn = d.connection;
  const panels = [
    {
      title: "Consume detail",
      render: (el) =>
        el.append(
          table(
            [
              { title: "topic", get: (q) => q.mq.topic },
              { title: "broker", get: (q) => q.mq.brokerName },
              { title: "queue", num: true, get: (q) => q.mq.queueId },
              { title: "broker offset", num: true, get: (q) => fmtNum(q.brokerOffset) },
              { title: "consumer offset", num: true, get: (q) => fmtNum(q.consumerOffset) },
              { title: "lag", num: true, get: (q) => fmtNum(q.lag) },
              { title: "owner (expected)", get: (q) => q.owner || "–" },
              { title: "last consumed message stored", get: (q) => fmtTime(q.lastTimestamp) },
            ],
            d.queues,
          ),
          h(
            "p",
            { class: "muted" },
            "Owner: the client the default average allocation gives the queue (sorted client ids over sorted queues); a client with another strategy may hold it instead; the Running info tab shows the queues each client actually holds.",
          ),
        ),
    },
    {
      title: `Clients (${conn ? conn.connectionSet.length : 0})`,
      render: (el) =>
        conn
          ? el.append(
              h(
                "p",
                {},
                `consume type ${conn.consumeType ?? "?"} · message model ${conn.messageModel ?? "?"} · consume from ${conn.consumeFromWhere ?? "?"}`,
              ),
              table(
                [
                  { title: "client id", get: (c) => c.clientId },
                  { title: "address", get: (c) => c.clientAddr },
                  { title: "language", get: (c) => c.language },
                  { title: "version", num: true, get: (c) => c.version },
                ],
                conn.connectionSet,
              ),
              h("h2", {}, "Subscriptions"),
              table(
                [
                  { title: "topic", get: (s) => s[0] },
                  { title: "expression", get: (s) => s[1]?.subString ?? "" },
                  { title: "type", get: (s) => s[1]?.expressionType ?? "TAG" },
                ],
                Object.entries(conn.subscriptionTable ?? {}),
              ),
            )
          : el.append(h("p", { class: "muted" }, `No client online: ${d.offline}`)),
    },
    {
      title: "Running info",
      render: (el) => el.append(runningInfoPanel(d.group, conn)),
    },
    {
      title: "Config",
      render: (el) =>
        el.append(d.config ? kvTable(d.config) : h("p", { class: "muted" }, "no subscription group config")),
    },
  ];
  if (canWrite()) {
    panels.push({
      title: "Reset offset",
      render: (el) =>
        resetOffsetPanel(el, res, {
          choice: choiceField("topic", "Topic", topics),
          target: (v) => ({ group: d.group, topic: v.topic }),
          reopen: () => reopen(d.group),
          what: () => "",
        }),
    });
    panels.push({
      title: "Update / delete",
      render: (el) => {
        const f = groupForm(d);
        f.inputs.group.readOnly = true;
        updateDeletePanel(el, res, {
          f,
          update: async () => {
            await api.post("/api/consumers/createOrUpdate", groupValues(f.values()));
            reload();
            return `group ${d.group} updated`;
          },
          deleteLabel: "Delete group",
          remove: async () => {
            if (!confirm(`Delete group ${d.group} from every broker?`)) return "";
            await api.post("/api/consumers/delete", { group: d.group, clusterName: f.values().clusterName });
            reload();
            return `group ${d.group} deleted`;
          },
        });
      },
    });
  }
  return h(
    "div",
    { class: "panel", "data-group": d.group },
    h("h2", {}, `Group ${d.group} · lag ${fmtNum(d.lag)} · ${fmtNum(d.consumeTps)} msg/s`),
    asOf(d.asOf),
    tabs(panels),
    res,
  );
}
