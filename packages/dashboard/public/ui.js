// Small DOM and API helpers shared by the pages. Text is always set with textContent
// (never innerHTML), so names and message bodies from the cluster cannot inject markup.

/** h("div", {class: "x", onclick}, child, "text", [more]) → element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const session = { csrf: null, role: null, user: null };

export function canWrite() {
  return session.role === "admin";
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["x-csrf-token"] = session.csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.error ?? `HTTP ${res.status}`);
  return data;
}

export const api = {
  get(path, params = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
    const s = q.toString();
    return call("GET", s ? `${path}?${s}` : path);
  },
  post(path, body = {}) {
    return call("POST", path, body);
  },
};

export function fmtNum(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return "–";
  const r = Math.abs(n) < 100 && !Number.isInteger(n) ? n.toFixed(2) : String(Math.round(n));
  return r.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

export function fmtTime(ms) {
  if (!ms || ms <= 0) return "–";
  const d = new Date(ms);
  const p = (x, n = 2) => String(x).padStart(n, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** "as of 12:01:02" line: how old the (cached) answer is. */
export function asOf(ms) {
  return h("div", { class: "asof" }, `data as of ${fmtTime(ms)}`);
}

/**
 * A table. columns: [{title, get(row) → text|Node, num?}]; onRow(row) makes rows clickable.
 */
export function table(columns, rows, onRow) {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        columns.map((c) => h("th", { class: c.num ? "num" : undefined }, c.title)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "nothing to show"))
        : rows.map((r) =>
            h(
              "tr",
              { class: onRow ? "clickable" : undefined, onclick: onRow ? () => onRow(r) : undefined },
              columns.map((c) => h("td", { class: c.num ? "num" : undefined }, c.get(r))),
            ),
          ),
    ),
  );
}

/** Key/value table of an object. */
export function kvTable(obj) {
  const rows = Object.entries(obj ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const t = table(
    [
      { title: "key", get: (r) => r[0] },
      { title: "value", get: (r) => String(r[1]) },
    ],
    rows,
  );
  t.classList.add("kv");
  return t;
}

/** The honesty line of a bounded answer: "showing 1–100 of 1,000". Empty when nothing was cut. */
export function cutNotice(b, what = "") {
  if (!b) return "";
  const parts = [];
  if (b.cut && b.items) {
    const from = b.offset + 1;
    const to = b.offset + b.items.length;
    parts.push(`showing ${fmtNum(from)}–${fmtNum(to)} of ${fmtNum(b.total)}${what ? ` ${what}` : ""}`);
  }
  if (b.note) parts.push(b.note);
  return parts.length ? h("div", { class: "cut", "data-cut": "true" }, parts.join(" · ")) : "";
}

/** Previous/next buttons for a paged answer; go(page) reloads. */
export function pager(b, size, go) {
  if (!b || b.total <= size) return null;
  const page = Math.floor(b.offset / size);
  const last = Math.ceil(b.total / size) - 1;
  return h(
    "div",
    { class: "toolbar" },
    h("button", { disabled: page === 0 || undefined, onclick: () => go(page - 1) }, "‹ previous"),
    h("span", { class: "muted" }, `page ${page + 1} of ${last + 1}`),
    h("button", { disabled: page >= last || undefined, onclick: () => go(page + 1) }, "next ›"),
  );
}

export function errorBox(err) {
  return h("div", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
}

export function okBox(text) {
  return h("div", { class: "okmsg", role: "status" }, text);
}

/** Replaces the content of `el`. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A labelled form; fields: [{name, label, value?, type?, options?}]. Returns {el, values()}. */
export function form(fields) {
  const inputs = {};
  const el = h(
    "div",
    { class: "form" },
    fields.map((f) => {
      let input;
      if (f.options)
        input = h(
          "select",
          { name: f.name },
          f.options.map((o) =>
            h("option", { value: o, selected: String(o) === String(f.value) || undefined }, o),
          ),
        );
      else if (f.type === "textarea") input = h("textarea", { name: f.name }, f.value ?? "");
      else
        input = h("input", {
          name: f.name,
          type: f.type ?? "text",
          value: f.value ?? "",
          placeholder: f.placeholder,
        });
      inputs[f.name] = input;
      return [h("label", { for: f.name }, f.label), input];
    }),
  );
  return {
    el,
    inputs,
    values() {
      return Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value]));
    },
  };
}

/** A button that runs an async action, shows its result or error in `out`, and is disabled meanwhile. */
export function actionButton(label, out, run, cls = "") {
  const b = h("button", { class: cls }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      const msg = await run();
      if (msg) show(out, okBox(msg));
    } catch (err) {
      show(out, errorBox(err));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** Tabs: [{title, render(el)}]. */
export function tabs(list) {
  const body = h("div", {});
  const bar = h("div", { class: "tabs", role: "tablist" });
  const select = (i) => {
    for (const [j, b] of [...bar.children].entries()) b.classList.toggle("active", i === j);
    body.replaceChildren();
    list[i].render(body);
  };
  for (const [i, t] of list.entries())
    bar.append(h("button", { role: "tab", onclick: () => select(i) }, t.title));
  select(0);
  return h("div", {}, bar, body);
}
