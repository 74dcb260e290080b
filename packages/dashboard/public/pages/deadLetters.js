import {
  actionButton,
  api,
  asOf,
  canWrite,
  cutNotice,
  errorBox,
  fmtNum,
  fmtTime,
  h,
  pager,
  show,
  table,
} from "../ui.js";

const GROUPS = 50;
const SIZE = 50;
/** As src/api/deadLetters.ts MAX_EXPORT: an export file holds at most this many. */
const MAX_EXPORT = 10_000;

function exportLink(group, format) {
  const q = new URLSearchParams({ group, format });
  return h(
    "a",
    { class: "button", href: `/api/deadLetters/export?${q}`, download: "", "data-export": format },
    `Export ${format.toUpperCase()}`,
  );
}

/** A datetime-local input's value for epoch ms, in the browser's time zone. */
function localInput(ms) {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Resend the dead letters stored in a time range (e.g. those that died during an outage). */
function rangeForm(group, r, result) {
  const from = h("input", {
    type: "datetime-local",
    name: "begin",
    value: localInput(r.oldest || Date.now()),
  });
  // Minutes precision: the range ends at the end of the minute shown.
  const to = h("input", { type: "datetime-local", name: "end", value: localInput(r.newest || Date.now()) });
  return h(
    "div",
    { class: "toolbar", "data-form": "resend-range" },
    h("span", {}, "stored from"),
    from,
    h("span", {}, "to"),
    to,
    actionButton("Resend stored in range", result, async () => {
      const begin = new Date(from.value).getTime();
      const end = new Date(to.value).getTime() + 59_999;
      if (Number.isNaN(begin) || Number.isNaN(end)) throw new Error("give both times");
      return (await api.post("/api/deadLetters/resend", { group, begin, end })).message;
    }),
  );
}

/** One group's dead letters: summary, export, the messages paged, resend one / selected / all. */
function groupView(group) {
  const el = h("div", { class: "panel", "data-dlq": group }, h("p", { class: "muted" }, "loading…"));
  const result = h("div", {});
  const selected = new Set();
  const load = async (page) => {
    try {
      const r = await api.get("/api/deadLetters/messages", { group, page, size: SIZE });
      selected.clear();
      const count = h("span", {}, "0");
      const resendSelected = actionButton(["Resend selected (", count, ")"], result, async () => {
        if (selected.size === 0) throw new Error("select dead letters first");
        const res = await api.post("/api/deadLetters/resend", { group, msgIds: [...selected] });
        return res.message;
      });
      let armed = false;
      const resendAll = h("button", { class: "danger" }, `Resend all ${fmtNum(r.count)}`);
      resendAll.addEventListener("click", async () => {
        // Two clicks: the second says how many it will resend.
        if (!armed) {
          armed = true;
          resendAll.textContent = `Confirm: resend all ${fmtNum(r.count)} to %RETRY%${group}`;
          return;
        }
        resendAll.disabled = true;
        try {
          show(
            result,
            h(
              "div",
              { class: "okmsg", role: "status" },
              (await api.post("/api/deadLetters/resend", { group, all: true })).message,
            ),
          );
        } catch (err) {
          show(result, errorBox(err));
        } finally {
          armed = false;
          resendAll.disabled = false;
          resendAll.textContent = `Resend all ${fmtNum(r.count)}`;
        }
      });
      const columns = [
        { title: "stored", get: (m) => fmtTime(m.storeTimestamp) },
        { title: "origin topic", get: (m) => m.originTopic },
        { title: "keys", get: (m) => m.keys },
        { title: "tag", get: (m) => m.tag },
        { title: "message id", get: (m) => m.msgId },
        { title: "reconsumed", num: true, get: (m) => fmtNum(m.reconsumeTimes) },
        { title: "body bytes", num: true, get: (m) => fmtNum(m.bodySize) },
        { title: "resent", get: (m) => (m.resentAt ? fmtTime(m.resentAt) : "") },
      ];
      if (canWrite()) {
        columns.unshift({
          title: "",
          get: (m) =>
            h("input", {
              type: "checkbox",
              "data-select": m.offsetMsgId,
              onchange: (e) => {
                if (e.target.checked) selected.add(m.offsetMsgId);
                else selected.delete(m.offsetMsgId);
                count.textContent = String(selected.size);
              },
            }),
        });
        columns.push({
          title: "",
          get: (m) =>
            // A resent one says so: its button resends it again (force), the bulk ones skip it.
            actionButton(m.resentAt ? "Resend again" : "Resend", result, async () => {
              const res = await api.post("/api/deadLetters/resend", {
                group,
                msgIds: [m.offsetMsgId],
                force: Boolean(m.resentAt),
              });
              return res.message;
            }),
        });
      }
      show(
        el,
        h("h2", {}, `Dead letters of ${group}`),
        h(
          "p",
          {},
          `${fmtNum(r.count)} in ${r.topic} · oldest ${fmtTime(r.oldest)} · newest ${fmtTime(r.newest)} · `,
          exportLink(group, "csv"),
          " ",
          exportLink(group, "json"),
        ),
        r.count > MAX_EXPORT
          ? h(
              "div",
              { class: "cut", "data-cut": "true" },
              `an export holds the oldest ${fmtNum(MAX_EXPORT)} of the ${fmtNum(r.count)} dead letters (the file's name and its X-TideMQ-Note header say so)`,
            )
          : "",
        canWrite()
          ? h(
              "div",
              { class: "toolbar" },
              resendSelected,
              resendAll,
              h(
                "span",
                { class: "muted" },
                `copies go to %RETRY%${group}: only this group gets them again; the dead letters stay`,
              ),
            )
          : "",
        canWrite() ? rangeForm(group, r, result) : "",
        result,
        cutNotice(r, "dead letters"),
        table(columns, r.items),
        pager(r, SIZE, load),
        asOf(r.asOf),
      );
    } catch (err) {
      show(el, errorBox(err));
    }
  };
  void load(0);
  return el;
}

/** Dead letters: groups with a %DLQ% topic (count, oldest, newest); list, export, resend. */
export default {
  id: "deadLetters",
  title: "Dead letters",
  async render(root, params) {
    const search = h("input", {
      name: "search",
      placeholder: "search groups",
      value: params.get("search") ?? "",
    });
    const list = h("div", {});
    const detail = h("div", {});
    const open = (group) => show(detail, groupView(group));
    const load = async (page) => {
      try {
        const r = await api.get("/api/deadLetters", { search: search.value, page, size: GROUPS });
        show(
          list,
          cutNotice(r, "groups with dead letters"),
          table(
            [
              { title: "group", get: (g) => g.group },
              {
                title: "dead letters",
                num: true,
                get: (g) => (g.error ? h("span", { class: "badge bad" }, g.error) : fmtNum(g.count)),
              },
              { title: "oldest", get: (g) => fmtTime(g.oldest) },
              { title: "newest", get: (g) => fmtTime(g.newest) },
              { title: "brokers", get: (g) => (g.brokers ?? []).join(", ") },
            ],
            r.items,
            (g) => open(g.group),
          ),
          pager(r, GROUPS, load),
          asOf(r.asOf),
        );
      } catch (err) {
        show(list, errorBox(err));
      }
    };
    search.addEventListener("keydown", (e) => e.key === "Enter" && load(0));
    root.append(
      h("h1", {}, "Dead letters"),
      h(
        "p",
        { class: "muted" },
        "A message a group failed to consume after its maximum retries is kept in %DLQ%<group>. Resending puts a copy, with its retries counted afresh, in %RETRY%<group>: only that group consumes it again.",
      ),
      h("div", { class: "toolbar" }, search, h("button", { onclick: () => load(0) }, "Search")),
      list,
      detail,
    );
    // A group named in the URL loads beside the list (neither needs the other).
    if (params.get("group")) open(params.get("group"));
    await load(0);
  },
};
