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

const SIZE = 50;

function localInput(ms) {
  const d = new Date(ms - new Date().getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function resultTable(r, open) {
  return table(
    [
      { title: "message id", get: (m) => m.msgId },
      { title: "tag", get: (m) => m.tag },
      { title: "keys", get: (m) => m.keys },
      {
        title: "queue",
        get: (m) => `${m.brokerName ? `${m.brokerName}/` : ""}${m.queueId}@${m.queueOffset}`,
      },
      { title: "stored", get: (m) => fmtTime(m.storeTimestamp) },
      { title: "body bytes", num: true, get: (m) => fmtNum(m.bodySize) },
    ],
    r.items,
    (m) => open(m.offsetMsgId),
  );
}

function decodeBody(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

function hexDump(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length && i < 64 * 1024; i += 16) {
    const row = [...bytes.subarray(i, i + 16)];
    const hex = row.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join("\n");
}

function detailView(d) {
  const bytes = decodeBody(d.body);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  let json = null;
  try {
    json = JSON.stringify(JSON.parse(text), null, 2);
  } catch {}
  const m = d.message;
  const cut = d.bodyCut
    ? h(
        "div",
        { class: "cut", "data-cut": "true" },
        `showing the first ${fmtNum(bytes.length)} of ${fmtNum(d.bodySize)} body bytes`,
      )
    : "";
  return h(
    "div",
    { class: "panel", "data-message": m.msgId },
    h("h2", {}, `Message ${m.msgId}`),
    h("p", {}, h("a", { href: `#/trace?msgId=${encodeURIComponent(m.msgId)}` }, "Message trace")),
    asOf(d.asOf),
    table(
      [
        { title: "field", get: (r) => r[0] },
        { title: "value", get: (r) => String(r[1]) },
      ],
      [
        ["topic", m.topic],
        ["tag", m.tag],
        ["keys", m.keys],
        ["offset message id", m.offsetMsgId],
        ["queue", `${m.brokerName} / ${m.queueId} @ ${m.queueOffset}`],
        ["born", `${fmtTime(m.bornTimestamp)} from ${m.bornHost}`],
        ["stored", `${fmtTime(m.storeTimestamp)} on ${m.storeHost}`],
        ["reconsume times", m.reconsumeTimes],
        ["body", `${fmtNum(d.bodySize)} bytes`],
      ],
    ),
    tabs([
      { title: "Body (text)", render: (el) => el.append(cut, h("pre", { "data-body": "text" }, text)) },
      {
        title: "Body (JSON)",
        render: (el) =>
          el.append(
            json
              ? h("pre", { "data-body": "json" }, json)
              : h("p", { class: "muted" }, "the body is not JSON"),
          ),
      },
      { title: "Body (hex)", render: (el) => el.append(h("pre", { "data-body": "hex" }, hexDump(bytes))) },
      { title: "Properties", render: (el) => el.append(kvTable(m.properties)) },
      {
        title: `Consumption (${d.tracks.length})`,
        render: (el) => {
          const result = h("div", {});
          const columns = [
            { title: "group", get: (t) => t.group },
            { title: "committed offset", num: true, get: (t) => t.committedOffset },
            {
              title: "state",
              get: (t) => h("span", { class: `badge ${t.state === "CONSUMED" ? "ok" : ""}` }, t.state),
            },
          ];
          if (canWrite())
            columns.push({
              title: "",
              get: (t) =>
                actionButton("Resend to group", result, async () => {
                  const r = await api.post("/api/messages/consumeDirectly", {
                    group: t.group,
                    offsetMsgId: m.offsetMsgId,
                  });
                  return r.message;
                }),
            });
          el.append(
            table(columns, d.tracks),
            result,
            h(
              "p",
              { class: "muted" },
              "CONSUMED: the group's committed offset of this queue is past the message. Resend to group: the broker hands the message to one online client of the group (CONSUME_MESSAGE_DIRECTLY), which runs its listener on it now; offsets do not move.",
            ),
          );
        },
      },
    ]),
  );
}

/** Messages: by topic and time range (paged), by key, by id; detail with properties, body as text/JSON/hex, consumption per group. */
export default {
  id: "messages",
  title: "Messages",
  async render(root, params) {
    const detail = h("div", {});
    const open = async (offsetMsgId) => {
      show(detail, h("p", { class: "muted" }, "loading…"));
      try {
        show(detail, detailView(await api.get("/api/messages/detail", { offsetMsgId })));
      } catch (err) {
        show(detail, errorBox(err));
      }
    };
    const topic0 = params.get("topic") ?? "";
    const byTime = (el) => {
      const now = Date.now();
      const f = form([
        { name: "topic", label: "Topic", value: topic0 },
        { name: "begin", label: "From", type: "datetime-local", value: localInput(now - 3600_000) },
        { name: "end", label: "To", type: "datetime-local", value: localInput(now + 60_000) },
      ]);
      const out = h("div", {});
      const run = async (page) => {
        const v = f.values();
        try {
          const r = await api.get("/api/messages/byTime", {
            topic: v.topic,
            begin: new Date(v.begin).getTime(),
            end: new Date(v.end).getTime(),
            page,
            size: SIZE,
          });
          show(
            out,
            h("p", { class: "muted" }, `${fmtNum(r.stored)} messages stored in this range`),
            cutNotice(r, "read"),
            resultTable(r, open),
            pager(r, SIZE, run),
            asOf(r.asOf),
          );
        } catch (err) {
          show(out, errorBox(err));
        }
      };
      el.append(
        h("div", { "data-form": "by-time" }, f.el),
        h("p", {}, h("button", { class: "primary", onclick: () => run(0) }, "Search")),
        out,
      );
    };
    const simple = (path, label, field) => (el) => {
      const f = form([
        { name: "topic", label: "Topic", value: topic0 },
        { name: field, label, value: "" },
      ]);
      const out = h("div", {});
      const run = async () => {
        try {
          const r = await api.get(path, f.values());
          show(out, cutNotice(r), resultTable(r, open), asOf(r.asOf));
        } catch (err) {
          show(out, errorBox(err));
        }
      };
      f.inputs[field].addEventListener("keydown", (e) => e.key === "Enter" && run());
      el.append(
        h("div", { "data-form": `by-${field}` }, f.el),
        h("p", {}, h("button", { class: "primary", onclick: run }, "Search")),
        out,
      );
    };
    root.append(
      h("h1", {}, "Messages"),
      tabs([
        { title: "By topic and time", render: byTime },
        { title: "By key", render: simple("/api/messages/byKey", "Key", "key") },
        { title: "By message id", render: simple("/api/messages/byId", "Message id", "id") },
      ]),
      detail,
    );
  },
};
