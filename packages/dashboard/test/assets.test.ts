/**
 * The UI's files as the console serves them: index.html asks for every script at once
 * (modulepreload, so no chain of import round trips), and a tab that has a file revalidates it
 * with a bodiless 304 (ETag), over real HTTP against a real cluster.
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { after, before, test } from "node:test";
import { PUBLIC_DIR, withModulePreloads } from "../src/Assets.js";
import type { DashboardServer } from "../src/index.js";
import { startConsole, startTestCluster, type TestCluster } from "./cluster.js";

let cluster: TestCluster;
let server: DashboardServer;
before(async () => {
  cluster = await startTestCluster("dash-assets-");
  server = await startConsole(cluster);
});
after(async () => {
  await server?.stop();
  await cluster?.stop();
});

async function scriptsOnDisk(dir = PUBLIC_DIR): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.endsWith(".js"))
      out.push(`/${relative(PUBLIC_DIR, join(e.parentPath, e.name)).split(sep).join("/")}`);
  return out.sort();
}

test("modulepreload links go before the module script; a page without one is left alone", () => {
  const html = '<head>\n<script type="module" src="/app.js"></script>\n</head>';
  assert.equal(
    withModulePreloads(html, ["/app.js", "/ui.js"]),
    '<head>\n<link rel="modulepreload" href="/app.js">\n<link rel="modulepreload" href="/ui.js">\n<script type="module" src="/app.js"></script>\n</head>',
  );
  assert.equal(withModulePreloads("<p>no script</p>", ["/app.js"]), "<p>no script</p>");
});

test("index.html preloads every script of the UI, and each of them is served", async () => {
  const res = await fetch(server.url);
  assert.equal(res.status, 200);
  const html = await res.text();
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]!);
  const onDisk = await scriptsOnDisk();
  assert.ok(onDisk.includes("/app.js") && onDisk.includes("/pages/consumers.js"), onDisk.join());
  assert.deepEqual(preloaded.sort(), onDisk);
  assert.ok(html.indexOf("modulepreload") < html.indexOf('<script type="module"'));
  for (const s of preloaded) {
    const r = await fetch(new URL(s, server.url));
    assert.equal(r.status, 200, s);
    assert.match(r.headers.get("content-type") ?? "", /^text\/javascript/);
    await r.arrayBuffer();
  }
});

test("a file the tab already has is revalidated with a 304 and no body; a changed one is sent", async () => {
  const first = await fetch(new URL("/ui.js", server.url));
  const body = await first.text();
  const etag = first.headers.get("etag");
  assert.ok(etag && /^"[\w-]+"$/.test(etag), `etag ${etag}`);
  assert.equal(first.headers.get("cache-control"), "no-cache");
  const again = await fetch(new URL("/ui.js", server.url), { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  assert.equal(again.headers.get("etag"), etag);
  const other = await fetch(new URL("/ui.js", server.url), { headers: { "if-none-match": '"older"' } });
  assert.equal(other.status, 200);
  assert.equal(await other.text(), body);
  // Each file has its own validator.
  const app = await fetch(new URL("/app.js", server.url));
  await app.arrayBuffer();
  assert.notEqual(app.headers.get("etag"), etag);
});
