// Runs every transcript under test/testdata (see datadriven.ts for the format).
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runFile } from "./datadriven.js";
import { InteractionEnv } from "./interactionEnv.js";

// Compiled to dist/test; the transcripts stay in the source tree (so RAFT_REWRITE=1 edits them).
const dir = fileURLToPath(new URL("../../test/testdata/", import.meta.url));

for (const name of readdirSync(dir)
  .filter((f) => f.endsWith(".txt"))
  .sort()) {
  test(`transcript ${name}`, () => {
    const env = new InteractionEnv();
    runFile(dir + name, (c) => env.handle(c));
  });
}
