/**
 * The README's ali-ons and bench recipes, run as written against a NameServer and a broker on
 * ephemeral ports. The only substitutions: the recipes' 127.0.0.1:9876 becomes the test
 * cluster's address and `npx tidemq` the repository's bin (what npx runs in a checkout); the
 * bench producer is stopped by Ctrl-C once the consumer has received some. (The quick start and the admin examples run from the
 * installed packages in packaging.test.ts.)
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { run, start } from "./processes.js";
import { REPO_ROOT, readmeRecipe, shellCommands, shellWords } from "./readme.js";

const TIDEMQ = join(REPO_ROOT, "packages/cli/bin/tidemq.js");
let cluster: TestCluster;
let dir: string;

before(async () => {
  cluster = await startTestCluster("tidemq-recipes-");
  dir = await mkdtemp(join(tmpdir(), "tidemq-recipes-run-"));
});
after(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `npx tidemq a b c` -> [node, bin, a, b, c], the README's NameServer replaced by the test's. */
function tidemqArgs(line: string): string[] {
  const words = shellWords(line.replaceAll("127.0.0.1:9876", cluster.nsAddr));
  assert.deepEqual(words.slice(0, 2), ["npx", "tidemq"], line);
  return [TIDEMQ, ...words.slice(2)];
}

const env = () => ({ ...process.env, NAMESRV_ADDR: cluster.nsAddr, TIDEMQ_LOG_LEVEL: "warn" });

test("README ali-ons recipe: create the topic, then the CommonJS example sends and exits", async () => {
  const [create] = shellCommands(readmeRecipe("alions-topic").code);
  const c = await run(process.execPath, tidemqArgs(create!), { env: env() });
  assert.equal(c.code, 0, c.output);

  const recipe = readmeRecipe("alions");
  assert.equal(recipe.lang, "js");
  const file = join(dir, "alions-example.cjs");
  writeFileSync(file, recipe.code.replaceAll("127.0.0.1:9876", cluster.nsAddr));
  // ali-ons from the repository's devDependencies, as an application's node_modules would give it.
  const r = await run(process.execPath, [file], {
    cwd: dir,
    env: { ...env(), NODE_PATH: join(REPO_ROOT, "node_modules") },
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, `the ali-ons example failed:\n${r.output}`);
  assert.match(r.output, /^sent [0-9A-F]{32} SEND_OK$/m);
});

test("README bench recipe: the consumer waits for the topic, then reads what the producer sends", async () => {
  const [consumerLine, producerLine, ...rest] = shellCommands(readmeRecipe("bench").code);
  assert.equal(rest.length, 0);
  assert.match(consumerLine!, /bench consumer/);
  assert.match(producerLine!, /bench producer .*-d 30/);
  const consumer = start(process.execPath, tidemqArgs(consumerLine!), { env: env() });
  let producer: ReturnType<typeof start> | undefined;
  try {
    await consumer.waitFor(/waiting for topic BenchmarkTest to exist…/);
    // The producer runs as written (30 s) until the consumer has received some: the consumer
    // starts at the last offset once it sees the topic, which on a loaded machine can be after a
    // short fixed-length producer run has ended, leaving it nothing to read.
    producer = start(process.execPath, tidemqArgs(producerLine!), { env: env() });
    await consumer.waitFor(/new group bench_c: starts at the last offset/, 60_000);
    // Consumed while the producer runs: at least one period line with a non-zero total.
    await consumer.waitFor(/Total: [1-9][\d,]*$/m, 60_000);
    process.kill(producer.child.pid!, "SIGINT");
    assert.equal(await producer.exited, 0, producer.output());
    const sent = Number(/sent ([\d,]+) of/.exec(producer.output())?.[1]?.replaceAll(",", ""));
    assert.ok(sent > 0, producer.output());
    // Ctrl-C, as the README says, ends it with a summary.
    process.kill(consumer.child.pid!, "SIGINT");
    assert.equal(await consumer.exited, 0, consumer.output());
    const received = Number(/received ([\d,]+) \(/.exec(consumer.output())?.[1]?.replaceAll(",", ""));
    assert.ok(received > 0 && received <= sent, consumer.output());
  } finally {
    await producer?.stop();
    await consumer.stop();
  }

  // The same command again: the group has committed offsets, and the consumer says so.
  const again = start(process.execPath, tidemqArgs(consumerLine!), { env: env() });
  try {
    await again.waitFor(/group bench_c has committed offsets: resumes from them, [\d,]+ messages behind/);
  } finally {
    await again.stop();
  }
});
