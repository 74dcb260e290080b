import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The UI's files: read once at start from the package's public/ folder (no CDN, works offline). */
export const PUBLIC_DIR = findPublicDir();

/**
 * The workspace layout (dist/src/Assets.js → ../../public) or the packed CLI's (one bundle in
 * dist/ → ../public, copied there by scripts/pack.mjs).
 */
function findPublicDir(): string {
  for (const rel of ["../../public/", "../public/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  return fileURLToPath(new URL("../../public/", import.meta.url));
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

export interface Asset {
  type: string;
  body: Buffer;
  /** Strong validator of the body: a tab that has the file revalidates it with a 304, no body. */
  etag: string;
}

/**
 * index.html with a `<link rel="modulepreload">` for every script of the UI, before its module
 * script: the browser then fetches them all at once while it parses the page, instead of one
 * level of imports after the other (app.js → pages.js → pages/*.js → chart.js: four round trips
 * before the first page could render).
 */
export function withModulePreloads(html: string, scripts: readonly string[]): string {
  const at = html.indexOf('<script type="module"');
  if (at < 0 || scripts.length === 0) return html;
  const links = scripts.map((s) => `<link rel="modulepreload" href="${s}">\n`).join("");
  return html.slice(0, at) + links + html.slice(at);
}

function asset(type: string, body: Buffer): Asset {
  return { type, body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}

/** URL path ("/app.js") → file. Only the files found here are ever served: no path from a request reaches the disk. */
export async function loadAssets(dir = PUBLIC_DIR): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (TYPES[extname(e.name)]) {
        const url = `/${relative(dir, p).split(sep).join("/")}`;
        out.set(url, asset(TYPES[extname(e.name)]!, await readFile(p)));
      }
    }
  };
  await walk(dir);
  const index = out.get("/index.html");
  if (index) {
    const scripts = [...out.keys()].filter((u) => u.endsWith(".js")).sort();
    out.set(
      "/index.html",
      asset(index.type, Buffer.from(withModulePreloads(index.body.toString("utf8"), scripts), "utf8")),
    );
  }
  return out;
}
