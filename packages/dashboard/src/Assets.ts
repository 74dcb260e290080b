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
        out.set(url, { type: TYPES[extname(e.name)]!, body: await readFile(p) });
      }
    }
  };
  await walk(dir);
  return out;
}
