#!/usr/bin/env node
// `npm run pack`: self-contained, publish-ready packages of the client and the CLI.
//
// The workspace packages import each other by name (@tidemq/protocol, …) and are private, so
// `npm pack packages/client` gives a tarball whose dependencies resolve nowhere. Instead each
// packed package is laid out in <out>/<name>/ (installable as a directory) and packed from
// there into <out>/tidemq-<name>-<version>.tgz:
//   - dist/: one ES module bundled by esbuild from the compiled workspace code (the code the
//     tests ran): every @tidemq/* package it imports and every third-party dependency is inside,
//     so the tarball has no dependencies. A dependency that cannot be bundled (native addon,
//     files loaded at run time) goes in EXTERNAL below: it stays an import and becomes a
//     dependency of the packed package, with the range the workspace package.json gives it.
//   - types/ (client): the compiled .d.ts of the client and of the workspace packages its types
//     name, with `@tidemq/x` specifiers rewritten to relative paths. No .d.ts bundler runs on
//     TypeScript 7 (it has no JS compiler API), and the rewrite is all a bundler would do here.
//   - package.json made from the workspace one (name, version, description, license, engines)
//     plus exports/types/bin/files for the layout above; README.md and LICENSE.
//
// Usage: node scripts/pack.mjs [--out DIR] [client] [cli]   (run `npm run build` first)
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { build } from "esbuild";

const root = resolve(new URL("..", import.meta.url).pathname);

/**
 * What each packed package is. `external`: third-party packages left out of the bundle (see the
 * header). `bin`: the command and the node flags its shebang passes (V8 takes heap flags only at
 * start-up; see packages/cli/bin/tidemq.js for why this one).
 */
const PACKAGES = {
  client: { dir: "packages/client", entry: "dist/src/index.js", types: "dist/src/index.d.ts", external: [] },
  cli: {
    dir: "packages/cli",
    entry: "dist/src/main.js",
    bin: { name: "tidemq", nodeFlags: "--initial-old-space-size=64" },
    external: [],
  },
};

function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Workspace package name -> its directory, from the root package.json's workspaces. */
function workspaces() {
  const map = new Map();
  for (const dir of readJson(join(root, "package.json")).workspaces) {
    const pj = join(root, dir, "package.json");
    if (existsSync(pj)) map.set(readJson(pj).name, join(root, dir));
  }
  return map;
}

/** The version range some workspace package declares for `dep` (for EXTERNAL dependencies). */
function declaredRange(dep, ws) {
  for (const dir of ws.values()) {
    const pj = readJson(join(dir, "package.json"));
    const range = pj.dependencies?.[dep] ?? pj.optionalDependencies?.[dep] ?? pj.peerDependencies?.[dep];
    if (range) return range;
  }
  throw new Error(`${dep} is EXTERNAL but no workspace package.json declares it as a dependency`);
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/**
 * Copies the .d.ts tree of workspace package `name` to <stage>/types/<short>/ and, through the
 * @tidemq/* specifiers it meets, of every workspace package it names.
 */
function copyTypes(name, stage, ws, done = new Set()) {
  if (done.has(name)) return;
  done.add(name);
  const pkgDir = ws.get(name);
  if (!pkgDir) throw new Error(`types name ${name}, which is no workspace package`);
  const short = name.replace(/^@tidemq\//, "");
  const from = join(pkgDir, "dist", "src");
  const to = join(stage, "types", short);
  for (const file of walk(from).filter((f) => f.endsWith(".d.ts"))) {
    const target = join(to, relative(from, file));
    mkdirSync(dirname(target), { recursive: true });
    const text = readFileSync(file, "utf8")
      .replace(/^\/\/# sourceMappingURL=.*$/m, "")
      .replace(/(["'])(@tidemq\/[a-z0-9-]+)\1/g, (_m, q, spec) => {
        copyTypes(spec, stage, ws, done);
        const index = join(stage, "types", spec.replace(/^@tidemq\//, ""), "index.js");
        let rel = relative(dirname(target), index).split(sep).join("/");
        if (!rel.startsWith(".")) rel = `./${rel}`;
        return `${q}${rel}${q}`;
      })
      .replace(/(\bfrom\s*|\bimport\s*\(\s*)(["'])([^"'./][^"']*)\2/g, (m, lead, q, spec) => {
        if (spec.startsWith("node:") || spec.startsWith("../") || spec.startsWith("./")) return m;
        if (spec.startsWith("@tidemq/")) return m;
        const index = vendorTypes(spec, stage);
        let rel = relative(dirname(target), index).split(sep).join("/");
        if (!rel.startsWith(".")) rel = `./${rel}`;
        return `${lead}${q}${rel}${q}`;
      });
    writeFileSync(target, text);
  }
}

/**
 * A third-party package whose types a copied .d.ts names (prom-client, through the metrics
 * endpoint that @tidemq/remoting exports): its code is inside the bundle or unused by it, but an
 * application type-checking against types/ must still resolve the name, and the packed package
 * has no dependencies to bring it. So its declaration files (and licence) are copied to
 * types/vendor/<pkg>/ and the specifier is rewritten to them, as the @tidemq/* ones are.
 * Returns the path (with .js, as NodeNext resolution wants) of its types entry.
 */
function vendorTypes(pkg, stage) {
  const from = join(root, "node_modules", pkg);
  const pj = join(from, "package.json");
  if (!existsSync(pj)) throw new Error(`packed types import ${pkg}, which is not installed at the root`);
  const meta = readJson(pj);
  const entry = meta.types ?? meta.typings;
  if (!entry) throw new Error(`packed types import ${pkg}, which ships no types of its own`);
  const to = join(stage, "types", "vendor", pkg);
  if (!existsSync(to)) {
    const files = walk(from).filter((f) => !relative(from, f).split(sep).includes("node_modules"));
    for (const file of files.filter((f) => f.endsWith(".d.ts") || /^LICEN[CS]E/.test(relative(from, f)))) {
      const target = join(to, relative(from, file));
      mkdirSync(dirname(target), { recursive: true });
      const text = readFileSync(file, "utf8");
      if (file.endsWith(".d.ts") && /\bfrom\s*["'][^"'.]|\bimport\s*\(\s*["'][^"'.]/.test(text))
        throw new Error(`${file} imports another package; vendoring its types is not supported`);
      writeFileSync(target, text);
    }
  }
  return join(to, entry.replace(/^\.\//, "").replace(/\.d\.ts$/, ".js"));
}

/** Bytes per package (workspace or third-party) in the bundle, from esbuild's metafile. */
function contents(metafile) {
  const by = new Map();
  for (const [path, info] of Object.entries(metafile.outputs)) {
    if (!path.endsWith(".js")) continue;
    for (const [input, { bytesInOutput }] of Object.entries(info.inputs)) {
      const nm = input.lastIndexOf("node_modules/");
      let key;
      if (nm >= 0) {
        const rest = input.slice(nm + "node_modules/".length).split("/");
        key = rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
      } else {
        const m = /packages\/([^/]+)\//.exec(input);
        key = m ? `@tidemq/${m[1]}` : input;
      }
      by.set(key, (by.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...by.entries()].sort((a, b) => b[1] - a[1]);
}

async function packOne(short, out, ws) {
  const spec = PACKAGES[short];
  const srcDir = join(root, spec.dir);
  const src = readJson(join(srcDir, "package.json"));
  const rootPj = readJson(join(root, "package.json"));
  const entry = join(srcDir, spec.entry);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const stage = join(out, short);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, "dist"), { recursive: true });

  const bundle = spec.bin ? `dist/${spec.bin.name}.js` : "dist/index.js";
  // Bundled CommonJS dependencies call require(); an ES module has none, so give it one.
  const requireShim =
    'import { createRequire as __tidemqCreateRequire } from "node:module";\n' +
    "const require = __tidemqCreateRequire(import.meta.url);";
  const shebang = spec.bin ? `#!/usr/bin/env -S node ${spec.bin.nodeFlags}\n` : "";
  const result = await build({
    entryPoints: [entry],
    outfile: join(stage, bundle),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: spec.external,
    banner: { js: shebang + requireShim },
    legalComments: "eof",
    metafile: true,
    logLevel: "warning",
  });

  const pj = {
    name: src.name,
    version: src.version,
    description: src.description,
    keywords: src.keywords,
    license: src.license ?? rootPj.license,
    homepage: src.homepage,
    repository: src.repository,
    type: "module",
    engines: src.engines ?? rootPj.engines,
  };
  if (spec.types) {
    copyTypes(src.name, stage, ws);
    const types = `./types/${src.name.replace(/^@tidemq\//, "")}/index.d.ts`;
    pj.types = types;
    pj.exports = { ".": { types, default: `./${bundle}` }, "./package.json": "./package.json" };
    pj.main = `./${bundle}`;
  }
  if (spec.bin) pj.bin = { [spec.bin.name]: bundle };
  if (spec.external.length > 0)
    pj.dependencies = Object.fromEntries(spec.external.map((d) => [d, declaredRange(d, ws)]));
  copyFileSync(join(root, "LICENSE"), join(stage, "LICENSE"));
  // README.md and its companions (the CLI's README-admin.md), which the README links to.
  const docs = readdirSync(srcDir).filter((f) => /^README.*\.md$/.test(f));
  for (const f of docs) copyFileSync(join(srcDir, f), join(stage, f));
  // The web console's page files, read at run time from public/ beside the bundle's dist/
  // (packages/dashboard/src/Assets.ts looks there when the workspace layout is absent).
  const assets = [];
  if (spec.bin) {
    cpSync(join(root, "packages", "dashboard", "public"), join(stage, "public"), { recursive: true });
    assets.push("public");
  }
  pj.files = ["dist", ...(spec.types ? ["types"] : []), ...assets, ...docs];
  writeFileSync(join(stage, "package.json"), `${JSON.stringify(pj, null, 2)}\n`);

  const npm = spawnSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", out], {
    cwd: stage,
    encoding: "utf8",
  });
  if (npm.status !== 0) throw new Error(`npm pack in ${stage} failed:\n${npm.stderr}`);
  const [info] = JSON.parse(npm.stdout);
  return {
    short,
    stage,
    tarball: join(out, info.filename),
    size: info.size,
    unpacked: info.unpackedSize,
    files: info.entryCount,
    bundled: contents(result.metafile),
  };
}

const argv = process.argv.slice(2);
let out = join(root, "packed");
const names = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--out") out = resolve(argv[++i] ?? "");
  else if (argv[i] in PACKAGES) names.push(argv[i]);
  else {
    console.error(`usage: node scripts/pack.mjs [--out DIR] [${Object.keys(PACKAGES).join("] [")}]`);
    process.exit(2);
  }
}
mkdirSync(out, { recursive: true });
const ws = workspaces();
for (const short of names.length > 0 ? names : Object.keys(PACKAGES)) {
  const r = await packOne(short, out, ws);
  const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(
    `${relative(process.cwd(), r.tarball) || r.tarball}: ${kib(r.size)} packed, ${kib(r.unpacked)} unpacked, ${r.files} files`,
  );
  console.log(`  directory: ${r.stage}`);
  console.log(`  bundled: ${r.bundled.map(([k, v]) => `${k} ${kib(v)}`).join(", ")}`);
}
