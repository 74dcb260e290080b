// Full browser render time of the console's pages in headless Chromium (Debian's chromium
// through puppeteer-core, no browser download), for bench/dashboard-scale.mjs --browser.
//
// "Rendered" = the page's DOM stopped changing: from the navigation until the last DOM
// mutation under <main>, once no /api request has been in flight and nothing changed for
// QUIET_MS (then one animation frame, so the last change was laid out and painted). Two ways:
//   - in-app: the hash changes in an open console (a menu click; assets already loaded);
//   - cold: a new tab loads the console at that hash (HTML, JS, CSS, session, render).
import { existsSync } from "node:fs";

const QUIET_MS = 400;
const LIMIT_MS = 30_000;

export function findChromium() {
  return [
    process.env.CHROMIUM_PATH,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
  ].find((p) => p && existsSync(p));
}

// Counts the page's fetches in flight and the time of the last DOM change (before any script),
// and defines window.__settle: waits for quiet, returns ms from t0 to the last change (-1 past
// the limit). Injected through the DevTools protocol, so the console's CSP does not apply.
const INSTRUMENT = () => {
  window.__settle = async (t0, quietMs, limitMs) => {
    for (;;) {
      await new Promise((r) => setTimeout(r, 25));
      const now = performance.now();
      if (window.__inflight === 0 && now - window.__lastChange >= quietMs) break;
      if (now - t0 > limitMs) return -1;
    }
    await new Promise((r) => requestAnimationFrame(() => r()));
    return window.__lastChange - t0;
  };
  window.__inflight = 0;
  window.__lastChange = performance.now();
  const f = window.fetch.bind(window);
  window.fetch = (...args) => {
    window.__inflight++;
    return f(...args).finally(() => {
      window.__inflight--;
    });
  };
  new MutationObserver(() => {
    window.__lastChange = performance.now();
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
};

/**
 * Times every page of `pages` ([name, hash]) `rounds` times each way against the console at
 * `url` (no login: a loopback console). Returns rows {name, inAppMs[], coldMs[], errors}.
 * With `compareUrl` (another console build over the same cluster) every page is timed on both,
 * alternating which goes first, and each row also has `compare: {inAppMs[], coldMs[]}`.
 */
export async function timePagesInBrowser({ url, compareUrl, pages, rounds = 3 }) {
  const executablePath = findChromium();
  if (!executablePath)
    return { skipped: "Chromium not found (apt-get install -y chromium, or set CHROMIUM_PATH)" };
  const { default: puppeteer } = await import("puppeteer-core");
  // One browser per console (with --compare two), each with its tab in front: no tab is ever
  // in the background, where timers and animation frames are throttled.
  const launch = () =>
    puppeteer.launch({
      executablePath,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
      ],
    });
  const browsers = [await launch(), ...(compareUrl ? [await launch()] : [])];
  const outside = [];
  const newPage = async (t) => {
    const page = await browsers[t].newPage();
    await page.setViewport({ width: 1400, height: 900 });
    await page.evaluateOnNewDocument(INSTRUMENT);
    // Recorded, not intercepted: interception would route every asset through this process
    // and inflate the cold times (the browser tests already abort such requests).
    page.on("request", (req) => {
      const u = new URL(req.url());
      if (/^(https?|ws):$/.test(u.protocol) && u.hostname !== "127.0.0.1") outside.push(req.url());
    });
    return page;
  };
  // targets[0] fills row.inAppMs/coldMs, targets[1] (when given) row.compare.
  const targets = [url, ...(compareUrl ? [compareUrl] : [])];
  const rows = pages.map(([name]) => ({
    name,
    inAppMs: [],
    coldMs: [],
    errors: [],
    ...(compareUrl ? { compare: { inAppMs: [], coldMs: [] } } : {}),
  }));
  const slot = (row, t) => (t === 0 ? row : row.compare);
  const order = (r) => (r % 2 === 0 ? targets.map((_, t) => t) : targets.map((_, t) => t).reverse());
  try {
    // In-app: one tab per console, each open; each round visits every page by its hash.
    const errors = new Map();
    const apps = [];
    for (const [t, u] of targets.entries()) {
      const app = await newPage(t);
      app.on("pageerror", (e) => errors.set(`in-app ${t}`, String(e.message ?? e)));
      await app.goto(u, { waitUntil: "load" });
      await app.evaluate((q, l) => window.__settle(performance.now(), q, l), QUIET_MS, LIMIT_MS);
      apps.push(app);
    }
    for (let r = 0; r < rounds; r++) {
      for (const [i, [, hash]] of pages.entries()) {
        for (const t of order(r)) {
          const ms = await apps[t].evaluate(
            (h, quiet, limit) => {
              const t0 = performance.now();
              window.__lastChange = t0;
              location.hash = h;
              return window.__settle(t0, quiet, limit);
            },
            hash,
            QUIET_MS,
            LIMIT_MS,
          );
          slot(rows[i], t).inAppMs.push(ms);
        }
      }
    }
    for (const app of apps) await app.close();
    // Cold: a new tab per page, round and console.
    for (let r = 0; r < rounds; r++) {
      for (const [i, [, hash]] of pages.entries()) {
        for (const t of order(r)) {
          const page = await newPage(t);
          page.on("pageerror", (e) => rows[i].errors.push(String(e.message ?? e)));
          await page.goto(new URL(hash, targets[t]).href, { waitUntil: "domcontentloaded" });
          // From the navigation's start (performance time 0) to the last change.
          const ms = await page.evaluate((q, l) => window.__settle(0, q, l), QUIET_MS, LIMIT_MS);
          slot(rows[i], t).coldMs.push(ms);
          await page.close();
        }
      }
    }
    for (const [k, v] of errors) rows[0].errors.push(`${k}: ${v}`);
  } finally {
    for (const b of browsers) await b.close();
  }
  return { rows, outside, chromium: executablePath };
}
