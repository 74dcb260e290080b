/**
 * The packages as a user gets them: `scripts/pack.mjs` packs the client and the CLI, npm
 * installs them offline into temporary directories outside the repository (the client into an
 * application, the CLI globally under a temporary prefix), the installed `tidemq dev` serves a
 * cluster, and the README's quick start — compiled by tsc against the installed package's
 * types, then run by node — sends and consumes through it.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cleanNpmEnv, type Running, run, start } from "./processes.js";
import { REPO_ROOT, readmeRecipe, shellCommands, shellWords } from "./readme.js";

let dir: string;
let packed: string;
let clientTgz: string;
let cliTgz: string;
let globalBin: string;
let dev: Running | undefined;
let consoleUrl = "";
let nsAddr: string;
const env = cleanNpmEnv();

async function npm(args: string[], cwd: string): Promise<string> {
  const r = await run("npm", args, { cwd, env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `npm ${args.join(" ")} failed:\n${r.output}`);
  return r.output;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tidemq-packaging-"));
  assert.ok(!dir.startsWith(REPO_ROOT), "the test installs outside the repository");
  packed = join(dir, "packed");
  const r = await run(process.execPath, [join(REPO_ROOT, "scripts/pack.mjs"), "--out", packed], {
    cwd: REPO_ROOT,
    env,
  });
  assert.equal(r.code, 0, r.output);
  const pj = JSON.parse(readFileSync(join(REPO_ROOT, "packages/client/package.json"), "utf8"));
  clientTgz = join(packed, `tidemq-client-${pj.version}.tgz`);
  cliTgz = join(packed, `tidemq-cli-${pj.version}.tgz`);
  assert.ok(existsSync(clientTgz) && existsSync(cliTgz), r.output);

  // The CLI, globally under a temporary prefix, from the tarball, without the network.
  const prefix = join(dir, "global");
  await npm(["install", "-g", "--offline", "--prefix", prefix, cliTgz], dir);
  globalBin = join(prefix, "bin", "tidemq");
  dev = start(
    globalBin,
    [
      "dev",
      "--replicas",
      "1",
      "--namesrv-port",
      "0",
      "--broker-port",
      "0",
      "--dashboard-port",
      "0",
      "--data",
      join(dir, "data"),
    ],
    {
      cwd: dir,
      env,
    },
  );
  const m = await dev.waitFor(/NameServer\s+(127\.0\.0\.1:\d+)/);
  nsAddr = m[1]!;
  consoleUrl = (await dev.waitFor(/Console\s+(http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
});

test("the installed CLI's dev cluster serves the web console's pages (bundled with it)", async () => {
  const page = await fetch(consoleUrl);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const script = await fetch(new URL("app.js", consoleUrl));
  assert.equal(script.status, 200, "the console's script is in the package");
});

after(async () => {
  await dev?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("packed package.json files are publish-ready and depend on nothing", () => {
  for (const name of ["client", "cli"]) {
    const pj = JSON.parse(readFileSync(join(packed, name, "package.json"), "utf8"));
    assert.equal(pj.private, undefined, `${name} is publishable`);
    assert.equal(pj.license, "Apache-2.0");
    assert.ok(pj.engines?.node, `${name} names its Node.js range`);
    assert.ok(pj.description, `${name} has a description`);
    assert.deepEqual(pj.dependencies ?? {}, {}, `${name} needs nothing from a registry`);
    assert.ok(existsSync(join(packed, name, "LICENSE")));
  }
  const client = JSON.parse(readFileSync(join(packed, "client", "package.json"), "utf8"));
  assert.equal(client.exports["."].types, client.types);
  const bundle = readFileSync(join(packed, "client", client.exports["."].default), "utf8");
  assert.doesNotMatch(bundle, /from\s*["']@tidemq\//, "no workspace import is left in the client bundle");
  // Nothing server-side is inside the client: no broker, store or NameServer code.
  assert.doesNotMatch(bundle, /packages\/(broker|store|namesrv)\//);
});

test("the global CLI runs from any directory: --help and admin clusterList", async () => {
  const help = await run(globalBin, ["--help"], { cwd: tmpdir(), env });
  assert.equal(help.code, 0, help.output);
  assert.match(help.output, /usage: tidemq <command>/);
  assert.match(help.output, /admin\s+administer a cluster/);
  const list = await run(globalBin, ["admin", "clusterList", "-n", nsAddr], { cwd: tmpdir(), env });
  assert.equal(list.code, 0, list.output);
  assert.match(list.output, /^DefaultCluster\s+broker-a\s+0\s+127\.0\.0\.1:\d+/m);
});

test("README quick start (type-checked against the installed tarball) and admin examples (installed CLI), outside the repo", async () => {
  const app = join(dir, "app");
  await mkdir(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await npm(["install", "--offline", clientTgz], app);
  const installed = JSON.parse(readFileSync(join(app, "node_modules/@tidemq/client/package.json"), "utf8"));
  assert.deepEqual(installed.dependencies ?? {}, {});

  const recipe = readmeRecipe("quick-start");
  assert.equal(recipe.lang, "ts");
  assert.match(recipe.code, /127\.0\.0\.1:9876/);
  writeFileSync(join(app, "quickstart.ts"), recipe.code.replaceAll("127.0.0.1:9876", nsAddr));
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        // Node's own types from the repository's install (an application brings its own).
        types: ["node"],
        typeRoots: [join(REPO_ROOT, "node_modules/@types")],
        skipLibCheck: false,
        outDir: ".",
      },
      files: ["quickstart.ts"],
    }),
  );
  const tsc = await run(join(REPO_ROOT, "node_modules/.bin/tsc"), ["-p", app], { cwd: app, env });
  assert.equal(tsc.code, 0, `the quick start does not type-check against the packed types:\n${tsc.output}`);

  const qs = start(process.execPath, [join(app, "quickstart.js")], { cwd: app, env });
  try {
    const [, messageId] = await qs.waitFor(/^sent ([0-9A-F]{32}) [0-9A-F]{32}$/m);
    await qs.waitFor(/^OrderPaid paid \{"orderId":42\}$/m);

    // The README's admin examples ("run after the quick start"), by the installed CLI, with
    // NAMESRV_ADDR pointing at the dev cluster as the README says -n defaults to.
    const expected: Record<string, RegExp> = {
      updateTopic: /OrderPaid/,
      clusterList: /^DefaultCluster\s+broker-a\s/m,
      consumerProgress: /^OrderPaid\s+broker-a\s/m,
      queryMsgByKey: new RegExp(`^${messageId}\\s`, "m"), // the quick start's message, by its key
    };
    const commands = shellCommands(readmeRecipe("admin").code);
    assert.deepEqual(
      commands.map((c) => shellWords(c)[3]),
      Object.keys(expected),
      "every admin example has an expectation here",
    );
    for (const line of commands) {
      const words = shellWords(line);
      assert.deepEqual(words.slice(0, 3), ["npx", "tidemq", "admin"], line);
      const r = await run(globalBin, words.slice(2), {
        cwd: tmpdir(),
        env: { ...env, NAMESRV_ADDR: nsAddr },
      });
      assert.equal(r.code, 0, `${line}:\n${r.output}`);
      assert.match(r.output, expected[words[3]!]!, `${line}:\n${r.output}`);
    }
  } finally {
    await qs.stop();
  }
});

test("the packed client and CLI install straight from their directories too", async () => {
  const app = join(dir, "app-from-path");
  await mkdir(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app2", private: true, type: "module" }));
  await npm(["install", "--offline", join(packed, "client")], app);
  const r = await run(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      'import { ConsumeResult } from "@tidemq/client"; console.log(typeof ConsumeResult.SUCCESS, import.meta.resolve("@tidemq/client"));',
    ],
    { cwd: app, env },
  );
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /^object file:\/\/\S+\/dist\/index\.js$/m);

  const prefix = join(dir, "global-from-path");
  await npm(["install", "-g", "--offline", "--prefix", prefix, join(packed, "cli")], dir);
  const help = await run(join(prefix, "bin", "tidemq"), ["admin", "--help"], { cwd: tmpdir(), env });
  assert.equal(help.code, 0, help.output);
  assert.match(help.output, /resetOffsetByTime/);
});
