// Boot: ask for the session, show the login form when the console has users, else the
// page named by the URL hash (#/topics?search=x). Each page is a module of pages.js:
// { id, title, render(root, params) → optional cleanup function }.
import { pages } from "./pages.js";
import { api, errorBox, form, h, session, show } from "./ui.js";

const app = document.getElementById("app");
let cleanup = null;

function parseHash() {
  const [path, qs] = location.hash.replace(/^#\/?/, "").split("?");
  return { id: path || pages[0].id, params: new URLSearchParams(qs ?? "") };
}

function shell(info) {
  const nav = h(
    "nav",
    {},
    pages.map((p) => h("a", { href: `#/${p.id}`, "data-page": p.id }, p.title)),
  );
  const who = info.user
    ? h("span", { class: "who" }, `${info.user} (${info.role})`, h("button", { onclick: logout }, "Log out"))
    : h("span", { class: "who" }, `NameServer ${info.namesrv}`);
  const banner = info.loginRequired
    ? null
    : h(
        "div",
        { class: "banner", role: "note" },
        "No login: this console listens on a loopback address only, so anyone on this machine may use it, with every write action. Start it with --users FILE to require a login.",
      );
  const main = h("main", { id: "main" });
  show(app, h("header", {}, h("span", { class: "brand" }, "TideMQ"), nav), banner, main);
  if (info.user) app.querySelector("header").append(who);
  else app.querySelector("header").append(who);
  return main;
}

async function logout() {
  await api.post("/api/logout").catch(() => {});
  location.reload();
}

function loginForm(message) {
  const f = form([
    { name: "name", label: "User" },
    { name: "password", label: "Password", type: "password" },
  ]);
  const out = h("div", {});
  const submit = h("button", { class: "primary", type: "submit" }, "Log in");
  const el = h(
    "form",
    {
      class: "login panel",
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          await api.post("/api/login", f.values());
          location.reload();
        } catch (err) {
          show(out, errorBox(err));
        }
      },
    },
    h("h1", {}, "TideMQ console"),
    message ? h("p", { class: "muted" }, message) : null,
    f.el,
    h("p", {}, submit),
    out,
  );
  show(app, el);
}

async function route(main) {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const { id, params } = parseHash();
  const page = pages.find((p) => p.id === id) ?? pages[0];
  for (const a of document.querySelectorAll("header nav a"))
    a.classList.toggle("active", a.dataset.page === page.id);
  document.title = `${page.title} · TideMQ console`;
  const root = h("section", { "data-page": page.id });
  show(main, root);
  try {
    cleanup = (await page.render(root, params)) ?? null;
  } catch (err) {
    root.append(errorBox(err));
  }
}

async function boot() {
  let info;
  try {
    info = await api.get("/api/session");
  } catch (err) {
    show(app, errorBox(err));
    return;
  }
  if (info.loginRequired && !info.user) {
    loginForm("Log in with a user of the console's users file.");
    return;
  }
  Object.assign(session, { csrf: info.csrf, role: info.role, user: info.user });
  const main = shell(info);
  window.addEventListener("hashchange", () => route(main));
  await route(main);
}

boot();
