import { choiceField, openDetail, resetOffsetPanel, savePanel, updateDeletePanel } from "../panels.js";
import {
  actionButton,
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

const TYPES = ["normal", "retry", "dlq", "delay", "transaction", "system"];
const SIZE = 100;

function topicForm(values = {}) {
  return form([
    { name: "topic", label: "Topic", value: values.topic ?? "" },
    { name: "readQueueNums", label: "Read queues", value: values.readQueueNums ?? 8, type: "number" },
    { name: "writeQueueNums", label: "Write queues", value: values.writeQueueNums ?? 8, type: "number" },
    { name: "perm", label: "Permission", value: values.perm ?? 6, options: [6, 4, 2] },
    { name: "clusterName", label: "Cluster (empty = the only one)", value: "" },
  ]);
}

function numbers(v) {
  return {
    ...v,
    readQueueNums: Number(v.readQueueNums),
    writeQueueNums: Number(v.writeQueueNums),
    perm: Number(v.perm),
  };
}

/** Topics: search, type filter, create/update/delete, status, route, consuming groups and lag, test message, offset reset. */
export default {
  id: "topics",
  title: "Topics",
  async render(root, params) {
    const state = { search: params.get("search") ?? "", type: params.get("type") ?? "", page: 0 };
    const search = h("input", { name: "search", placeholder: "search topics", value: state.search });
    const type = h(
      "select",
      { name: "type" },
      h("option", { value: "" }, "all types"),
      TYPES.map((t) => h("option", { value: t, selected: t === state.type || undefined }, t)),
    );
    const list = h("div", {});
    const detail = h("div", {});
    const result = h("div", {});
    const out = h("div", {});
    const load = async () => {
      try {
        const r = await api.get("/api/topics", {
          search: state.search,
          type: state.type,
          page: state.page,
          size: SIZE,
        });
        for (const o of type.options)
          if (o.value) o.textContent = `${o.value} (${fmtNum(r.counts[o.value])})`;
        show(
          list,
          cutNotice(r, state.search || state.type ? `matching topics (${fmtNum(r.all)} in all)` : "topics"),
          table(
            [
              { title: "topic", get: (t) => t.topic },
              { title: "type", get: (t) => t.type },
              { title: "brokers", get: (t) => t.brokers.join(", ") },
              { title: "read queues", num: true, get: (t) => t.readQueueNums },
              { title: "write queues", num: true, get: (t) => t.writeQueueNums },
              { title: "perm", num: true, get: (t) => t.perm },
            ],
            r.items,
            (t) => openTopic(t.topic),
          ),
          pager(r, SIZE, (p) => {
            state.page = p;
            load();
          }),
          asOf(r.asOf),
        );
      } catch (err) {
        show(list, errorBox(err));
      }
    };
    // Results of the detail's actions live outside it, so reloading the detail keeps them.
    const openTopic = async (topic, keepResult = false) => {
      const shown = await openDetail(detail, result, {
        name: topic,
        keepResult,
        load: () => api.get("/api/topics/detail", { topic }),
        render: (d) => topicDetail(d, load, (t) => openTopic(t, true), result),
      });
      if (shown) detail.scrollIntoView({ block: "nearest" });
    };
    const createPanel = () => {
      const f = topicForm();
      show(
        out,
        savePanel("create-topic", "Add or update a topic", f, async () => {
          const r = await api.post("/api/topics/createOrUpdate", numbers(f.values()));
          await load();
          return `topic ${r.topic} saved on ${r.brokers.join(", ")}`;
        }),
      );
    };
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        state.search = search.value.trim();
        state.page = 0;
        load();
      }
    });
    type.addEventListener("change", () => {
      state.type = type.value;
      state.page = 0;
      load();
    });
    root.append(
      h("h1", {}, "Topics"),
      h(
        "div",
        { class: "toolbar" },
        search,
        type,
        h(
          "button",
          {
            onclick: () => {
              state.search = search.value.trim();
              state.page = 0;
              load();
            },
          },
          "Search",
        ),
        canWrite() ? h("button", { class: "primary", onclick: createPanel }, "Add / update topic") : null,
      ),
      out,
      list,
      detail,
      result,
    );
    // The list and a topic named in the URL load at once (neither needs the other).
    await Promise.all([load(), params.get("topic") ? openTopic(params.get("topic")) : undefined]);
  },
};

function topicDetail(d, reload, reopen, res) {
  const groupNames = d.groups.items.map((g) => g.group);
  const panels = [
    {
      title: "Status",
      render: (el) =>
        el.append(
          table(
            [
              { title: "broker", get: (s) => s.mq.brokerName },
              { title: "queue", num: true, get: (s) => s.mq.queueId },
              { title: "min offset", num: true, get: (s) => fmtNum(s.minOffset) },
              { title: "max offset", num: true, get: (s) => fmtNum(s.maxOffset) },
              { title: "messages", num: true, get: (s) => fmtNum(s.maxOffset - s.minOffset) },
              { title: "last update", get: (s) => fmtTime(s.lastUpdateTimestamp) },
            ],
            d.stats,
          ),
        ),
    },
    {
      title: "Route",
      render: (el) =>
        el.append(
          table(
            [
              { title: "broker", get: (b) => b.brokerName },
              { title: "cluster", get: (b) => b.cluster },
              {
                title: "addresses",
                get: (b) =>
                  Object.entries(b.brokerAddrs)
                    .map(([id, a]) => `${id}: ${a}`)
                    .join(", "),
              },
            ],
            d.route.brokerDatas,
          ),
          table(
            [
              { title: "broker", get: (q) => q.brokerName },
              { title: "read queues", num: true, get: (q) => q.readQueueNums },
              { title: "write queues", num: true, get: (q) => q.writeQueueNums },
              { title: "perm", num: true, get: (q) => q.perm },
            ],
            d.route.queueDatas,
          ),
        ),
    },
    {
      title: `Consumers (${fmtNum(d.groups.total)})`,
      render: (el) =>
        el.append(
          cutNotice(d.groups),
          table(
            [
              {
                title: "group",
                get: (g) => h("a", { href: `#/consumers?group=${encodeURIComponent(g.group)}` }, g.group),
              },
              { title: "lag", num: true, get: (g) => fmtNum(g.lag) },
              { title: "consume TPS", num: true, get: (g) => fmtNum(g.consumeTps) },
              { title: "queues", num: true, get: (g) => g.queues },
            ],
            d.groups.items,
          ),
        ),
    },
    {
      title: "Config",
      render: (el) => {
        for (const c of d.configs) el.append(h("h2", {}, c.brokerName), kvTable(c.config));
      },
    },
  ];
  if (canWrite()) {
    panels.push({
      title: "Send message",
      render: (el) => {
        const f = form([
          { name: "tag", label: "Tag", value: "" },
          { name: "keys", label: "Keys (space separated)", value: "" },
          { name: "body", label: "Body", type: "textarea", value: "" },
        ]);
        el.append(
          h("div", { "data-form": "send-message" }, f.el),
          h(
            "p",
            {},
            actionButton(
              "Send",
              res,
              async () => {
                const r = await api.post("/api/topics/sendMessage", { topic: d.topic, ...f.values() });
                return `${r.sendStatus}: message ${r.msgId} stored in ${r.queue.brokerName} queue ${r.queue.queueId} at offset ${r.queueOffset}`;
              },
              "primary",
            ),
          ),
        );
      },
    });
    panels.push({
      title: "Reset offset",
      render: (el) =>
        resetOffsetPanel(el, res, {
          choice: choiceField("group", "Group", groupNames),
          target: (v) => ({ topic: d.topic, group: v.group }),
          reopen: () => reopen(d.topic),
          what: (r) => ` of ${r.group}`,
        }),
    });
    panels.push({
      title: "Update / delete",
      render: (el) => {
        const c = d.configs[0]?.config ?? {};
        const f = topicForm({
          topic: d.topic,
          readQueueNums: c.readQueueNums,
          writeQueueNums: c.writeQueueNums,
          perm: c.perm,
        });
        f.inputs.topic.readOnly = true;
        updateDeletePanel(el, res, {
          f,
          update: async () => {
            await api.post("/api/topics/createOrUpdate", numbers(f.values()));
            reload();
            return `topic ${d.topic} updated`;
          },
          deleteLabel: "Delete topic",
          remove: async () => {
            if (!confirm(`Delete topic ${d.topic} from every broker and NameServer?`)) return "";
            await api.post("/api/topics/delete", { topic: d.topic, clusterName: f.values().clusterName });
            reload();
            return `topic ${d.topic} deleted`;
          },
        });
      },
    });
  }
  return h(
    "div",
    { class: "panel", "data-topic": d.topic },
    h("h2", {}, `Topic ${d.topic}`),
    asOf(d.asOf),
    tabs(panels),
    res,
  );
}
